"""Test sends: one message to one phone from the admin, kept (TestSend) and followed by its status webhooks.

The status receiver applies the same precedence rule as recipients
(campaigns/lifecycle.py): a status never moves backwards, so duplicated or
out-of-order webhooks change nothing, and each timestamp keeps the earliest
seen.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from audiences.models import Contact
from campaigns.lifecycle import RANK, TIMESTAMPS
from campaigns.links import SAMPLE_TOKEN
from campaigns.models import Campaign, TestSend
from campaigns.quota import quota_lock, quota_phone_free, quota_reserve, quota_usage
from campaigns.rendering import build_components, resolve_parameters

T = TestSend.Status
WEBHOOK_STATUSES = {"sent": T.SENT, "delivered": T.DELIVERED, "read": T.READ, "failed": T.FAILED}


class TestSendError(ValidationError):
    """The test message could not be sent; the message says why."""

    __test__ = False


def campaign_send_test(*, campaign: Campaign, phone: str, now: dt.datetime, by: str = "") -> str:
    """Send the campaign's message to one phone now (it counts against the limit). Returns the message id.

    The message is recorded as a TestSend with the text as rendered for that
    phone's contact, so its status webhooks have somewhere to land.
    """
    from audiences.models import Suppression
    from audiences.phones import InvalidPhoneNumber, normalize_phone
    from campaigns.clock import as_utc
    from whatsapp.backends import get_backend
    from whatsapp.errors import WhatsAppError

    now = as_utc(now)
    try:
        phone = normalize_phone(phone)
    except InvalidPhoneNumber as exc:
        raise TestSendError(str(exc)) from exc
    contact = Contact.objects.filter(phone=phone).first()
    # The number's own opt-out decides (Promise 8, docs/architecture.md), whether or not a contact has it.
    if Suppression.objects.filter(phone=phone).exists() or (contact is not None and not contact.is_subscribed):
        raise TestSendError(_("%(phone)s has unsubscribed: no message is sent to it.") % {"phone": phone})
    with transaction.atomic():
        quota_lock()
        # A phone already counted (or in its customer-service window) costs nothing (campaigns/quota.py).
        if not quota_phone_free(now=now, phone=phone) and quota_usage(now=now).left < 1:
            raise TestSendError(_("The messaging limit is used up for now; try later."))
        quota_reserve(now=now, campaign_id=None, recipient_ids=[None], phones=[phone])
    template = campaign.template
    contact = contact or Contact(phone=phone)
    components = build_components(
        template=template,
        parameters=campaign.parameters,
        header_parameters=campaign.header_parameters,
        button_parameters=campaign.button_parameters,
        header_media_url=campaign.header_media_url,
        contact=contact,
        # A test message has no recipient row: its link carries the preview's token (a tap is a 404, not a click).
        link_token=SAMPLE_TOKEN if campaign.link_url else None,
    )
    try:
        result = get_backend().send_template(phone, template.name, template.language, components)
    except WhatsAppError as exc:
        raise TestSendError(exc.reason) from exc
    rendered = template.render_preview(
        resolve_parameters(campaign.parameters, contact), resolve_parameters(campaign.header_parameters, contact)
    )
    TestSend.objects.create(
        campaign=campaign,
        phone=phone,
        message_id=result.message_id,
        rendered_text=rendered,
        status=T.SENT,
        sent_by=by[:150],
        created_at=now,
    )
    return result.message_id


def testsends_apply_statuses(*, events, **kwargs) -> list[str]:
    """The receiver of whatsapp's statuses_received: a body's statuses of test sends, by message id.

    One query finds which of the body's message ids are test sends (few or
    none); only those are applied. Returns no notes for the WebhookEvent.
    """
    events = list(events)
    ids = {event.message_id for event in events if event.message_id}
    tests = set(TestSend.objects.filter(message_id__in=ids).values_list("message_id", flat=True)) if ids else set()
    for event in events:
        if event.message_id in tests:
            testsend_apply_status(event=event)
    return []


def testsend_apply_status(*, event, **kwargs) -> bool:
    """Apply a webhook status to the test send with its message id (forward only); True when the status moved.

    TestSend's state machine: the recipients' precedence (campaigns/lifecycle.py RANK),
    a message id that is not a test send's changes nothing here.
    """
    status = WEBHOOK_STATUSES.get(str(event.status).lower())
    if status is None or not event.message_id:
        return False
    rows = TestSend.objects.filter(message_id=event.message_id)
    moved = bool(
        rows.filter(status__in=[s for s in T.values if RANK[s] < RANK[status]]).update(
            status=status, **_error(status, event)
        )
    )
    for column in TIMESTAMPS[status]:
        rows.filter(Q(**{f"{column}__isnull": True}) | Q(**{f"{column}__gt": event.timestamp})).update(
            **{column: event.timestamp}
        )
    return moved


def _error(status: str, event) -> dict:
    if status != T.FAILED or not event.errors:
        return {}
    first = event.errors[0]
    return {"error_code": first.code, "error_reason": first.reason}
