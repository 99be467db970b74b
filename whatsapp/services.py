"""Writes of the whatsapp app: store and process webhook bodies, sync templates."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from whatsapp import signals
from whatsapp.events import MessageEvent, PreferenceEvent, StatusEvent
from whatsapp.models import MessageTemplate, Sender, WebhookEvent
from whatsapp.parsing import parse_events

logger = logging.getLogger(__name__)

SIGNAL_FOR = {
    StatusEvent: signals.status_received,
    MessageEvent: signals.message_received,
    PreferenceEvent: signals.preference_changed,
}


def webhook_event_record(*, body: bytes, signature: str, now: datetime) -> WebhookEvent:
    """Store a verified webhook body exactly as received, before any processing (Promise 6)."""
    return WebhookEvent.objects.create(received_at=now, body=body, signature=signature[:100])


def webhook_event_process(*, webhook_event: WebhookEvent, sender: type, payload: dict | None = None) -> bool:
    """Normalise the stored body into events and send one signal per event; record the outcome.

    Each event's receivers run in their own transaction: a failing receiver
    rolls back only its event, the others still apply, and the error is kept
    on the WebhookEvent (status `failed`) so the body can be replayed. Returns
    True when every event was handled. Running it again on the same body is
    safe because receivers are idempotent (Promise 5).
    """
    if payload is None:
        payload = json.loads(bytes(webhook_event.body))
    errors: list[str] = []
    events = parse_events(payload, received_at=webhook_event.received_at)
    for event in events:
        try:
            with transaction.atomic():
                SIGNAL_FOR[type(event)].send(sender=sender, event=event)
        except Exception as exc:  # any receiver failure is recorded on the event, never swallowed
            logger.exception("whatsapp webhook #%s: receiver failed on %s", webhook_event.pk, event.event_type)
            errors.append(f"{event.event_type} {getattr(event, 'message_id', '')}: {type(exc).__name__}: {exc}")
    webhook_event.event_count = len(events)
    webhook_event.processed_at = timezone.now()
    webhook_event.status = WebhookEvent.Status.FAILED if errors else WebhookEvent.Status.PROCESSED
    webhook_event.error = "\n".join(errors)
    webhook_event.save(update_fields=["event_count", "processed_at", "status", "error", "replay_count"])
    return not errors


def webhook_event_replay(*, webhook_event: WebhookEvent) -> bool:
    """Re-run parse + signals on a stored body (admin "replay"): receivers are idempotent, so nothing doubles."""
    from whatsapp.webhooks import WhatsAppWebhookView

    webhook_event.replay_count += 1
    try:
        payload = json.loads(bytes(webhook_event.body))
    except ValueError as exc:
        webhook_event.status, webhook_event.error = WebhookEvent.Status.FAILED, f"body is not JSON: {exc}"
        webhook_event.processed_at = timezone.now()
        webhook_event.save(update_fields=["status", "error", "processed_at", "replay_count"])
        return False
    return webhook_event_process(webhook_event=webhook_event, payload=payload, sender=WhatsAppWebhookView)


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
