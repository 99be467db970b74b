"""Fan-out: the batch hands its claims to send tasks, in chunks, so every worker sends (docs/architecture.md).

The batch keeps its job (housekeeping, the fair split, claims committed
`queued` with their quota before any request). Each chunk (one campaign, at
most SEND_CHUNK_SIZE rows) gets its own SendLease, made with `renewed_at` =
now in the transaction that moves the rows onto it, and a send task on the
`send` queue. The task takes the lease (`Lease.take`), renews it while it
sends and ends it when done. So the lease rules hold unchanged:

- a task lost before a worker took it never renews its lease: after
  SEND_CLAIM_LEASE_MINUTES the sweep returns its rows to pending with their
  quota (nothing of it was dispatched);
- a worker killed mid-chunk leaves only its dispatched, unanswered rows to
  become `unknown`; the rest of its chunk goes back to pending;
- send tasks are not acks_late: a redelivered task finds its lease taken or
  gone and sends nothing.

A task sends its chunk with the asynchronous sender: one event loop per
process (a thread) holding the backend's pooled keep-alive aiohttp session,
about rate x latency requests in flight, slots reserved from the number's
shared limiter (campaigns/throttle.py) just before each sub-chunk is
dispatched; answers are recorded many rows per statement by the task's thread.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import datetime as dt
import logging
import math
import os
import queue
import threading
import time

from django.conf import settings
from django.db import transaction

from campaigns.batch import (
    RECORD_AT_MOST,
    BatchResult,
    Claim,
    _claim_round,
    _release,
    _round_size,
    record_answers,
    record_send_failure,
)
from campaigns.leases import Lease, lease_duration, recipients_dispatch, recipients_return_undispatched
from campaigns.models import Recipient, SendLease
from campaigns.throttle import in_flight_limit, sender_limiter

logger = logging.getLogger(__name__)

R = Recipient.Status
FAN_OUT_AGAIN = dt.timedelta(seconds=10)  # the task's next look when the workers' backlog was full
POLL = 0.05
LEAD = 0.05  # a sub-chunk is dispatched this long before its first slot


# --- the batch's side ----------------------------------------------------------


def batch_fan_out(*, now: dt.datetime, lease: Lease, result: BatchResult, wait: bool) -> bool:
    """Claim rounds and hand them out while fewer than SEND_FAN_OUT_BACKLOG chunks wait for a worker.

    With `wait`, wait for every task handed out and add up their outcomes;
    without, return as soon as the backlog is full. Returns True when it
    stopped with claims possibly left (backlog full, not waiting).
    """
    outstanding: dict[int, object] = {}  # chunk lease id -> AsyncResult
    watch = _Watch()
    exhausted = False
    while True:
        lease.renew_if_due()
        if outstanding:
            _collect(outstanding, result=result, lease=lease, watch=watch)
        if exhausted or not lease.held():
            if not wait or not outstanding:
                return False
            time.sleep(POLL)
            continue
        free = settings.SEND_FAN_OUT_BACKLOG - _backlog(lease)
        if free <= 0:
            if not wait:
                return True
            time.sleep(POLL)
            continue
        claims = _claim_round(now=now, size=min(_round_size(), free * settings.SEND_CHUNK_SIZE), lease=lease)
        if not claims:
            exhausted = True
            continue
        for chunk_id, chunk in claims_hand_out(claims, lease=lease):
            handed = _enqueue(chunk_id, chunk, now=lease.clock())
            if handed is not None:
                outstanding[chunk_id] = handed


def _backlog(lease: Lease) -> int:
    """Chunks waiting for a worker; not those waiting for half a lease (their task was lost: never taken)."""
    since = lease.clock() - lease_duration() / 2
    return SendLease.objects.filter(chunk=True, taken_at__isnull=True, renewed_at__gt=since).count()


def claims_hand_out(claims: list[Claim], *, lease: Lease) -> list[tuple[int, list[Claim]]]:
    """Move the batch's claims onto one new lease per chunk (one campaign each); the chunks with their lease ids.

    One transaction per chunk makes the lease and moves its rows: from then
    on the batch's `Lease.end()` no longer returns them; the chunk's lease does.
    """
    size = max(1, settings.SEND_CHUNK_SIZE)
    by_campaign: dict[int, list[Claim]] = collections.defaultdict(list)
    for claim in claims:
        by_campaign[claim.campaign_id].append(claim)
    chunks = []
    for campaign_claims in by_campaign.values():
        for start in range(0, len(campaign_claims), size):
            chunk = campaign_claims[start : start + size]
            at = lease.clock()
            with transaction.atomic():
                row = SendLease.objects.create(
                    holder=f"queued by {lease.row.holder}"[:200], started_at=at, renewed_at=at, chunk=True
                )
                Recipient.objects.filter(
                    id__in=[claim.recipient_id for claim in chunk],
                    status=R.QUEUED,
                    lease_id=lease.pk,
                    dispatched_at__isnull=True,
                ).update(lease_id=row.pk)
            chunks.append((row.pk, chunk))
    return chunks


def _enqueue(chunk_id: int, chunk: list[Claim], *, now: dt.datetime):
    from campaigns.tasks import send_chunk_task

    try:
        return send_chunk_task.apply_async(args=[chunk_id, now.isoformat(), time.time(), [c.to_json() for c in chunk]])
    except Exception:  # the broker is away: nothing was sent, give the rows back now
        logger.exception("send chunk %s could not be queued; its %d claims are pending again", chunk_id, len(chunk))
        recipients_return_undispatched(lease_id=chunk_id)
        SendLease.objects.filter(pk=chunk_id).delete()
        return None


class _Watch:
    """When the batch last looked at its chunks' leases (once a second is enough)."""

    def __init__(self):
        self.at = 0.0
        self.gone: dict[int, float] = {}  # chunk lease id -> when first seen gone without a result


