"""Reads of the whatsapp app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q

from whatsapp.models import WebhookEvent
from whatsapp.services import STUCK_AFTER

# A failed body stays on Today this long (until replayed): older ones are history, still in the admin.
FAILED_REVIEW = timedelta(days=7)


@dataclass(frozen=True)
class WebhookBacklog:
    stuck: int  # stored more than STUCK_AFTER ago and still waiting: their task was lost (or no worker runs)
    failed: int  # processed with a receiver error within FAILED_REVIEW: replay them once the cause is fixed


def webhook_backlog(*, now: datetime) -> WebhookBacklog:
    """Bodies that need an operator's eye, in one query (the waiting ones through their partial index)."""
    stuck = Q(status=WebhookEvent.Status.RECEIVED, received_at__lt=now - STUCK_AFTER)
    failed = Q(status=WebhookEvent.Status.FAILED, received_at__gte=now - FAILED_REVIEW)
    counts = WebhookEvent.objects.filter(stuck | failed).aggregate(
        stuck=Count("id", filter=stuck), failed=Count("id", filter=failed)
    )
    return WebhookBacklog(stuck=counts["stuck"], failed=counts["failed"])
