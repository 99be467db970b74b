"""Standard Webhooks signatures (https://www.standardwebhooks.com/, spec 1.0, symmetric `v1`).

The signed content is `{webhook-id}.{webhook-timestamp}.{body}`: HMAC-SHA256
with the key that is the base64 after the secret's `whsec_` prefix, sent as
`webhook-signature: v1,<base64>`. `verify` is what a receiver runs (the
README shows the same steps); the tests use it as a receiver would.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"
TOLERANCE_SECONDS = 5 * 60  # the spec's replay window: older or newer timestamps are refused


class InvalidSignature(ValueError):
    """A delivery that is not ours, altered, or outside the timestamp tolerance (a replay)."""


def secret_generate() -> str:
    """A new endpoint secret: `whsec_` + base64 of 32 random bytes (the spec asks 24 to 64)."""
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def sign(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one attempt."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt (the timestamp is the attempt's, not the event's)."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret=secret, msg_id=msg_id, timestamp=timestamp, body=body),
    }


def verify(*, secret: str, headers: dict[str, str], body: bytes, now: float) -> None:
    """A receiver's check: raise InvalidSignature unless one `v1` signature matches and the timestamp is recent."""
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        msg_id, timestamp, signatures = lower["webhook-id"], int(lower["webhook-timestamp"]), lower["webhook-signature"]
    except (KeyError, ValueError) as exc:
        raise InvalidSignature("missing or unreadable webhook-* headers") from exc
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise InvalidSignature("timestamp outside the tolerance (a replay?)")
    expected = sign(secret=secret, msg_id=msg_id, timestamp=timestamp, body=body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures.split()):
        raise InvalidSignature("no signature matches")
