"""Outbound events: record them in the caller's transaction, deliver them after its commit.

docs/architecture.md, "Outbound events":
- `events_emit` is the one way an event is raised. In the caller's
  transaction it writes one Event per item and one Delivery per subscribed
  endpoint (two statements however many items), and enqueues the deliveries
  once that transaction commits. A rolled-back transaction sends nothing. It
  never raises: its writes sit in a savepoint, so a failure is logged and the
  caller's work goes on.
- `delivery_attempt` claims a due delivery (a conditional UPDATE), POSTs it
  once, signed (outbound/signing.py), logs the attempt, and says when to try
  again: network errors, timeouts, 408, 429 and 5xx are retried with
  exponential backoff and jitter, up to OUTBOUND_MAX_ATTEMPTS; any other
  answer is final.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import random
import time
import uuid
from dataclasses import dataclass
from functools import partial
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from outbound import signing
from outbound.models import Attempt, Delivery, Endpoint, Event, EventType

logger = logging.getLogger(__name__)

D = Delivery.Status
RESPONSE_KEPT = 500  # characters of an answer kept per attempt
RETRIED_STATUSES = frozenset({408, 429})
USER_AGENT = "whatsapp-campaigns-outbound/1"
# A claimed delivery is not claimed again for this long: the POST's timeouts and a margin.
LEASE_MARGIN = dt.timedelta(seconds=30)


# --- Emission ------------------------------------------------------------------------


def endpoints_subscribed(*, event_type: str) -> list[int]:
    """Ids of the active endpoints subscribed to `event_type` (a small table; JSON `contains` is not portable)."""
    active = Endpoint.objects.filter(active=True).values_list("pk", "event_types")
    return [pk for pk, types in active if event_type in types]


def event_types_wanted() -> set[str]:
    """The event types some active endpoint wants (one query): callers skip building payloads nobody wants."""
    try:
        active = Endpoint.objects.filter(active=True).values_list("event_types", flat=True)
        return {event_type for types in active for event_type in types}
    except Exception:
        logger.exception("outbound: could not read the endpoints' subscriptions")
        return set()


def event_wanted(*, event_type: str) -> bool:
    return event_type in event_types_wanted()


def events_emit(
    *, event_type: str, items: list[dict], at: dt.datetime | None = None, endpoint_ids: list[int] | None = None
) -> list[Event]:
    """One event per item of `items` (its `data`), delivered to every subscribed endpoint after the commit.

    `endpoint_ids` sends to those endpoints whatever they subscribed to (the
    admin's ping). Never raises: the code that raised the event goes on.
    """
    if not items:
        return []
    at = at or timezone.now()
    try:
        with transaction.atomic():  # a savepoint inside the caller's transaction: our failure is not theirs
            targets = endpoint_ids if endpoint_ids is not None else endpoints_subscribed(event_type=event_type)
            if not targets:
                return []
            events = Event.objects.bulk_create(
                [Event(id=uuid.uuid4(), type=event_type, data=_jsonable(data), created_at=at) for data in items]
            )
            now = timezone.now()
            deliveries = Delivery.objects.bulk_create(
                [
                    Delivery(event=event, endpoint_id=endpoint_id, created_at=now, next_attempt_at=now)
                    for event in events
                    for endpoint_id in targets
                ]
            )
    except Exception:
        logger.exception("outbound: %d %s event(s) not recorded", len(items), event_type)
        return []
    # robust: a broker that refuses the message fails neither the commit nor the caller; the sweep sends it.
    transaction.on_commit(partial(deliveries_enqueue, delivery_ids=[d.pk for d in deliveries]), robust=True)
    return events


ENQUEUE_CHUNK = 500


def deliveries_enqueue(*, delivery_ids: list[int], countdown: float | None = None) -> None:
    """Hand deliveries to the `outbound` queue's workers.

    Many at once (a bulk move, an import's opt-outs) go as one message per
    ENQUEUE_CHUNK that a worker splits, so the caller's commit pays for a few
    messages, not one per delivery.
    """
    from outbound.tasks import deliver_many_task, deliver_task

    if len(delivery_ids) == 1 or countdown is not None:
        for delivery_id in delivery_ids:
            deliver_task.apply_async((delivery_id,), countdown=countdown)
        return
    for start in range(0, len(delivery_ids), ENQUEUE_CHUNK):
        deliver_many_task.apply_async((delivery_ids[start : start + ENQUEUE_CHUNK],))


def deliveries_enqueue_due(*, now: dt.datetime, late: dt.timedelta = dt.timedelta(minutes=2)) -> int:
    """The sweep: enqueue pending deliveries due for more than `late` (their message was lost); how many.

    Enqueueing one that is also waiting in the broker is harmless: the first
    task claims it, the other finds it not due.
    """
    due = list(
        Delivery.objects.filter(status=D.PENDING, next_attempt_at__lte=now - late)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:1000]
    )
    deliveries_enqueue(delivery_ids=due)
    return len(due)


def _jsonable(data: dict) -> dict:
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


# --- Delivery ------------------------------------------------------------------------


@dataclass
class AttemptResult:
    status_code: int | None = None
    response: str = ""
    error: str = ""
    retry: bool = False
    retry_after: float | None = None  # seconds, from the endpoint's Retry-After

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def event_body(event: Event) -> bytes:
    """The JSON body of every attempt of every delivery of `event` (minified: exactly the signed bytes)."""
    payload = {"id": str(event.pk), "type": event.type, "created_at": event.created_at.isoformat(), "data": event.data}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder).encode()


def retry_delay(attempts: int, *, retry_after: float | None = None) -> float:
    """Seconds before attempt `attempts + 1`: base x 4^(attempts-1), capped, half jittered; Retry-After if longer."""
    base, cap = settings.OUTBOUND_RETRY_BASE_SECONDS, settings.OUTBOUND_RETRY_MAX_SECONDS
    delay = min(cap, base * 4 ** max(attempts - 1, 0))
    delay = delay / 2 + random.uniform(0, delay / 2)  # jitter: endpoints that failed together do not retry together
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return delay


def delivery_attempt(*, delivery_id: int, now: dt.datetime) -> float | None:
    """Claim the delivery if it is due, POST it once and record the attempt; seconds until the next one, or None.

    pending → succeeded (2xx), pending → failed (any other answer, or the last
    retryable failure), pending stays pending with `next_attempt_at` moved on
    (a retryable failure). Not due, not pending or gone: nothing (None).
    """
    lease = dt.timedelta(seconds=settings.OUTBOUND_CONNECT_TIMEOUT + settings.OUTBOUND_TIMEOUT) + LEASE_MARGIN
    claimed = Delivery.objects.filter(pk=delivery_id, status=D.PENDING, next_attempt_at__lte=now).update(
        next_attempt_at=now + lease
    )
    if not claimed:
        return None
    delivery = Delivery.objects.select_related("event", "endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    started_at = timezone.now()
    started = time.monotonic()
    if endpoint.active:
        result = _post(endpoint=endpoint, event=delivery.event, timestamp=int(started_at.timestamp()))
    else:
        result = AttemptResult(error="endpoint deactivated")
    duration_ms = round((time.monotonic() - started) * 1000)
    attempts = delivery.attempts + 1
    delay = None
    if result.succeeded:
        changes = {"status": D.SUCCEEDED, "next_attempt_at": None, "finished_at": timezone.now()}
    elif result.retry and attempts < settings.OUTBOUND_MAX_ATTEMPTS:
        delay = retry_delay(attempts, retry_after=result.retry_after)
        changes = {"next_attempt_at": timezone.now() + dt.timedelta(seconds=delay)}
    else:
        changes = {"status": D.FAILED, "next_attempt_at": None, "finished_at": timezone.now()}
    with transaction.atomic():
        Attempt.objects.create(
            delivery=delivery,
            started_at=started_at,
            duration_ms=duration_ms,
            status_code=result.status_code,
            response=result.response,
            error=result.error,
        )
        Delivery.objects.filter(pk=delivery_id).update(
            attempts=F("attempts") + 1, last_status_code=result.status_code, last_error=result.error, **changes
        )
    # The endpoint's id and host only: a URL's path or query may carry the receiver's own token.
    logger.info(
        "outbound: %s %s to endpoint %s (%s), attempt %d: %s in %d ms%s",
        delivery.event.type,
        delivery.event.pk,
        endpoint.pk,
        urlsplit(endpoint.url).hostname,
        attempts,
        result.status_code or result.error,
        duration_ms,
        f", again in {delay:.1f} s" if delay is not None else "",
    )
    return delay


def _post(*, endpoint: Endpoint, event: Event, timestamp: int) -> AttemptResult:
    body = event_body(event)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signing.headers(secret=endpoint.secret, msg_id=str(event.pk), timestamp=timestamp, body=body),
    }
    try:
        # No redirects (the Standard Webhooks advice): a moved endpoint is re-registered, not followed.
        with requests.post(
            endpoint.url,
            data=body,
            headers=headers,
            timeout=(settings.OUTBOUND_CONNECT_TIMEOUT, settings.OUTBOUND_TIMEOUT),
            allow_redirects=False,
            stream=True,
        ) as response:
            first = next(response.iter_content(RESPONSE_KEPT * 4), b"")
            code = response.status_code
            return AttemptResult(
                status_code=code,
                response=first.decode("utf-8", errors="replace")[:RESPONSE_KEPT],
                retry=code in RETRIED_STATUSES or code >= 500,
                retry_after=_retry_after(response.headers.get("Retry-After")),
            )
    except (requests.Timeout, requests.ConnectionError) as exc:
        return AttemptResult(error=_describe(exc), retry=True)
    except requests.RequestException as exc:  # a URL requests cannot use: retrying will not help
        return AttemptResult(error=_describe(exc))


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:1000]


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds from now: delay-seconds or an HTTP date (RFC 9110 §10.2.3); None when unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - timezone.now()).total_seconds())


# --- The operator's actions ----------------------------------------------------------


def deliveries_resend(*, deliveries: QuerySet[Delivery], now: dt.datetime) -> int:
    """Send the deliveries again (any status) with a fresh set of attempts; how many. Their log is kept."""
    ids = list(deliveries.values_list("pk", flat=True))
    with transaction.atomic():
        moved = Delivery.objects.filter(pk__in=ids).update(
            status=D.PENDING, attempts=0, next_attempt_at=now, finished_at=None
        )
        transaction.on_commit(partial(deliveries_enqueue, delivery_ids=ids), robust=True)
    return moved


def endpoint_ping(*, endpoint: Endpoint, now: dt.datetime) -> Event | None:
    """A `ping` event to this endpoint only (whatever it subscribed to), so the operator can test it."""
    events = events_emit(
        event_type=EventType.PING, items=[{"endpoint_id": endpoint.pk}], at=now, endpoint_ids=[endpoint.pk]
    )
    return events[0] if events else None


def endpoint_rotate_secret(*, endpoint: Endpoint) -> None:
    """A new secret; deliveries from now on are signed with it (the old one stops working at once)."""
    endpoint.secret = signing.secret_generate()
    endpoint.save(update_fields=["secret", "updated_at"])
