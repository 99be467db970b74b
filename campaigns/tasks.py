"""Celery tasks: thin, they call services."""

import logging

from celery import shared_task
from django.core.exceptions import ValidationError
from django.utils import timezone

logger = logging.getLogger(__name__)

SEND_BATCH_TASK = "campaigns.send_batch"
SEND_CHUNK_TASK = "campaigns.send_chunk"  # routed to the `send` queue (CELERY_TASK_ROUTES)
ACTIVATE_TASK = "campaigns.activate"
TOP_UP_TASK = "campaigns.top_up"
PROGRESS = "PROGRESS"  # a custom state: meta = {"campaign_id", "done", "total"}


@shared_task(name=SEND_BATCH_TASK, ignore_result=True)  # not acks_late: a redelivery must find its rows claimed
def send_batch_task() -> dict:
    """Run the send batch now; if the 24-hour window held it back, run again when capacity frees.

    With SEND_FAN_OUT it hands chunks to the send tasks without waiting for
    them (a task blocking on other tasks can starve its own worker) and looks
    again shortly while the workers' backlog is full.
    """
    from django.conf import settings

    from campaigns.services import batch_continuation_record, batch_send

    now = timezone.now()
    result = batch_send(now=now, fan_out=settings.SEND_FAN_OUT, wait=False)
    if result.continue_at is not None:
        send_batch_task.apply_async(eta=result.continue_at)
        logger.info("send batch continues at %s", result.continue_at.isoformat())
    # Written where the admin can read it: "Next send batch" shows the continuation, not only beat's schedule.
    batch_continuation_record(run_at=result.continue_at, now=now, window_full=result.left <= 0)
    return result.as_dict()


@shared_task(name=SEND_CHUNK_TASK, ignore_result=False)  # not acks_late: a redelivered chunk finds its lease taken
def send_chunk_task(lease_id: int, now: str, handed_at: float, claims: list) -> dict:
    """Send one chunk of claims the batch handed out (campaigns/fanout.py); its outcome counts are the result.

    Its lease's clock is the batch's `now` plus the time since it was handed out.
    """
    import datetime as dt
    import time

    from campaigns.batch import Claim
    from campaigns.fanout import chunk_send

    at = dt.datetime.fromisoformat(now) + dt.timedelta(seconds=max(0.0, time.time() - handed_at))
    result = chunk_send(lease_id=lease_id, claims=[Claim.from_json(row) for row in claims], now=at)
    return result.as_dict()


# Activation and top-up keep their result (the admin's progress page reads it) and say when they start.
@shared_task(name=ACTIVATE_TASK, bind=True, ignore_result=False, track_started=True)
def activate_task(self, campaign_id: int) -> dict:
    """Activate the campaign (campaign_activate), reporting progress; its outcome or refusal is the result."""
    from campaigns.services import campaign_activate

    return _run_reporting_progress(self, campaign_activate, campaign_id)


@shared_task(name=TOP_UP_TASK, bind=True, ignore_result=False, track_started=True)
def top_up_task(self, campaign_id: int) -> dict:
    """Top the campaign up (campaign_top_up), reporting progress; its outcome or refusal is the result."""
    from campaigns.services import campaign_top_up

    return _run_reporting_progress(self, campaign_top_up, campaign_id)


def _run_reporting_progress(task, service, campaign_id: int) -> dict:
    """Call the service with a progress callback that stores PROGRESS states in Celery's result backend.

    Not in the database: the service's transaction is open until the end, so
    nothing it writes can be seen before then. A refusal (validation, state:
    nothing changed) is a result, not a task failure; anything else fails the
    task with its traceback in the worker's log.
    """
    from campaigns.models import Campaign

    progress = {"campaign_id": campaign_id, "done": 0, "total": None}

    def report(done: int, total: int) -> None:
        progress.update(done=done, total=total)
        if task.request.id:  # called directly (not through a worker or apply), there is no state to update
            task.update_state(state=PROGRESS, meta=dict(progress))

    try:
        campaign = Campaign.objects.select_related("template", "audience").get(pk=campaign_id)
        outcome = service(campaign=campaign, now=timezone.now(), progress=report)
    except Campaign.DoesNotExist:
        return {**progress, "ok": False, "errors": [f"Campaign #{campaign_id} no longer exists."]}
    except ValidationError as exc:
        return {**progress, "ok": False, "errors": exc.messages}
    completion = outcome.estimated_completion_date
    return {
        **progress,
        "ok": True,
        "status": outcome.status,
        "recipients_added": outcome.recipients_added,
        "estimated_completion_date": completion.isoformat() if completion else None,
    }


DEMO_ORDERS_TASK = "campaigns.demo_orders"


@shared_task(name=DEMO_ORDERS_TASK, bind=True, ignore_result=True, max_retries=20, default_retry_delay=15)
def demo_orders_task(self, campaign_id: int, count: int = 5) -> int:
    """The demo's shop: a few of the campaign's clickers buy (through the conversions service); waits for clicks."""
    from campaigns.conversions import demo_orders

    recorded = demo_orders(campaign_id=campaign_id, count=count, now=timezone.now())
    if not recorded:
        raise self.retry()
    return recorded
