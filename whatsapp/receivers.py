"""What the whatsapp app itself does with webhook events: opt-outs, opt-ins, last inbound time.

Connected in WhatsAppConfig.ready(). Every receiver is idempotent: Meta
retries and the admin replays the same body.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db.models import Q
from django.dispatch import receiver

from whatsapp import keywords
from whatsapp.errors import OPT_OUT_CODES
from whatsapp.events import MessageEvent, PreferenceEvent, StatusEvent
from whatsapp.services import last_inbound_record
from whatsapp.signals import message_received, preference_changed, statuses_received

logger = logging.getLogger(__name__)

# audiences.Contact.SubscriptionReason values (the whatsapp app does not import audiences at load time).
REASON_KEYWORD = "keyword"
REASON_API_ERROR_131050 = "api_error_131050"
REASON_USER_PREFERENCES = "user_preferences"


def keyword_intent(event: MessageEvent) -> str | None:
    """'stop' / 'start' when the whole message (or button) is an opt-out / opt-in keyword (whatsapp/keywords.py)."""
    return keywords.keyword_intent(event.text, event.payload)


def _phone(raw: str) -> str | None:
    from audiences.phones import InvalidPhoneNumber, normalize_phone

    if not raw:
        return None
    try:
        return normalize_phone(raw if raw.startswith("+") else f"+{raw}")
    except InvalidPhoneNumber as exc:
        logger.warning("whatsapp: ignoring an event for an invalid phone %r: %s", raw, exc)
        return None


def _unsubscribe(raw_phone: str, reason: str, at: datetime) -> None:
    from audiences.services import contact_unsubscribe

    phone = _phone(raw_phone)
    if phone and contact_unsubscribe(phone=phone, reason=reason, at=at):
        logger.info("whatsapp: %s unsubscribed (%s)", phone, reason)


def _resubscribe(raw_phone: str, reason: str, at: datetime) -> None:
    from audiences.services import contact_resubscribe

    phone = _phone(raw_phone)
    if phone and contact_resubscribe(phone=phone, reason=reason, at=at):
        logger.info("whatsapp: %s resubscribed (%s)", phone, reason)


@receiver(message_received, dispatch_uid="whatsapp.receivers.inbound_message")
def inbound_message(sender, event: MessageEvent, **kwargs) -> None:
    """Remember when the contact last wrote, and act on STOP/START keywords and the opt-out button."""
    from audiences.models import Contact

    phone = _phone(event.sender)
    if phone is None:
        return
    # Only ever forward in time, so a replayed or late message changes nothing.
    Contact.objects.filter(phone=phone).filter(
        Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=event.timestamp)
    ).update(last_inbound_at=event.timestamp)
    last_inbound_record(phone=phone, at=event.timestamp)  # the customer-service window (campaigns/quota.py)
    intent = keyword_intent(event)
    if intent == "stop":
        _unsubscribe(event.sender, REASON_KEYWORD, event.timestamp)
    elif intent == "start":
        _resubscribe(event.sender, REASON_KEYWORD, event.timestamp)


@receiver(statuses_received, dispatch_uid="whatsapp.receivers.failed_with_opt_out")
def failed_with_opt_out(sender, events: list[StatusEvent], **kwargs) -> None:
    """Error 131050 (the user stopped marketing messages) is an opt-out."""
    for event in events:
        if event.status == "failed" and any(error.code in OPT_OUT_CODES for error in event.errors):
            _unsubscribe(event.recipient, REASON_API_ERROR_131050, event.timestamp)


@receiver(preference_changed, dispatch_uid="whatsapp.receivers.marketing_preference")
def marketing_preference(sender, event: PreferenceEvent, **kwargs) -> None:
    if event.category and event.category != "marketing_messages":
        return
    if event.is_stop:
        _unsubscribe(event.wa_id, REASON_USER_PREFERENCES, event.timestamp)
    elif event.is_resume:
        _resubscribe(event.wa_id, REASON_USER_PREFERENCES, event.timestamp)
