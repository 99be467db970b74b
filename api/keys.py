"""API keys: made, found and revoked here only (the admin and `create_api_key` call these)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from django.db import transaction

from api.models import ApiKey

KEY_PREFIX = "wcm_"  # says what the secret is when one leaks into a log or a repository
PREFIX_LENGTH = 12  # characters of the key kept in clear to find its row (KEY_PREFIX included)


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_key_create(*, user, name: str) -> tuple[ApiKey, str]:
    """A new key for `user`; returns the row and the key itself, which is never stored and never shown again."""
    while True:
        raw = KEY_PREFIX + secrets.token_urlsafe(32)
        prefix = raw[:PREFIX_LENGTH]
        if not ApiKey.objects.filter(prefix=prefix).exists():
            break
    with transaction.atomic():
        key = ApiKey.objects.create(user=user, name=name, prefix=prefix, hashed=_hash(raw))
    return key, raw


def api_key_revoke(*, key: ApiKey, now: dt.datetime) -> bool:
    """Revoke a key from now on; True if this call revoked it (a revoked key stays revoked)."""
    changed = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=now)
    key.refresh_from_db()
    return bool(changed)


def api_key_find(*, raw: str) -> ApiKey | None:
    """The active key whose hash matches `raw` (compared in constant time), or None."""
    if not raw.startswith(KEY_PREFIX) or len(raw) <= PREFIX_LENGTH:
        return None
    key = ApiKey.objects.select_related("user").filter(prefix=raw[:PREFIX_LENGTH]).first()
    if key is None or not hmac.compare_digest(key.hashed, _hash(raw)):
        return None
    if key.revoked_at is not None or not key.user.is_active:
        return None
    return key


def api_key_touch(*, key: ApiKey, now: dt.datetime) -> None:
    """Record when the key was last used, at most once a minute (no write per request)."""
    if key.last_used_at is None or now - key.last_used_at > dt.timedelta(minutes=1):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
