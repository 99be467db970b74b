"""Celery tasks of outbound events: thin, they call services. Deliveries go to the `outbound` queue."""

from celery import shared_task
from django.utils import timezone

DELIVER_TASK = "outbound.deliver"
DELIVER_MANY_TASK = "outbound.deliver_many"
SWEEP_TASK = "outbound.deliver_due"


@shared_task(name=DELIVER_TASK, ignore_result=True)
def deliver_task(delivery_id: int) -> None:
    """One attempt of one delivery; a retryable failure enqueues the next attempt after its backoff."""
    from outbound.services import deliveries_enqueue, delivery_attempt

    delay = delivery_attempt(delivery_id=delivery_id, now=timezone.now())
    if delay is not None:
        deliveries_enqueue(delivery_ids=[delivery_id], countdown=delay)


@shared_task(name=DELIVER_MANY_TASK, ignore_result=True)
def deliver_many_task(delivery_ids: list[int]) -> None:
    """Split a chunk of deliveries into one task each (workers post them in parallel)."""
    for delivery_id in delivery_ids:
        deliver_task.apply_async((delivery_id,))


@shared_task(name=SWEEP_TASK, ignore_result=True)
def deliver_due_task() -> int:
    """Deliveries whose message was lost (broker or worker restarted): periodic, "Deliver due outbound events"."""
    from outbound.services import deliveries_enqueue_due

    return deliveries_enqueue_due(now=timezone.now())
