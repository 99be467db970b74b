"""What a stored webhook body is about, for the admin: the numbers and message ids in it, and what it carries.

The body is kept raw (Promise 6), so searching it by phone or message id
would read every body. Instead, when a body is stored, `webhook_event_index`
writes its users' numbers (E.164) and message ids as WebhookEventKey rows
(an indexed exact lookup) and a one-line summary in `carries`. Shapes are
data: anything odd is skipped, never an error, and a body that is not JSON
gets no keys. It runs on the first save of a WebhookEvent, whoever stores it.
"""

from __future__ import annotations

import json
import logging
from collections import Counter

from django.db import DatabaseError, transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from whatsapp.models import WebhookEvent, WebhookEventKey

logger = logging.getLogger(__name__)

# Keys under which WhatsApp puts a user's number (without "+"); our own display_phone_number is not one.
PHONE_KEYS = frozenset({"wa_id", "from", "recipient_id"})
MAX_KEY = WebhookEventKey._meta.get_field("value").max_length
MAX_CARRIES = WebhookEvent._meta.get_field("carries").max_length


def body_keys(payload) -> tuple[set[str], str]:
    """(the phone numbers and message ids in a parsed body, a summary of what it carries)."""
    keys: set[str] = set()
    carries: Counter[str] = Counter()
    _walk(payload, keys)
    entries = payload.get("entry") if isinstance(payload, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        for change in changes if isinstance(changes, list) else []:
            if not isinstance(change, dict):
                continue
            value = change.get("value") if isinstance(change.get("value"), dict) else {}
            items = 0
            for status in _dicts(value.get("statuses")):
                carries[str(status.get("status") or "status")] += 1
                items += 1
            for message in _dicts(value.get("messages")):
                carries[f"message ({message.get('type') or '?'})"] += 1
                items += 1
            for _ in _dicts(value.get("user_preferences")):
                carries["user preference"] += 1
                items += 1
            if not items and change.get("field"):
                carries[str(change["field"])] += 1
    summary = ", ".join(name if n == 1 else f"{name} \u00d7{n}" for name, n in carries.items())
    return keys, summary[:MAX_CARRIES]


def _dicts(value) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _walk(node, keys: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str | int) and not isinstance(value, bool):
                text = str(value).strip()
                if key in PHONE_KEYS and text.isdigit() and 5 <= len(text) <= 15:
                    keys.add("+" + text)
                elif key == "id" and text.startswith("wamid.") and len(text) <= MAX_KEY:
                    keys.add(text)
            else:
                _walk(value, keys)
    elif isinstance(node, list):
        for item in node:
            _walk(item, keys)


def webhook_event_index(*, webhook_event: WebhookEvent) -> int:
    """Write the body's keys and `carries` (again, if called twice: nothing doubles); returns how many keys."""
    try:
        payload = json.loads(bytes(webhook_event.body))
    except ValueError:
        return 0
    keys, carries = body_keys(payload)
    WebhookEventKey.objects.bulk_create(
        [WebhookEventKey(webhook_event_id=webhook_event.pk, value=key) for key in sorted(keys)], ignore_conflicts=True
    )
    if carries != webhook_event.carries:
        webhook_event.carries = carries
        WebhookEvent.objects.filter(pk=webhook_event.pk).update(carries=carries)
    return len(keys)


@receiver(post_save, sender=WebhookEvent, dispatch_uid="whatsapp.search.index_new_webhook_event")
def _index_new_webhook_event(sender, instance: WebhookEvent, created: bool, raw: bool = False, **kwargs) -> None:
    if not created or raw:
        return
    try:
        with transaction.atomic():
            webhook_event_index(webhook_event=instance)
    except DatabaseError:
        # The body is stored, which is what matters (Promise 6): it is only missing from the admin's search.
        logger.exception("whatsapp webhook #%s: could not index it for the admin's search", instance.pk)
