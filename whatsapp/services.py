"""Writes of the whatsapp app: store, enqueue and process webhook bodies, sync templates."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from whatsapp import signals
from whatsapp.errors import WebhookValidationError
from whatsapp.events import (
    AccountEvent,
    LimitEvent,
    MessageEvent,
    PreferenceEvent,
    StatusEvent,
    TemplateCategoryEvent,
    TemplateQualityEvent,
    TemplateStatusEvent,
)
from whatsapp.models import LastInbound, MessageTemplate, Sender, WebhookEvent
from whatsapp.parsing import load_payload, parse_events

logger = logging.getLogger(__name__)

SIGNAL_FOR = {
    StatusEvent: signals.status_received,
    MessageEvent: signals.message_received,
    PreferenceEvent: signals.preference_changed,
    # The account, its templates and its numbers (whatsapp/platform.py).
    TemplateStatusEvent: signals.platform_event_received,
    TemplateQualityEvent: signals.platform_event_received,
    TemplateCategoryEvent: signals.platform_event_received,
    AccountEvent: signals.platform_event_received,
    LimitEvent: signals.platform_event_received,
}


def webhook_event_record(*, body: bytes, signature: str, now: datetime) -> WebhookEvent:
    """Store a verified webhook body exactly as received, before any processing (Promise 6)."""
    return WebhookEvent.objects.create(received_at=now, body=body, signature=signature[:100])


def webhook_event_enqueue(*, webhook_event: WebhookEvent) -> None:
    """Have a worker process the stored body once it is committed.

    A broker that refuses the task loses nothing: the body is stored and the
    sweep (webhook_events_process_stuck) processes it a few minutes later, so
    the POST is still answered 200 and Meta does not send it again.
    """
    from whatsapp.tasks import webhook_process_task

    def enqueue() -> None:
        try:
            webhook_process_task.delay(webhook_event.pk)
        except Exception:  # the broker's errors vary by transport; the sweep is the fallback either way
            logger.exception("whatsapp webhook #%s: not enqueued; the sweep will process it", webhook_event.pk)

    transaction.on_commit(enqueue)


def webhook_event_process_waiting(*, webhook_event_id: int) -> bool | None:
    """Process a stored body unless that already happened (the task and the sweep may both come); None: skipped."""
    webhook_event = WebhookEvent.objects.filter(pk=webhook_event_id, status=WebhookEvent.Status.RECEIVED).first()
    if webhook_event is None:
        return None
    return webhook_event_process(webhook_event=webhook_event)


# A body still waiting this long after it was stored lost its task (broker restarted, worker killed).
STUCK_AFTER = timedelta(minutes=5)


def webhook_events_process_stuck(*, now: datetime, limit: int = 500) -> int:
    """Process, oldest first, the bodies stored more than STUCK_AFTER ago and still waiting; returns how many."""
    stuck = WebhookEvent.objects.filter(status=WebhookEvent.Status.RECEIVED, received_at__lt=now - STUCK_AFTER)
    ids = list(stuck.order_by("received_at", "id").values_list("id", flat=True)[:limit])
    for webhook_event_id in ids:
        webhook_event_process_waiting(webhook_event_id=webhook_event_id)
    if ids:
        logger.warning("whatsapp webhook: processed %s stuck body(ies) (their task was lost)", len(ids))
    return len(ids)


MAX_NOTES = 100  # notes kept per body; a hostile body could otherwise produce one per status


def webhook_event_process(*, webhook_event: WebhookEvent, sender: type | None = None) -> bool:
    """Normalise the stored body into events, signal them and record the outcome; True when every event was handled.

    A body's statuses go in one `statuses_received` signal (receivers apply
    them set-based, in one transaction: a failure rolls back that batch only);
    then each event's own signal, in its own transaction, to the receivers it
    has (inbound messages, preferences; per-status receivers if any). Errors
    are kept on the WebhookEvent (status `failed`) so the body can be
    replayed; notes say what was not taken as sent. Running it again on the
    same body is safe because receivers are idempotent (Promise 5).
    """
    from whatsapp.webhooks import WhatsAppWebhookView

    sender = sender or WhatsAppWebhookView
    try:
        payload = load_payload(bytes(webhook_event.body))
    except WebhookValidationError as exc:
        return _record_outcome(webhook_event, events=0, errors=[str(exc)], notes=[])
    events = parse_events(payload, received_at=webhook_event.received_at)
    notes = [note for event in events for note in event.notes]
    errors: list[str] = []
    statuses = [event for event in events if isinstance(event, StatusEvent)]
    if statuses:
        try:
            with transaction.atomic():
                for _receiver, response in signals.statuses_received.send(sender=sender, events=statuses):
                    notes.extend(response if isinstance(response, list) else [])
        except Exception as exc:  # recorded on the event, never swallowed
            logger.exception("whatsapp webhook #%s: statuses receiver failed", webhook_event.pk)
            errors.append(f"{len(statuses)} status(es): {type(exc).__name__}: {exc}")
    for event in events:
        signal = SIGNAL_FOR[type(event)]
        if not signal.has_listeners(sender):
            continue  # no transaction per event for nobody: a body carries up to 1,000 statuses
        try:
            with transaction.atomic():
                signal.send(sender=sender, event=event)
        except Exception as exc:  # any receiver failure is recorded on the event, never swallowed
            logger.exception("whatsapp webhook #%s: receiver failed on %s", webhook_event.pk, event.event_type)
            errors.append(f"{event.event_type} {getattr(event, 'message_id', '')}: {type(exc).__name__}: {exc}")
    return _record_outcome(webhook_event, events=len(events), errors=errors, notes=notes)


def _record_outcome(webhook_event: WebhookEvent, *, events: int, errors: list[str], notes: list[str]) -> bool:
    if len(notes) > MAX_NOTES:
        notes = [*notes[:MAX_NOTES], f"... and {len(notes) - MAX_NOTES} more note(s)"]
    webhook_event.event_count = events
    webhook_event.processed_at = timezone.now()
    webhook_event.status = WebhookEvent.Status.FAILED if errors else WebhookEvent.Status.PROCESSED
    webhook_event.error = "\n".join(errors)
    webhook_event.notes = "\n".join(notes)
    webhook_event.save(update_fields=["event_count", "processed_at", "status", "error", "notes", "replay_count"])
    return not errors


def webhook_event_replay(*, webhook_event: WebhookEvent) -> bool:
    """Re-run parse + signals on a stored body (admin "replay"): receivers are idempotent, so nothing doubles."""
    webhook_event.replay_count += 1
    return webhook_event_process(webhook_event=webhook_event)


@dataclass(frozen=True)
class TemplateSyncResult:
    created: int
    updated: int
    missing: int

    def __str__(self) -> str:
        return f"{self.created} created, {self.updated} updated, {self.missing} marked missing"


def templates_sync(*, now: datetime, backend=None) -> TemplateSyncResult:
    """Upsert the account's templates and mark those no longer listed as MISSING (so campaigns stop offering them)."""
    from whatsapp.backends import get_backend

    listed = (backend or get_backend()).list_templates()
    created = updated = 0
    seen: set[tuple[str, str]] = set()
    with transaction.atomic():
        for raw in listed:
            name, language = raw.get("name"), raw.get("language")
            if not name or not language or (name, language) in seen:
                continue
            seen.add((name, language))
            quality = raw.get("quality_score") or {}
            _, was_created = MessageTemplate.objects.update_or_create(
                name=name,
                language=language,
                defaults={
                    "category": raw.get("category") or "",
                    "status": raw.get("status") or "",
                    "components": raw.get("components") or [],
                    "quality": (quality.get("score") if isinstance(quality, dict) else str(quality)) or "",
                    "external_id": str(raw.get("id") or ""),
                    "synced_at": now,
                },
            )
            created += was_created
            updated += not was_created
        stale = MessageTemplate.objects.exclude(status=MessageTemplate.Status.MISSING)
        missing_ids = [pk for pk, name, lang in stale.values_list("pk", "name", "language") if (name, lang) not in seen]
        missing = MessageTemplate.objects.filter(pk__in=missing_ids).update(
            status=MessageTemplate.Status.MISSING, synced_at=now
        )
    return TemplateSyncResult(created=created, updated=updated, missing=missing)


