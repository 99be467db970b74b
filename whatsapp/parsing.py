"""Normalise a webhook body into events: every `entry[].changes[].value` (DESIGN.md flow 3).

Real bodies carry many entries, changes and statuses, and omit what does not
apply; a piece without the fields an event needs is skipped (the raw body is
kept in WebhookEvent either way), never a reason to refuse the whole POST.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from whatsapp.events import ErrorInfo, MessageEvent, PreferenceEvent, StatusEvent

logger = logging.getLogger(__name__)

Event = StatusEvent | MessageEvent | PreferenceEvent


def parse_timestamp(raw, default: datetime) -> datetime:
    """WhatsApp timestamps are Unix seconds, as a string or a number."""
    try:
        return datetime.fromtimestamp(int(raw), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return default


def _dicts(value) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def parse_events(payload: dict, *, received_at: datetime) -> list[Event]:
    events: list[Event] = []
    if not isinstance(payload, dict):
        return events
    for entry in _dicts(payload.get("entry")):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if isinstance(value, dict):
                events.extend(parse_value(value, received_at=received_at))
    return events


def parse_value(value: dict, *, received_at: datetime) -> list[Event]:
    metadata = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
    phone_number_id = str(metadata.get("phone_number_id") or "")
    shared_errors = [ErrorInfo.from_raw(error) for error in _dicts(value.get("errors"))]
    contacts = _dicts(value.get("contacts"))
    events: list[Event] = []
    for status in _dicts(value.get("statuses")):
        event = parse_status(status, phone_number_id, shared_errors, received_at)
        if event is not None:
            events.append(event)
    for message in _dicts(value.get("messages")):
        event = parse_message(message, phone_number_id, contacts, received_at)
        if event is not None:
            events.append(event)
    for preference in _dicts(value.get("user_preferences")):
        event = parse_preference(preference, phone_number_id, received_at)
        if event is not None:
            events.append(event)
    return events


def parse_status(status: dict, phone_number_id: str, shared_errors: list[ErrorInfo], received_at) -> StatusEvent | None:
    message_id, state = status.get("id"), status.get("status")
    if not message_id or not state:
        logger.warning("whatsapp webhook: status without id or status skipped: %s", sorted(status))
        return None
    errors = [ErrorInfo.from_raw(error) for error in _dicts(status.get("errors"))]
    if not errors and str(state) == "failed":
        errors = list(shared_errors)
    tracker = status.get("biz_opaque_callback_data")
    return StatusEvent(
        message_id=str(message_id),
        status=str(state),
        timestamp=parse_timestamp(status.get("timestamp"), received_at),
        recipient=str(status.get("recipient_id") or ""),
        tracker=str(tracker) if tracker else None,
        errors=errors,
        raw=status,
        phone_number_id=phone_number_id,
        conversation=status.get("conversation") if isinstance(status.get("conversation"), dict) else None,
        pricing=status.get("pricing") if isinstance(status.get("pricing"), dict) else None,
    )


def parse_message(message: dict, phone_number_id: str, contacts: list[dict], received_at) -> MessageEvent | None:
    message_id = message.get("id")
    sender = str(message.get("from") or "")
    user_id = str(message.get("from_user_id") or message.get("user_id") or "")
    if not message_id or not (sender or user_id):
        logger.warning("whatsapp webhook: message without id or sender skipped: %s", sorted(message))
        return None
    contact = next(
        (c for c in contacts if (sender and c.get("wa_id") == sender) or (user_id and c.get("user_id") == user_id)),
        contacts[0] if len(contacts) == 1 else {},
    )
    if not user_id:
        user_id = str(contact.get("user_id") or "")
    profile = contact.get("profile") if isinstance(contact.get("profile"), dict) else {}
    kind = str(message.get("type") or "")
    text, payload = "", ""
    if kind == "text" and isinstance(message.get("text"), dict):
        text = str(message["text"].get("body") or "")
    elif kind == "button" and isinstance(message.get("button"), dict):
        text = str(message["button"].get("text") or "")
        payload = str(message["button"].get("payload") or "")
    elif kind == "interactive" and isinstance(message.get("interactive"), dict):
        interactive = message["interactive"]
        reply = interactive.get(interactive.get("type") or "") or interactive.get("button_reply") or {}
        if isinstance(reply, dict):
            text = str(reply.get("title") or "")
            payload = str(reply.get("id") or "")
    context = message.get("context") if isinstance(message.get("context"), dict) else {}
    return MessageEvent(
        message_id=str(message_id),
        sender=sender,
        timestamp=parse_timestamp(message.get("timestamp"), received_at),
        type=kind,
        text=text,
        payload=payload,
        user_id=user_id,
        profile_name=str(profile.get("name") or ""),
        context_message_id=str(context.get("id") or ""),
        raw=message,
        phone_number_id=phone_number_id,
    )


def parse_preference(preference: dict, phone_number_id: str, received_at) -> PreferenceEvent | None:
    wa_id = str(preference.get("wa_id") or "")
    user_id = str(preference.get("user_id") or "")
    if not (wa_id or user_id) or not preference.get("value"):
        logger.warning("whatsapp webhook: user_preferences without wa_id or value skipped: %s", sorted(preference))
        return None
    return PreferenceEvent(
        wa_id=wa_id,
        category=str(preference.get("category") or ""),
        value=str(preference["value"]),
        timestamp=parse_timestamp(preference.get("timestamp"), received_at),
        detail=str(preference.get("detail") or ""),
        user_id=user_id,
        raw=preference,
        phone_number_id=phone_number_id,
    )
