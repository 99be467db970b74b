"""Normalise a webhook body into events: every `entry[].changes[].value` (docs/architecture.md, the webhook flow).

Real bodies carry many entries, changes and statuses, and omit what does not
apply; a piece without the fields an event needs is skipped (the raw body is
kept in WebhookEvent either way), never a reason to refuse the whole POST.

Timestamps and codes are data, never trusted: a time outside a sane range
becomes the receipt time and the event says so in `notes`, which end up on
the stored WebhookEvent.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta

from whatsapp.errors import WebhookValidationError
from whatsapp.events import (
    AccountEvent,
    ErrorInfo,
    LimitEvent,
    MessageEvent,
    PlatformEvent,
    PreferenceEvent,
    Pricing,
    Restriction,
    StatusEvent,
    TemplateCategoryEvent,
    TemplateQualityEvent,
    TemplateStatusEvent,
)

logger = logging.getLogger(__name__)

Event = StatusEvent | MessageEvent | PreferenceEvent | PlatformEvent


# No Cloud API webhook predates the API itself (opened in 2022): anything earlier is not a real time.
EARLIEST = datetime(2020, 1, 1, tzinfo=UTC)
# Clocks differ by seconds, not hours: later than this after we received it, a time is not a real one either.
MAX_AHEAD = timedelta(hours=1)


def parse_timestamp(raw, received_at: datetime) -> tuple[datetime, str]:
    """A WhatsApp timestamp (Unix seconds, as a string or a number) and a note when it was not taken as sent.

    Absent: the receipt time, no note. Unreadable, before EARLIEST or more than
    MAX_AHEAD after receipt (99999999999 is the year 5138, -5 is 1969): the
    receipt time, with a note saying what came. A status's lower bound (its
    send) is applied where the recipient is known, in campaigns/lifecycle.py.
    """
    if raw is None or raw == "":
        return received_at, ""
    try:
        moment = datetime.fromtimestamp(int(raw), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return received_at, f"timestamp {str(raw)[:40]!r} is not Unix seconds: the receipt time is used"
    if moment < EARLIEST or moment > received_at + MAX_AHEAD:
        return (
            received_at,
            f"timestamp {str(raw)[:40]} ({moment:%Y-%m-%d %H:%M} UTC) is out of range: receipt time used",
        )
    return moment, ""


# Meta's deepest bodies nest about a dozen levels (entry, changes, value, statuses, errors, error_data); 64 is far
# above that and far below Python's recursion limit, which json.loads would hit on 100,000 "[" (RecursionError).
MAX_DEPTH = 64
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_STRING = re.compile(rb'"[^"]*"')
_BRACKET = re.compile(rb"[\[\]{}]")


def json_depth_exceeds(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the body's brackets nest deeper than `limit`, found without parsing it.

    Escapes go first, so every remaining quote opens or closes a string and
    strings drop out without backtracking; what is left is counted, stopping
    at the first level over the limit. Linear in the body's size.
    """
    depth = 0
    for bracket in _BRACKET.finditer(_STRING.sub(b"", _ESCAPE.sub(b"", body))):
        if bracket.group() in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def load_payload(body: bytes) -> dict:
    """The body as a JSON object, or WebhookValidationError (400): nesting is bounded before parsing."""
    if json_depth_exceeds(body):
        raise WebhookValidationError(f"body nests deeper than {MAX_DEPTH} levels", status=400)
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WebhookValidationError(f"body is not JSON: {str(exc)[:200]}", status=400) from exc
    if not isinstance(payload, dict):
        raise WebhookValidationError("body is not a JSON object", status=400)
    return payload


