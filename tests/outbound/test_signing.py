"""Signatures as Standard Webhooks defines them, and README's receiver snippet verifying a real delivery."""

import re
import time
from pathlib import Path

import pytest

from outbound.models import Endpoint
from outbound.services import endpoint_ping
from outbound.signing import InvalidSignature, secret_generate, sign, verify
from tests.campaigns.helpers import START

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_signature_matches_the_specifications_own_test_vector():
    # standard-webhooks/standard-webhooks, libraries/python/tests/test_webhooks.py, test_sign_function.
    signature = sign(
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        timestamp=1614265330,
        body=b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_secrets_are_random_whsec_keys_of_32_bytes():
    import base64

    first, second = secret_generate(), secret_generate()
    assert first != second and first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32


def test_a_replayed_or_altered_request_is_refused():
    secret, body = secret_generate(), b'{"type":"ping"}'
    headers = {"webhook-id": "e1", "webhook-timestamp": "1000", "webhook-signature": ""}
    headers["webhook-signature"] = sign(secret=secret, msg_id="e1", timestamp=1000, body=body)
    verify(secret=secret, headers=headers, body=body, now=1000 + 299)
    with pytest.raises(InvalidSignature, match="tolerance"):
        verify(secret=secret, headers=headers, body=body, now=1000 + 301)
    with pytest.raises(InvalidSignature, match="no signature"):
        verify(secret=secret, headers={**headers, "webhook-id": "e2"}, body=body, now=1000)
    with pytest.raises(InvalidSignature, match="no signature"):
        verify(secret=secret_generate(), headers=headers, body=body, now=1000)


def readme_verify():
    """The `verify_webhook` function exactly as README shows it to receivers."""
    [snippet] = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    namespace: dict = {}
    exec(snippet, namespace)  # noqa: S102 (our own README's example)
    return namespace["verify_webhook"]


@pytest.mark.django_db(transaction=True)
def test_readmes_snippet_verifies_a_real_delivery(receiver, deliver_inline):
    verify_webhook = readme_verify()
    hook = Endpoint.objects.create(url=receiver.url, event_types=[])

    endpoint_ping(endpoint=hook, now=START)

    [request] = receiver.wait_for(1)
    verify_webhook(hook.secret, request.headers, request.body)
    with pytest.raises(ValueError, match="bad signature"):
        verify_webhook(hook.secret, request.headers, request.body + b" ")
    old = {**request.headers, "webhook-timestamp": str(int(time.time()) - 600)}
    with pytest.raises(ValueError, match="replay"):
        verify_webhook(hook.secret, old, request.body)