def _collect(outstanding: dict, *, result: BatchResult, lease: Lease, watch: _Watch) -> None:
    """Add up finished tasks; give up on chunks whose task was lost (their rows follow the lease rules)."""
    for chunk_id, handed in list(outstanding.items()):
        if handed.ready():
            del outstanding[chunk_id]
            if handed.successful():
                result.merge(handed.result)
            else:
                logger.error("send chunk %s failed: %r; its rows follow the lease rules", chunk_id, handed.result)
            handed.forget()
    now = time.monotonic()
    if not outstanding or now - watch.at < 1:
        return
    watch.at = now
    cutoff = lease.clock() - lease_duration()
    alive = dict(SendLease.objects.filter(pk__in=list(outstanding)).values_list("pk", "renewed_at"))
    for chunk_id in list(outstanding):
        renewed = alive.get(chunk_id)
        if renewed is None:
            # Ended (its result is on its way) or swept: wait a little for the result, then count it lost.
            if now - watch.gone.setdefault(chunk_id, now) > 10:
                logger.error("send chunk %s ended without a result (its worker died?)", chunk_id)
                del outstanding[chunk_id]
        elif renewed < cutoff:
            logger.error("send chunk %s is no longer renewed: its worker died; the sweep takes its rows", chunk_id)
            del outstanding[chunk_id]


# --- the send task's side --------------------------------------------------------


def chunk_send(*, lease_id: int, claims: list[Claim], now: dt.datetime) -> BatchResult:
    """Send one chunk under its lease (the send task); the outcome counts.

    Promise 9: only rows dispatched under the lease, one sub-chunk at a time,
    can become `unknown` if this process dies; `Lease.end()` returns the rest.
    """
    started = time.monotonic()
    result = BatchResult()
    lease = Lease.take(pk=lease_id, now=now)
    if lease is None:
        logger.warning("send chunk %s was taken back before this task started; nothing sent", lease_id)
        return result
    try:
        _send_chunk(claims, lease=lease, now=now, result=result)
    finally:
        lease.end()
        result.seconds = time.monotonic() - started
    return result


