"""CloudAPIBackend.asend_template over aiohttp: the same payload, answers and error classes as over requests."""

import asyncio
import concurrent.futures
import socket

import pytest

from whatsapp.errors import ErrorKind, WhatsAppError

SPRING_SALE = [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "Lisbon"}]}]


def send(backend, to="+14155550123", **kwargs):
    async def go():
        try:
            return await backend.asend_template(to, "spring_sale", "en_US", SPRING_SALE, tracker="r:1", **kwargs)
        finally:
            await backend.aio_session().close()

    with concurrent.futures.ThreadPoolExecutor(1) as thread:  # its own loop, whatever runs in this thread
        return thread.submit(lambda: asyncio.run(go())).result()


def test_an_accepted_send_posts_the_same_payload_and_returns_the_wamid(sandbox, cloud_backend):
    server = sandbox(other_phone_number_ids=("100000000000009",))
    backend = cloud_backend(server)
    result = send(backend)
    assert result.message_id.startswith("wamid.") and result.message_status == "accepted"
    (accepted,) = server.accepted
    assert accepted == {"to": "14155550123", "template": "spring_sale", "tracker": "r:1",
                        "message_id": result.message_id}  # fmt: skip
    send(backend, sender="100000000000009")  # another number of the account: its own URL
    assert [sender for _, sender, _ in server.arrivals] == ["100000000000001", "100000000000009"]


@pytest.mark.parametrize(
    ("options", "kind", "code"),
    [
        pytest.param({"rate_limit_mps": 0.001}, ErrorKind.TRANSIENT, 130429, id="throughput 130429"),
        pytest.param({"access_token": "other"}, ErrorKind.STOP_CAMPAIGN, 190, id="token 190"),
    ],
)
def test_refusals_are_classified_by_their_code(sandbox, cloud_backend, options, kind, code):
    server = sandbox(**options)
    backend = cloud_backend(server)
    if "rate_limit_mps" in options:
        send(backend)  # the one send the rate allows
    with pytest.raises(WhatsAppError) as refused:
        send(backend)
    assert (refused.value.kind, refused.value.code) == (kind, code)


def test_no_answer_within_the_read_timeout_is_an_unknown_outcome(sandbox, cloud_backend):
    server = sandbox(timeout_rate=1.0, hang_seconds=3)
    backend = cloud_backend(server, WHATSAPP_READ_TIMEOUT=0.5)
    with pytest.raises(WhatsAppError) as unanswered:
        send(backend)
    assert unanswered.value.kind == ErrorKind.UNKNOWN_OUTCOME
    assert len(server.accepted) == 1  # it did go out


def test_a_refused_connection_sent_nothing_and_is_transient(cloud_backend):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = cloud_backend(f"http://127.0.0.1:{port}")
    with pytest.raises(WhatsAppError) as refused:
        send(backend)
    assert refused.value.kind == ErrorKind.TRANSIENT
