"""Celery tasks of the whatsapp app: thin, they call services."""

from celery import shared_task
from django.utils import timezone

WEBHOOK_PROCESS_TASK = "whatsapp.process_webhook"
WEBHOOK_SWEEP_TASK = "whatsapp.process_stuck_webhooks"


@shared_task(name=WEBHOOK_PROCESS_TASK, ignore_result=True)
def webhook_process_task(webhook_event_id: int) -> bool | None:
    """Process one stored webhook body (skipped when the sweep or another run already did)."""
    from whatsapp.services import webhook_event_process_waiting

    return webhook_event_process_waiting(webhook_event_id=webhook_event_id)


@shared_task(name=WEBHOOK_SWEEP_TASK, ignore_result=True)
def webhook_sweep_task() -> int:
    """Process the bodies whose task was lost (periodic: "Process stuck webhooks")."""
    from whatsapp.services import webhook_events_process_stuck

    return webhook_events_process_stuck(now=timezone.now())


MESSAGING_LIMIT_SYNC_TASK = "whatsapp.sync_messaging_limit"


@shared_task(name=MESSAGING_LIMIT_SYNC_TASK, ignore_result=True)
def messaging_limit_sync_task() -> str:
    """Read each sender number's tier and quality from Meta (periodic: "Sync the messaging limit")."""
    from whatsapp.tiers import messaging_limit_sync

    return str(messaging_limit_sync(now=timezone.now()))
