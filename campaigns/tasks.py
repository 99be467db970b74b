"""Celery tasks: thin, they call services."""

import logging

from celery import shared_task
from django.utils import timezone

logger = logging.getLogger(__name__)

SEND_BATCH_TASK = "campaigns.send_batch"


@shared_task(name=SEND_BATCH_TASK, ignore_result=True)  # not acks_late: a redelivery must find its rows claimed
def send_batch_task() -> dict:
    """Run the send batch now; if the 24-hour window held it back, run again when capacity frees."""
    from campaigns.services import batch_send

    result = batch_send(now=timezone.now())
    if result.continue_at is not None:
        send_batch_task.apply_async(eta=result.continue_at)
        logger.info("send batch continues at %s", result.continue_at.isoformat())
    return result.as_dict()
