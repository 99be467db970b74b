"""What the product does with Meta's platform events (docs/architecture.md, "Platform events").

- Templates: a status event updates the template (only a later event than
  the one we know: replays and late ones change nothing) and, when it is new,
  sends `template_status_changed` (campaigns/platform.py pauses or resumes
  the campaigns using it). Quality and category changes are recorded on the
  template. Each raises a PlatformAlert.
- The account: a restriction of business-initiated messaging, a violation or
  a disabled account raises a PlatformAlert that blocks sending
  (`sending_blocked`): the send batch claims nothing until it is lifted (its
  expiration passed, a DISABLED_UPDATE with REINSTATE, or an operator
  resolved it in the admin).
- The messaging limit: whatsapp/tiers.py records the tier.

`alert_raise` is the one way an alert is made.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db.models import Q
from django.dispatch import receiver
from django.utils.translation import gettext as _

from whatsapp import signals
from whatsapp.events import (
    AccountEvent,
    LimitEvent,
    TemplateCategoryEvent,
    TemplateQualityEvent,
    TemplateStatusEvent,
)
from whatsapp.models import MessageTemplate, PlatformAlert

logger = logging.getLogger(__name__)

S = PlatformAlert.Severity

# Alert kinds (PlatformAlert.kind).
TEMPLATE_STOPPED = "template_stopped"
TEMPLATE_FLAGGED = "template_flagged"
TEMPLATE_REINSTATED = "template_reinstated"
TEMPLATE_QUALITY = "template_quality"
TEMPLATE_CATEGORY = "template_category"
ACCOUNT_BLOCKED = "account_blocked"
ACCOUNT_NOTICE = "account_notice"
MESSAGING_LIMIT = "messaging_limit"
NUMBER_QUALITY = "number_quality"

# A template in these states cannot be sent: its running and scheduled campaigns are paused.
STOP_EVENTS = frozenset({"PAUSED", "DISABLED", "REJECTED", "PENDING_DELETION", "DELETED", "ARCHIVED"})
# Sendable again: REINSTATED, or APPROVED (Meta sends APPROVED, other_info.title UNPAUSE, when a pause ends).
RESUME_EVENTS = frozenset({"REINSTATED", "APPROVED", "UNPAUSED"})
# Restrictions that leave business-initiated templates alone (restriction_info[].restriction_type).
NOT_SENDING_RESTRICTIONS = frozenset({"RESTRICTED_ADD_PHONE_NUMBER_ACTION", "RESTRICTED_CUSTOMER_INITIATED_MESSAGING"})


# --- Alerts ---------------------------------------------------------------------


def alert_raise(
    *,
    kind: str,
    severity: str,
    message: str,
    now: dt.datetime,
    words: str = "",
    subject: str = "",
    key: str | None = None,
    blocks_sending: bool = False,
    until: dt.datetime | None = None,
) -> PlatformAlert:
    """Raise an alert for the operator (Today, the admin): the ONE entry point, so every alert is seen alike.

    With `key`, raising is idempotent: the alert already raised under that
    key is returned unchanged (a replayed webhook raises nothing new).
    `blocks_sending`: the send batch claims nothing while this alert is open
    and `until` (None: until resolved) has not passed.
    """
    fields = {
        "kind": kind[:40],
        "severity": severity,
        "message": message,
        "words": words,
        "subject": subject[:255],
        "blocks_sending": blocks_sending,
        "until": until,
        "raised_at": now,
    }
    if key is None:
        alert, created = PlatformAlert.objects.create(**fields), True
    else:
        alert, created = PlatformAlert.objects.get_or_create(key=key[:255], defaults=fields)
    if created:
        logger.warning("platform alert (%s, %s): %s", kind, severity, message)
        _alert_announce(alert)
    return alert


def _alert_announce(alert: PlatformAlert) -> None:
    """The `alert.raised` outbound event (docs/architecture.md, "Outbound events"): sent after the commit."""
    import outbound
    from outbound.payloads import alert_raised_data

    data = alert_raised_data(
        alert_id=alert.pk,
        kind=alert.kind,
        severity=alert.severity,
        title=alert.subject or alert.kind,
        message=alert.message,
        raised_at=alert.raised_at,
    )
    outbound.emit("alert.raised", data, at=alert.raised_at)


def alerts_resolve(*, now: dt.datetime, kinds: list[str], subject: str | None = None, before=None) -> int:
    """Resolve the open alerts of `kinds` (for `subject` when given, raised at or before `before`); how many."""
    alerts = PlatformAlert.objects.filter(kind__in=kinds, resolved_at__isnull=True)
    if subject is not None:
        alerts = alerts.filter(subject=subject[:255])
    if before is not None:
        alerts = alerts.filter(raised_at__lte=before)
    return alerts.update(resolved_at=now)


def sending_blocked(*, now: dt.datetime) -> PlatformAlert | None:
    """The open alert that stops all sending at `now` (an account restriction), or None.

    Read by the send batch's claim (campaigns/batch.py `_claim_round`), so the
    threads' batch and the fan-out both claim nothing while it holds.
    """
    return (
        PlatformAlert.objects.filter(blocks_sending=True, resolved_at__isnull=True)
        .filter(Q(until__isnull=True) | Q(until__gt=now))
        .order_by("raised_at", "id")
        .first()
    )


# Warnings and notes leave Today after this long (still in the admin); errors and blocks stay until resolved.
NOTICE_REVIEW = dt.timedelta(days=7)


def open_alerts(*, now: dt.datetime) -> list[PlatformAlert]:
    """What Today lists: open alerts, newest first (a block whose `until` passed is over; old notices aged out)."""
    over = Q(blocks_sending=True, until__lte=now)
    aged = Q(severity__in=[S.WARNING, S.INFO], raised_at__lt=now - NOTICE_REVIEW)
    alerts = PlatformAlert.objects.filter(resolved_at__isnull=True).exclude(over | aged)
    return list(alerts.order_by("-raised_at", "-id")[:50])


# --- Templates ----------------------------------------------------------------------


def _templates(event) -> list[MessageTemplate]:
    match = Q(name=event.template_name, language=event.template_language) if event.template_name else Q(pk__in=[])
    if event.template_id:
        match |= Q(external_id=event.template_id)
    return list(MessageTemplate.objects.filter(match))


def _later(field: str, at: dt.datetime) -> Q:
    return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__lt": at})


def _subject(template: MessageTemplate) -> str:
    return f"template:{template.pk}"


def template_apply_status(*, event: TemplateStatusEvent, now: dt.datetime) -> list[MessageTemplate]:
    """Record a template status event on its template(s); the templates it changed (a new event), else [].

    New: later than the last status event we recorded, or at the same second
    but another event. The status column takes the event when it is a status
    (REINSTATED -> APPROVED); FLAGGED and events we do not know keep it, and
    are recorded in status_event / status_detail like every other.
    """
    at = event.timestamp or now
    status = "APPROVED" if event.event in RESUME_EVENTS or event.title == "UNPAUSE" else event.event
    changes = {"status_event": event.event[:60], "status_detail": event.words, "status_changed_at": at}
    if status in MessageTemplate.Status.values and status != MessageTemplate.Status.MISSING:
        changes["status"] = status
    changed = []
    for template in _templates(event):
        newer = _later("status_changed_at", at) | (Q(status_changed_at=at) & ~Q(status_event=event.event[:60]))
        if MessageTemplate.objects.filter(newer, pk=template.pk).update(**changes):
            template.refresh_from_db()
            changed.append(template)
    if not changed:
        return []
    for template in changed:
        _alert_template_status(template, event, at=at)
    signals.template_status_changed.send(sender=MessageTemplate, templates=changed, event=event)
    return changed


def _alert_template_status(template: MessageTemplate, event: TemplateStatusEvent, *, at: dt.datetime) -> None:
    key = f"template:{template.pk}:{event.event}:{at.isoformat()}"
    context = {"template": template, "event": event.event, "words": event.words}
    if event.event in STOP_EVENTS:
        alert_raise(
            kind=TEMPLATE_STOPPED,
            severity=S.ERROR,
            message=_(
                "Template %(template)s is %(event)s at Meta (%(words)s): its running and scheduled campaigns are "
                "paused and send nothing until it is approved again."
            )
            % context,
            words=event.words,
            subject=_subject(template),
            key=key,
            now=at,
        )
    elif event.event == "FLAGGED":
        alert_raise(
            kind=TEMPLATE_FLAGGED,
            severity=S.WARNING,
            message=_(
                "Template %(template)s was flagged by Meta (%(words)s): it will be disabled unless its quality "
                "improves%(date)s."
            )  # fmt: skip
            % {**context, "date": _(" by %(date)s") % {"date": event.disable_date} if event.disable_date else ""},
            words=event.words,
            subject=_subject(template),
            key=key,
            now=at,
        )
    elif event.event in RESUME_EVENTS or event.title == "UNPAUSE":
        alerts_resolve(now=at, kinds=[TEMPLATE_STOPPED, TEMPLATE_FLAGGED], subject=_subject(template), before=at)


def template_apply_quality(*, event: TemplateQualityEvent, now: dt.datetime) -> int:
    """Record a quality score change on its template(s) (only a later one) and alert; how many templates changed."""
    at = event.timestamp or now
    changed = 0
    for template in _templates(event):
        previous = event.previous or template.quality
        if not MessageTemplate.objects.filter(_later("quality_changed_at", at), pk=template.pk).update(
            quality=event.new[:20], previous_quality=previous[:60], quality_changed_at=at
        ):
            continue
        changed += 1
        low = event.new in ("RED", "YELLOW")
        alert_raise(
            kind=TEMPLATE_QUALITY,
            severity=S.WARNING if low else S.INFO,
            message=_("Template %(template)s quality: %(previous)s -> %(new)s.")
            % {"template": template, "previous": previous or "?", "new": event.new}  # fmt: skip
            + (" " + _("Meta may pause it if it stays low.") if low else ""),
            words=f"{previous or '?'} -> {event.new}",
            subject=_subject(template),
            key=f"quality:{template.pk}:{event.new}:{at.isoformat()}",
            now=at,
        )
    return changed


def template_apply_category(*, event: TemplateCategoryEvent, now: dt.datetime) -> int:
    """Record a category change on its template(s) and alert (it changes the price); an announced one only alerts."""
    at = event.timestamp or now
    changed = 0
    for template in _templates(event):
        if event.new and event.previous:
            if not MessageTemplate.objects.filter(_later("category_changed_at", at), pk=template.pk).update(
                category=event.new[:30], previous_category=event.previous, category_changed_at=at
            ):
                continue
            changed += 1
            message = _("Template %(template)s is now %(new)s (was %(previous)s): its messages are priced as %(new)s.")
        else:
            message = _("Meta will change template %(template)s from %(new)s to %(correct)s: its price will change.")
        alert_raise(
            kind=TEMPLATE_CATEGORY,
            severity=S.WARNING,
            message=message
            % {
                "template": template,
                "new": event.new,
                "previous": event.previous,
                "correct": event.correct,
            },  # fmt: skip
            words=f"{event.previous or event.new} -> {event.new if event.previous else event.correct}",
            subject=_subject(template),
            key=f"category:{template.pk}:{event.new}:{event.correct}:{at.isoformat()}",
            now=at,
        )
    return changed


# --- The account ---------------------------------------------------------------------


def account_apply_event(*, event: AccountEvent, now: dt.datetime) -> PlatformAlert | None:
    """Alert on an account_update; a restriction of sending, a violation or a disabled account blocks sending.

    ACCOUNT_RESTRICTION blocks until the latest expiration of its messaging
    restrictions (none readable: until lifted); one that only restricts adding
    numbers or customer-initiated messaging is a warning. ACCOUNT_VIOLATION
    and DISABLED_UPDATE (DISABLE) block until an operator resolves the alert
    or a DISABLED_UPDATE with REINSTATE lifts them. Other events are kept in
    the stored body and change nothing.
    """
    at = event.timestamp or now
    key = f"account:{event.event}:{event.ban_state}:{at.isoformat()}"
    words = event.words
    if event.event == "DISABLED_UPDATE" and event.ban_state == "REINSTATE":
        lifted = alerts_resolve(now=at, kinds=[ACCOUNT_BLOCKED], before=at)
        return alert_raise(
            kind=ACCOUNT_NOTICE, severity=S.INFO, now=at, key=key, words=words,
            message=_("Meta reinstated the WhatsApp Business Account: sending resumes (%(n)s block(s) lifted).")
            % {"n": lifted},
        )  # fmt: skip
    if event.event == "ACCOUNT_RESTRICTION":
        sending = [r for r in event.restrictions if r.type not in NOT_SENDING_RESTRICTIONS]
        if event.restrictions and not sending:
            return alert_raise(
                kind=ACCOUNT_NOTICE, severity=S.WARNING, now=at, key=key, words=words,
                message=_("Meta restricted the WhatsApp Business Account (%(words)s). Templates still go out.")
                % {"words": words},
            )  # fmt: skip
        expirations = [r.expiration for r in sending]
        until = max(expirations) if expirations and all(expirations) else None
        return alert_raise(
            kind=ACCOUNT_BLOCKED, severity=S.ERROR, now=at, key=key, words=words, blocks_sending=True, until=until,
            message=_("Meta restricted the WhatsApp Business Account (%(words)s): ALL sending is stopped %(until)s.")
            % {"words": words, "until": _("until %(at)s UTC") % {"at": f"{until:%Y-%m-%d %H:%M}"} if until
               else _("until the restriction is lifted")},
        )  # fmt: skip
    if event.event in ("ACCOUNT_VIOLATION", "ACCOUNT_DELETED") or (
        event.event == "DISABLED_UPDATE" and event.ban_state != "SCHEDULE_FOR_DISABLE"
    ):
        return alert_raise(
            kind=ACCOUNT_BLOCKED, severity=S.ERROR, now=at, key=key, words=words, blocks_sending=True,
            message=_("Meta reported %(words)s on the WhatsApp Business Account: ALL sending is stopped. Check the "
                      "account in Meta's Business Manager, then resolve this alert to send again.") % {"words": words},
        )  # fmt: skip
    if event.event == "DISABLED_UPDATE":
        return alert_raise(
            kind=ACCOUNT_NOTICE, severity=S.WARNING, now=at, key=key, words=words,
            message=_("Meta scheduled the WhatsApp Business Account to be disabled (%(words)s).") % {"words": words},
        )  # fmt: skip
    return None


# --- The messaging limit -------------------------------------------------------------------


def limit_apply_event(*, event: LimitEvent, now: dt.datetime) -> int:
    """Record the tier a capability or quality webhook announced (at once) and alert on changes; numbers changed."""
    from whatsapp.tiers import TIERS, messaging_limit, sender_tier_record

    at = event.timestamp or now
    before = messaging_limit(at).tier
    changed = sender_tier_record(tier=event.tier, source="webhook", at=at) if event.tier else 0
    number = event.display_phone_number or _("the business portfolio")
    if changed and event.tier != before:
        lower = before in TIERS and TIERS[event.tier] < TIERS[before]
        alert_raise(
            kind=MESSAGING_LIMIT, severity=S.WARNING if lower else S.INFO, now=at,
            message=_("Meta set the messaging limit to %(tier)s (was %(before)s), announced by %(field)s.")
            % {"tier": event.tier, "before": before or _("not known"), "field": event.field_name},
            words=f"{event.event} {event.raw_limit}".strip(),
            key=f"limit:{event.field_name}:{event.tier}:{at.isoformat()}",
        )  # fmt: skip
    if event.event in ("FLAGGED", "DOWNGRADE"):
        alert_raise(
            kind=NUMBER_QUALITY, severity=S.WARNING, now=at, subject=f"number:{event.display_phone_number}",
            message=_("Meta reported %(event)s for %(number)s: its quality is low; the messaging limit cannot rise "
                      "(and may fall) until it improves.") % {"event": event.event, "number": number},
            words=f"{event.event} {event.raw_limit}".strip(),
            key=f"number:{event.display_phone_number}:{event.event}:{at.isoformat()}",
        )  # fmt: skip
    elif event.event == "UNFLAGGED":
        alerts_resolve(now=at, kinds=[NUMBER_QUALITY], subject=f"number:{event.display_phone_number}", before=at)
    return changed


# --- The receiver ------------------------------------------------------------------------------

APPLY = {
    TemplateStatusEvent: template_apply_status,
    TemplateQualityEvent: template_apply_quality,
    TemplateCategoryEvent: template_apply_category,
    AccountEvent: account_apply_event,
    LimitEvent: limit_apply_event,
}


@receiver(signals.platform_event_received, dispatch_uid="whatsapp.platform.platform_event")
def platform_event(sender, event, **kwargs) -> None:
    """Apply one platform event (idempotent: webhooks are retried and replayed)."""
    from django.utils import timezone

    APPLY[type(event)](event=event, now=timezone.now())