def sender_default() -> Sender:
    """The first sender number: what a campaign with no sender sends from.

    Made from WHATSAPP_PHONE_NUMBER_ID and WHATSAPP_BUSINESS_ACCOUNT_ID when
    there is none yet, so one number needs no admin step. Its throughput is
    left empty: it follows WHATSAPP_MAX_MPS.
    """
    sender = Sender.objects.order_by("id").first()
    if sender is not None:
        return sender
    try:
        with transaction.atomic():
            return Sender.objects.create(
                phone_number_id=settings.WHATSAPP_PHONE_NUMBER_ID or "default",
                business_account_id=settings.WHATSAPP_BUSINESS_ACCOUNT_ID,
            )
    except IntegrityError:  # another process made it meanwhile
        return Sender.objects.order_by("id").first()


def last_inbound_record(*, phone: str, at: datetime) -> None:
    """Remember that `phone` (E.164) wrote to us at `at`: only ever forward in time (a replay changes nothing).

    Its customer-service window is open for 24 hours after; the quota does
    not count a template sent inside it (campaigns/quota.py).
    """
    if LastInbound.objects.filter(phone=phone, at__lt=at).update(at=at):
        return
    try:
        with transaction.atomic():
            LastInbound.objects.get_or_create(phone=phone, defaults={"at": at})
    except IntegrityError:  # another process made the row meanwhile
        pass
    LastInbound.objects.filter(phone=phone, at__lt=at).update(at=at)