def _send_chunk(claims: list[Claim], *, lease: Lease, now: dt.datetime, result: BatchResult) -> None:
    from whatsapp.backends import get_backend

    if not claims:
        return
    backend = get_backend()
    loop = _loop()
    first = claims[0]
    limiter = sender_limiter(first.limiter_key, first.rate)
    interval = 1 / limiter.rate if limiter.rate > 0 else 0.0  # the limiter's spacing, its margin included
    waiting = collections.deque(claims)
    done: queue.SimpleQueue = queue.SimpleQueue()
    stopped: dict[int, str] = {}
    in_flight = 0
    answers: list[tuple[Claim, str]] = []

    def take_outcomes(wait: float) -> None:
        nonlocal in_flight
        try:
            item = done.get(timeout=wait) if wait > 0 else done.get_nowait()
        except queue.Empty:
            return
        while True:
            claim, future = item
            in_flight -= 1
            try:
                answers.append((claim, future.result().message_id))
            except Exception as exc:
                record_send_failure(claim, exc, now=now, result=result, stopped=stopped)
            if len(answers) >= RECORD_AT_MOST:
                flush()
            try:
                item = done.get_nowait()
            except queue.Empty:
                return

    flushed = time.monotonic()

    def flush(*, every: float = 0.0) -> None:
        """Record the accepted answers: at most every `every` seconds, so each statement records many rows."""
        nonlocal flushed
        if answers and time.monotonic() - flushed >= every:
            record_answers(list(answers), now=now, result=result)
            answers.clear()
            flushed = time.monotonic()

    try:
        while waiting or in_flight:
            lease.renew_if_due()
            window = in_flight_limit(first.rate, latency=loop.latency)
            # A sub-chunk: a tenth of a second of the rate, or an eighth of the window when unlimited, so
            # the window is topped up as answers come back rather than emptied and refilled.
            step = min(window, max(1, math.ceil(first.rate * 0.1)) if first.rate > 0 else max(8, window // 8))
            can_dispatch = bool(waiting) and lease.held() and window - in_flight >= min(step, len(waiting))
            take_outcomes(0 if can_dispatch else POLL)
            flush(every=0.1)
            if not can_dispatch:
                continue
            if first.campaign_id in stopped:  # paused by an answer: the rest go back to pending
                while waiting:
                    claim = waiting.popleft()
                    _release(claim, now=now)
                    result.add("retry_later", claim.campaign_id)
                continue
            n = min(window - in_flight, step, len(waiting))
            slot = time.monotonic() + limiter.reserve(n)
            # Dispatch a little before our first slot (recording meanwhile); each send then waits for its own
            # slot on the loop, so a late dispatcher never pushes them later nor squeezes them together.
            while (left := slot - LEAD - time.monotonic()) > 0.002:
                take_outcomes(min(left, POLL))
                lease.renew_if_due()  # many processes sharing a slow number may wait long for their slots
            batch = [waiting.popleft() for _ in range(n)]
            held = recipients_dispatch(lease=lease, ids=[claim.recipient_id for claim in batch])
            for i, claim in enumerate(batch):
                if claim.recipient_id not in held:
                    continue
                future = loop.submit(_send(backend, claim, at=slot + i * interval, loop=loop))
                future.add_done_callback(lambda f, claim=claim: done.put((claim, f)))
                in_flight += 1
            # Claims this lease no longer holds were taken back (the sweep, a paused campaign): not ours.
    finally:
        flush()


async def _send(backend, claim: Claim, *, at: float, loop: _Loop):
    """Send at the monotonic instant `at` (its slot), not before."""
    if (delay := at - time.monotonic()) > 0:
        await asyncio.sleep(delay)
    started = time.monotonic()
    try:
        return await backend.asend_template(
            claim.phone,
            claim.template_name,
            claim.language,
            claim.components,
            tracker=str(claim.recipient_id),
            sender=claim.sender or None,
        )
    finally:
        loop.observe(time.monotonic() - started)


class _Loop:
    """This process's event loop, in a daemon thread: the backend's aiohttp session lives on it across tasks."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.latency = 0.25  # seconds per request, a moving average (sizes the window: rate x latency)
        self._thread = threading.Thread(target=self.loop.run_forever, name="send-loop", daemon=True)
        self._thread.start()

    def submit(self, coroutine) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def observe(self, seconds: float) -> None:
        self.latency += (seconds - self.latency) * 0.05


_loops: dict[int, _Loop] = {}
_loops_lock = threading.Lock()


def _loop() -> _Loop:
    """One loop per process (a forked worker child makes its own)."""
    pid = os.getpid()
    with _loops_lock:
        if pid not in _loops:
            _loops[pid] = _Loop()
        return _loops[pid]