def _dicts(value) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def parse_events(payload: dict, *, received_at: datetime) -> list[Event]:
    events: list[Event] = []
    if not isinstance(payload, dict):
        return events
    for entry in _dicts(payload.get("entry")):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if not isinstance(value, dict):
                continue
            platform = PLATFORM_FIELDS.get(change.get("field")) if isinstance(change.get("field"), str) else None
            if platform is not None:
                event = platform(value, entry, received_at)
                if event is not None:
                    events.append(event)
            else:
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
    timestamp, note = parse_timestamp(status.get("timestamp"), received_at)
    notes = [note] if note else []
    notes += [
        f"error code {error.raw_code!r} is not a WhatsApp code: kept as text, classified permanent"
        for error in errors
        if error.raw_code
    ]
    return StatusEvent(
        message_id=str(message_id),
        status=str(state),
        timestamp=timestamp,
        recipient=str(status.get("recipient_id") or ""),
        tracker=str(tracker) if tracker else None,
        errors=errors,
        raw=status,
        phone_number_id=phone_number_id,
        conversation=status.get("conversation") if isinstance(status.get("conversation"), dict) else None,
        pricing=Pricing.from_raw(status.get("pricing")),
        notes=tuple(f"status {state} of {str(message_id)[:80]}: {note}" for note in notes),
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
    timestamp, note = parse_timestamp(message.get("timestamp"), received_at)
    return MessageEvent(
        message_id=str(message_id),
        sender=sender,
        timestamp=timestamp,
        type=kind,
        text=text,
        payload=payload,
        user_id=user_id,
        profile_name=str(profile.get("name") or ""),
        context_message_id=str(context.get("id") or ""),
        raw=message,
        phone_number_id=phone_number_id,
        notes=(f"message {str(message_id)[:80]}: {note}",) if note else (),
    )


def parse_preference(preference: dict, phone_number_id: str, received_at) -> PreferenceEvent | None:
    wa_id = str(preference.get("wa_id") or "")
    user_id = str(preference.get("user_id") or "")
    if not (wa_id or user_id) or not preference.get("value"):
        logger.warning("whatsapp webhook: user_preferences without wa_id or value skipped: %s", sorted(preference))
        return None
    timestamp, note = parse_timestamp(preference.get("timestamp"), received_at)
    return PreferenceEvent(
        wa_id=wa_id,
        category=str(preference.get("category") or ""),
        value=str(preference["value"]),
        timestamp=timestamp,
        detail=str(preference.get("detail") or ""),
        user_id=user_id,
        raw=preference,
        phone_number_id=phone_number_id,
        notes=(f"user_preferences of {wa_id or user_id}: {note}",) if note else (),
    )


# --- Platform fields (docs/architecture.md, "Platform events") ------------------------------------------
# Checked against Meta's webhook references (developers.facebook.com/documentation/business-messaging/whatsapp/
# webhooks/reference/<field>): a value is read only when it is a scalar, cut to a sane length and upper-cased
# where Meta's values are names; anything else is left out with a note, never a refusal of the body.

TEXT_MAX = 500


def _text(value, limit: int = TEXT_MAX) -> str:
    """A scalar as text (cut to `limit`); "" for absent, objects, lists and booleans."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return ""
    return str(value).strip()[:limit]


def _name(value) -> str:
    """A Meta enum value (event, tier, score, category): upper-cased text, at most 60 characters."""
    return _text(value, 60).upper()


def _entry_time(entry: dict, received_at: datetime) -> tuple[datetime, tuple[str, ...]]:
    moment, note = parse_timestamp(entry.get("time"), received_at)
    return moment, ((f"entry time: {note}",) if note else ())


def _template_ids(value: dict) -> tuple[str, str, str]:
    return (
        _text(value.get("message_template_id"), 64),
        _text(value.get("message_template_name"), 512),
        _text(value.get("message_template_language"), 20),
    )


def parse_template_status(value: dict, entry: dict, received_at: datetime) -> TemplateStatusEvent | None:
    template_id, name, language = _template_ids(value)
    event = _name(value.get("event"))
    if not event or not (template_id or (name and language)):
        logger.warning("whatsapp webhook: template status without event or template skipped: %s", sorted(value))
        return None
    other = value.get("other_info") if isinstance(value.get("other_info"), dict) else {}
    disable = value.get("disable_info") if isinstance(value.get("disable_info"), dict) else {}
    timestamp, notes = _entry_time(entry, received_at)
    return TemplateStatusEvent(
        event=event,
        template_id=template_id,
        template_name=name,
        template_language=language,
        reason=_text(value.get("reason")),
        category=_name(value.get("message_template_category")),
        title=_name(other.get("title")),
        description=_text(other.get("description")),
        disable_date=_text(disable.get("disable_date"), 40),
        timestamp=timestamp,
        raw=value,
        notes=notes,
    )


def parse_template_quality(value: dict, entry: dict, received_at: datetime) -> TemplateQualityEvent | None:
    template_id, name, language = _template_ids(value)
    new = _name(value.get("new_quality_score"))
    if not new or not (template_id or (name and language)):
        logger.warning("whatsapp webhook: template quality without score or template skipped: %s", sorted(value))
        return None
    timestamp, notes = _entry_time(entry, received_at)
    return TemplateQualityEvent(
        template_id=template_id,
        template_name=name,
        template_language=language,
        previous=_name(value.get("previous_quality_score")),
        new=new,
        timestamp=timestamp,
        raw=value,
        notes=notes,
    )


def parse_template_category(value: dict, entry: dict, received_at: datetime) -> TemplateCategoryEvent | None:
    template_id, name, language = _template_ids(value)
    new, correct = _name(value.get("new_category")), _name(value.get("correct_category"))
    if not (new or correct) or not (template_id or (name and language)):
        logger.warning("whatsapp webhook: template category without category or template skipped: %s", sorted(value))
        return None
    timestamp, notes = _entry_time(entry, received_at)
    return TemplateCategoryEvent(
        template_id=template_id,
        template_name=name,
        template_language=language,
        previous=_name(value.get("previous_category")),
        new=new,
        correct=correct,
        timestamp=timestamp,
        raw=value,
        notes=notes,
    )


def parse_moment(raw) -> datetime | None:
    """A restriction's expiration: ISO 8601 ("2026-04-19T13:59:20+0000") or Unix seconds; None when unreadable."""
    text = _text(raw, 40)
    if not text:
        return None
    moment = None
    if text.lstrip("-").isdigit():
        try:
            moment = datetime.fromtimestamp(int(text), tz=UTC)
        except (ValueError, OverflowError, OSError):
            return None
    else:
        for pattern in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z"):
            try:
                moment = datetime.strptime(text.replace("Z", "+0000"), pattern)
                break
            except ValueError:
                continue
    if moment is None or moment.tzinfo is None or not (EARLIEST <= moment <= datetime(2100, 1, 1, tzinfo=UTC)):
        return None
    return moment.astimezone(UTC)


def parse_account(value: dict, entry: dict, received_at: datetime) -> AccountEvent | None:
    event = _name(value.get("event"))
    if not event:
        logger.warning("whatsapp webhook: account_update without event skipped: %s", sorted(value))
        return None
    timestamp, notes = _entry_time(entry, received_at)
    raw_restrictions = value.get("restriction_info")
    if isinstance(raw_restrictions, dict):  # one restriction sent as an object rather than a list
        raw_restrictions = [raw_restrictions]
    restrictions = []
    for item in _dicts(raw_restrictions):
        expiration = parse_moment(item.get("expiration"))
        if item.get("expiration") not in (None, "") and expiration is None:
            notes += (f"restriction expiration {_text(item.get('expiration'), 40)!r} unreadable: until lifted",)
        restrictions.append(Restriction(type=_name(item.get("restriction_type")) or "UNKNOWN", expiration=expiration))
    violation = value.get("violation_info") if isinstance(value.get("violation_info"), dict) else {}
    ban = value.get("ban_info") if isinstance(value.get("ban_info"), dict) else {}
    return AccountEvent(
        event=event,
        restrictions=tuple(restrictions),
        violation_type=_name(violation.get("violation_type")),
        ban_state=_name(ban.get("waba_ban_state")),
        ban_date=_text(ban.get("waba_ban_date"), 60),
        account_id=_text(entry.get("id"), 64),
        timestamp=timestamp,
        raw=value,
        notes=notes,
    )


def parse_capability(value: dict, entry: dict, received_at: datetime) -> LimitEvent | None:
    """business_capability_update: max_daily_conversations_per_business (250, 2000, ..., -1: unlimited).

    max_daily_conversation_per_phone is read only when the newer field is
    absent (Meta removes it from February 2026, webhooks before v24.0).
    """
    from whatsapp.tiers import tier_from

    raw = value.get("max_daily_conversations_per_business")
    if raw is None:
        raw = value.get("max_daily_conversation_per_phone")
    if raw is None:
        return None  # a capability change that is not about the messaging limit (phone numbers per portfolio)
    tier = tier_from(raw)
    timestamp, notes = _entry_time(entry, received_at)
    if not tier:
        notes += (f"messaging limit {_text(raw, 40)!r} is not a tier we know: kept, not applied",)
    return LimitEvent(
        field_name="business_capability_update",
        tier=tier,
        raw_limit=_text(raw, 40),
        account_id=_text(entry.get("id"), 64),
        timestamp=timestamp,
        raw=value,
        notes=notes,
    )


def parse_phone_quality(value: dict, entry: dict, received_at: datetime) -> LimitEvent | None:
    """phone_number_quality_update: event, old_limit, current_limit (legacy), max_daily_conversations_per_business."""
    from whatsapp.tiers import tier_from

    raw = value.get("max_daily_conversations_per_business")
    if raw is None:
        raw = value.get("current_limit")
    event = _name(value.get("event"))
    if raw is None and not event:
        logger.warning("whatsapp webhook: phone_number_quality_update without event or limit: %s", sorted(value))
        return None
    tier = tier_from(raw) if raw is not None else ""
    timestamp, notes = _entry_time(entry, received_at)
    if raw is not None and not tier:
        notes += (f"messaging limit {_text(raw, 40)!r} is not a tier we know: kept, not applied",)
    return LimitEvent(
        field_name="phone_number_quality_update",
        tier=tier,
        raw_limit=_text(raw, 40),
        event=event,
        old_tier=tier_from(value.get("old_limit")) if value.get("old_limit") is not None else "",
        display_phone_number=_text(value.get("display_phone_number"), 30),
        account_id=_text(entry.get("id"), 64),
        timestamp=timestamp,
        raw=value,
        notes=notes,
    )


PLATFORM_FIELDS = {
    "message_template_status_update": parse_template_status,
    "message_template_quality_update": parse_template_quality,
    "template_category_update": parse_template_category,
    "account_update": parse_account,
    "business_capability_update": parse_capability,
    "phone_number_quality_update": parse_phone_quality,
}
