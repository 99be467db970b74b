"""CloudAPIBackend over real HTTP: the documented payload, the error table, unknown outcome, no retries."""

import logging
import socket
import threading

import pytest

from whatsapp.backends.base import SendResult
from whatsapp.backends.cloud import CloudAPIBackend
from whatsapp.errors import ErrorKind, WhatsAppError

SPRING_SALE = [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "Lisbon"}]}]


def test_send_posts_the_documented_template_payload_and_returns_the_wamid(sandbox, cloud_backend):
    server = sandbox()
    backend = cloud_backend(server)
    result = backend.send_template("+14155550123", "spring_sale", "en_US", SPRING_SALE, tracker="recipient:42")
    assert isinstance(result, SendResult)
    assert result.message_id.startswith("wamid.")
    assert result.message_status == "accepted"
    (accepted,) = server.accepted
    assert accepted == {"to": "14155550123", "template": "spring_sale", "tracker": "recipient:42",
                        "message_id": result.message_id}  # fmt: skip


def test_the_session_pool_is_as_large_as_the_send_threads(sandbox, cloud_backend):
    backend = cloud_backend(sandbox(), WHATSAPP_SEND_THREADS=32)
    adapter = backend.session.get_adapter("http://127.0.0.1/")
    assert adapter._pool_maxsize >= 32
    assert adapter.max_retries.total == 0
    assert backend.session is backend.session  # one per process


def test_many_threads_share_one_backend(sandbox, cloud_backend):
    server = sandbox()
    backend = cloud_backend(server)
    results, errors = [], []

    def send(n):
        try:
            results.append(backend.send_template(f"+1415555{n:04d}", "hello_world", "en_US", []))
        except WhatsAppError as exc:  # pragma: no cover (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({r.message_id for r in results}) == 40 == len(server.accepted)


def test_bad_payload_is_a_real_shaped_400_with_code_100(sandbox, cloud_backend):
    backend = cloud_backend(sandbox())
    with pytest.raises(WhatsAppError) as caught:
        backend.send_template("not a phone", "hello_world", "en_US", [])
    error = caught.value
    assert (error.http_status, error.code, error.kind) == (400, 100, ErrorKind.PERMANENT)
    assert "to" in error.details
    assert error.reason.startswith("Error 100: ")


def test_missing_token_is_code_190_and_stops_the_campaign(sandbox, cloud_backend):
    backend = cloud_backend(sandbox(), WHATSAPP_ACCESS_TOKEN="")
    with pytest.raises(WhatsAppError) as caught:
        backend.send_template("+14155550123", "hello_world", "en_US", [])
    assert (caught.value.http_status, caught.value.code, caught.value.kind) == (401, 190, ErrorKind.STOP_CAMPAIGN)


def test_over_the_rate_limit_is_130429_transient(sandbox, cloud_backend):
    backend = cloud_backend(sandbox(rate_limit_mps=2))
    backend.send_template("+14155550123", "hello_world", "en_US", [])
    backend.send_template("+14155550124", "hello_world", "en_US", [])
    with pytest.raises(WhatsAppError) as caught:
        backend.send_template("+14155550125", "hello_world", "en_US", [])
    assert (caught.value.http_status, caught.value.code, caught.value.kind) == (429, 130429, ErrorKind.TRANSIENT)


def test_synchronous_errors_are_classified_by_code_and_never_retried(sandbox, cloud_backend):
    server = sandbox(fail_rate=1.0, seed=7)
    backend = cloud_backend(server)
    seen = {}
    for n in range(60):
        try:
            backend.send_template(f"+1415555{n:04d}", "hello_world", "en_US", [])
        except WhatsAppError as exc:
            seen[exc.code] = (exc.http_status, exc.kind)
    assert seen == {
        131000: (500, ErrorKind.TRANSIENT),
        131056: (400, ErrorKind.TRANSIENT),
        131026: (400, ErrorKind.PERMANENT),
    }
    # one request per call: the client never retried (refused at send time + accepted = calls)
    assert len(server.refused) + len(server.accepted) == 60


def test_read_timeout_is_unknown_outcome_and_the_message_still_goes_out(sandbox, cloud_backend):
    server = sandbox(timeout_rate=1.0, hang_seconds=10)
    backend = cloud_backend(server, WHATSAPP_READ_TIMEOUT=0.3)
    with pytest.raises(WhatsAppError) as caught:
        backend.send_template("+14155550123", "hello_world", "en_US", [], tracker="recipient:7")
    assert caught.value.kind == ErrorKind.UNKNOWN_OUTCOME
    assert len(server.accepted) == 1  # it was accepted: resending would deliver it twice


def test_connection_refused_is_transient(cloud_backend):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = cloud_backend(f"http://127.0.0.1:{port}")
    with pytest.raises(WhatsAppError) as caught:
        backend.send_template("+14155550123", "hello_world", "en_US", [])
    assert caught.value.kind == ErrorKind.TRANSIENT


class RawServer:
    """One-shot TCP server: reads a request, then answers `reply` (or resets the connection when None)."""

    def __init__(self, reply: bytes | None):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.received = threading.Event()
        self.thread = threading.Thread(target=self.serve, args=(reply,), daemon=True)
        self.thread.start()

    def serve(self, reply):
        conn, _ = self.sock.accept()
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        self.received.set()
        if reply is None:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        else:
            conn.sendall(reply)
        conn.close()
        self.sock.close()


def test_connection_reset_after_sending_is_unknown_outcome(cloud_backend):
    server = RawServer(reply=None)
    backend = cloud_backend(server.url)
    with pytest.raises(WhatsAppError) as caught:
        backend.send_template("+14155550123", "hello_world", "en_US", [])
    assert server.received.is_set()
    assert caught.value.kind == ErrorKind.UNKNOWN_OUTCOME


def test_5xx_without_a_whatsapp_error_body_is_transient(cloud_backend):
    html = b"<html>Bad gateway</html>"
    server = RawServer(b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s" % (
        len(html), html))  # fmt: skip
    backend = cloud_backend(server.url)
    with pytest.raises(WhatsAppError) as caught:
        backend.send_template("+14155550123", "hello_world", "en_US", [])
    assert (caught.value.http_status, caught.value.code, caught.value.kind) == (502, None, ErrorKind.TRANSIENT)


def test_the_token_is_never_logged(sandbox, cloud_backend, caplog, settings):
    backend = cloud_backend(sandbox(access_token=None), WHATSAPP_ACCESS_TOKEN="secret-token-abcdef")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(WhatsAppError) as caught:
        backend.send_template("+14155550123", "hello_world", "en_US", [{"type": "body", "parameters": [{}]}])
    backend.send_template("+14155550123", "hello_world", "en_US", [])
    assert "secret-token-abcdef" not in caplog.text
    assert "secret-token-abcdef" not in repr(caught.value) + str(caught.value)


def test_list_templates_follows_paging_next(sandbox, cloud_backend):
    backend = cloud_backend(sandbox(templates_page_size=2))
    templates = backend.list_templates()
    assert [t["name"] for t in templates] == [
        "hello_world", "spring_sale", "new_collection", "order_update", "winter_promo", "spring_sale_link"]  # fmt: skip


def test_paging_next_to_another_host_is_refused(cloud_backend, monkeypatch):
    backend = cloud_backend("http://127.0.0.1:9")
    pages = iter([{"data": [{"name": "a"}], "paging": {"next": "http://evil.example/next"}}])
    monkeypatch.setattr(CloudAPIBackend, "_request", lambda self, method, url, **kw: next(pages))
    with pytest.raises(WhatsAppError, match="another host"):
        backend.list_templates()
