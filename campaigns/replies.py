"""Replies (docs/architecture.md, "Engagement"): an inbound message recorded as its recipient's reply.

An inbound message quoting a campaign message (context.id) is that
recipient's reply; one without context is the reply of the campaign message
last delivered to that phone within REPLY_ATTRIBUTION_HOURS. The earliest
reply per recipient is kept; the campaign's `replied` counter, its day row and
its replies per button (CampaignReply) move in the same transaction.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Max

from campaigns.clock import as_utc, local_day
from campaigns.lifecycle import campaign_day_add
from campaigns.models import Campaign, CampaignReply, Recipient

# --- Replies ------------------------------------------------------------------------


def reply_record(*, context_message_id: str, phone: str | None, payload: str, text: str, at: dt.datetime) -> bool:
    """Record an inbound message as its recipient's reply; True when the recipient's reply changed.

    With `context_message_id` (the message it quotes): the recipient whose
    WhatsApp message id it is. Without: the recipient delivered last to
    `phone` within REPLY_ATTRIBUTION_HOURS before `at` (the customer-service
    window: who writes back the same day is answering what they just got).
    The earliest reply is kept (its button payload and text), so a replay
    or a later message changes nothing and events in any order end the same.
    """
    at = as_utc(at)
    if context_message_id:
        rows = Recipient.objects.filter(message_id=context_message_id)
    elif phone and settings.REPLY_ATTRIBUTION_HOURS > 0:
        since = at - dt.timedelta(hours=settings.REPLY_ATTRIBUTION_HOURS)
        rows = Recipient.objects.filter(phone=phone, delivered_at__gt=since, delivered_at__lte=at).order_by(
            "-delivered_at", "-pk"
        )[:1]
    else:
        return False
    recipient_id = rows.values_list("pk", flat=True).first()
    if recipient_id is None:
        return False
    payload, text = payload[:256], text[:256]
    with transaction.atomic():
        row = (
            Recipient.objects.select_for_update()
            .filter(pk=recipient_id)
            .values("campaign_id", "replied_at", "reply_payload")
            .first()
        )
        old = row["replied_at"]
        if old is not None and old <= at:
            return False
        campaign_id = row["campaign_id"]
        Recipient.objects.filter(pk=recipient_id).update(replied_at=at, reply_payload=payload, reply_text=text)
        if old is None:
            Campaign.objects.filter(pk=campaign_id).update(replied=F("replied") + 1)
        else:
            campaign_day_add(campaign_id=campaign_id, day=local_day(old), counts={"replied": -1})
            _reply_add(campaign_id, row["reply_payload"], -1)
        campaign_day_add(campaign_id=campaign_id, day=local_day(at), counts={"replied": 1})
        _reply_add(campaign_id, payload, 1, label=text if payload else "")
    return True


def _reply_add(campaign_id: int, payload: str, n: int, *, label: str = "") -> None:
    """Add `n` to the campaign's replies with `payload` (the row made on first use), in the caller's transaction."""
    changes = {"count": F("count") + n, **({"label": label} if label else {})}
    rows = CampaignReply.objects.filter(campaign_id=campaign_id, payload=payload)
    if not rows.update(**changes):
        CampaignReply.objects.get_or_create(campaign_id=campaign_id, payload=payload)
        rows.update(**changes)


def reply_received(sender, event, **kwargs) -> None:
    """The message_received receiver: an inbound message may be a campaign recipient's reply (idempotent)."""
    from audiences.phones import InvalidPhoneNumber, normalize_phone

    phone = None
    if event.sender:
        try:
            phone = normalize_phone(event.sender if event.sender.startswith("+") else f"+{event.sender}")
        except InvalidPhoneNumber:
            phone = None
    reply_record(
        context_message_id=event.context_message_id,
        phone=phone,
        payload=event.payload if event.type in ("button", "interactive") else "",
        text=event.text,
        at=event.timestamp,
    )


def campaign_reply_buttons(*, campaign_id: int) -> list[dict]:
    """Replies per button payload (text replies under ""), most first: the campaign's CampaignReply rows."""
    rows = (
        CampaignReply.objects.filter(campaign_id=campaign_id, count__gt=0)
        .order_by("-count", "payload")
        .values("payload", "label", "count")
    )
    return [{"payload": r["payload"], "label": r["label"] if r["payload"] else "", "count": r["count"]} for r in rows]


def reply_counts(*, campaign_id: int) -> dict[str, int]:
    """Replies per payload recounted from the recipient rows (what CampaignReply must hold)."""
    rows = (
        Recipient.objects.filter(campaign_id=campaign_id, replied_at__isnull=False)
        .values("reply_payload")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("reply_payload", "n")
    )
    return dict(rows)


def campaign_replies_rebuild(*, campaign_id: int) -> None:
    """Replace the campaign's CampaignReply rows by a recount (repair; campaign_recount calls it)."""
    labels = dict(
        Recipient.objects.filter(campaign_id=campaign_id, replied_at__isnull=False)
        .exclude(reply_payload="")
        .values("reply_payload")
        .annotate(label=Max("reply_text"))
        .order_by()
        .values_list("reply_payload", "label")
    )
    CampaignReply.objects.filter(campaign_id=campaign_id).delete()
    CampaignReply.objects.bulk_create(
        CampaignReply(campaign_id=campaign_id, payload=payload, label=labels.get(payload, ""), count=n)
        for payload, n in reply_counts(campaign_id=campaign_id).items()
    )
