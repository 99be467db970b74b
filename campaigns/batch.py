"""The send batch: the fair, quota-bound, crash-safe send of every running campaign's share.

Order of work, each step a promise of docs/architecture.md:
1. housekeeping: stale claims -> unknown (never back to pending), scheduled
   campaigns whose start came -> running, end date passed -> pending cancelled,
   unsubscribed contacts -> skipped;
2. rounds of: lock the quota, count what is left (24-hour window and calendar
   day), split it by priority, claim due recipients in position order
   (FOR UPDATE SKIP LOCKED), reserve their quota, commit them `queued`;
3. send the round through the backend from a thread pool at up to each
   sender number's rate (campaigns/throttle.py), recording each outcome as
   soon as it is known; or, fanned out, hand the claims in chunks to send
   tasks that any worker runs (campaigns/fanout.py);
4. complete campaigns with nothing pending or queued, and say when to run
   again if the 24-hour window (not the day) held the batch back.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import queue
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DataError, IntegrityError, close_old_connections, connection, connections, transaction
from django.db.models import Exists, F, Min, OuterRef, Q
from django.utils import timezone

from audiences.models import Contact, Suppression
from campaigns import lifecycle, states
from campaigns.clock import as_utc, local_day
from campaigns.costs import budget_affordable, campaign_pause_for_budget
from campaigns.frequency import capped_phones, frequency_cap_applies
from campaigns.leases import Lease, recipients_dispatch, recipients_expire_leases, recipients_undispatch
from campaigns.links import recipient_token
from campaigns.models import Campaign, Recipient
from campaigns.planning import Demand, continuation_at, parse_clock, retry_delay, split_quota
from campaigns.quota import quota_free, quota_frees_at, quota_lock, quota_release, quota_reserve, quota_usage
from campaigns.ratecards import rate_book
from campaigns.rendering import build_components
from campaigns.throttle import LocalLimiter, sender_limiter
from whatsapp.platform import sending_blocked
from whatsapp.services import sender_default

logger = logging.getLogger(__name__)

C = Campaign.Status
R = Recipient.Status
LATER_DELAY = dt.timedelta(hours=24)


@dataclass
class BatchResult:
    sent: int = 0
    failed: int = 0
    retry_later: int = 0
    unknown: int = 0
    skipped: int = 0
    limit: int = 0
    used_24h: int = 0
    left: int = 0
    campaigns: dict[int, int] = field(default_factory=dict)  # campaign id -> sent
    paused: dict[int, str] = field(default_factory=dict)  # campaign id -> reason
    continue_at: dt.datetime | None = None
    seconds: float = 0.0  # how long the batch ran
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, outcome: str, campaign_id: int) -> None:
        with self._lock:
            setattr(self, outcome, getattr(self, outcome) + 1)
            if outcome == "sent":
                self.campaigns[campaign_id] = self.campaigns.get(campaign_id, 0) + 1

    def merge(self, other: dict) -> None:
        """Add a send task's outcome counts (its as_dict())."""
        with self._lock:
            for name in ("sent", "failed", "retry_later", "unknown"):
                setattr(self, name, getattr(self, name) + int(other.get(name, 0)))
            for cid, n in other.get("campaigns", {}).items():
                self.campaigns[int(cid)] = self.campaigns.get(int(cid), 0) + int(n)
            self.paused.update({int(cid): reason for cid, reason in other.get("paused", {}).items()})

    def as_dict(self) -> dict:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "retry_later": self.retry_later,
            "unknown": self.unknown,
            "skipped": self.skipped,
            "limit": self.limit,
            "used_24h": self.used_24h,
            "left": self.left,
            "campaigns": {str(cid): n for cid, n in sorted(self.campaigns.items())},
            "paused": {str(cid): reason for cid, reason in sorted(self.paused.items())},
            "continue_at": self.continue_at.isoformat() if self.continue_at else None,
            "seconds": round(self.seconds, 3),
            "messages_per_second": round(self.sent / self.seconds, 1) if self.seconds else 0.0,
        }


@dataclass(frozen=True, eq=False)  # one object per claimed row: compared and hashed by identity
class Claim:
    recipient_id: int
    campaign_id: int
    phone: str
    template_name: str
    language: str
    components: list
    attempts: int
    claimed_at: dt.datetime
    sender: str = ""  # the phone number id to send from; "": the backend's configured number
    limiter_key: str = ""  # the sender number whose rate limit applies
    rate: float = 0.0  # that number's messages per second; 0: unlimited

    def to_json(self) -> list:
        return [
            self.recipient_id, self.campaign_id, self.phone, self.template_name, self.language, self.components,
            self.attempts, self.claimed_at.isoformat(), self.sender, self.limiter_key, self.rate,
        ]  # fmt: skip

    @classmethod
    def from_json(cls, row: list) -> Claim:
        values = list(row)
        values[7] = dt.datetime.fromisoformat(values[7])
        return cls(*values)


def batch_send(*, now: dt.datetime, fan_out: bool = False, wait: bool = True) -> BatchResult:
    """Send every running campaign's share of what is left of the messaging limit at `now`.

    Safe to run concurrently and as often as wanted: claims are committed
    `queued` (with their quota) under this batch's lease before any API call,
    so two batches never send one recipient twice nor exceed the limit
    together (Promises 1, 2 and 9 in docs/architecture.md).

    `fan_out`: hand the claims in chunks to send tasks on the `send` queue
    (campaigns/fanout.py) instead of sending them from this process; `wait`:
    wait for those tasks and count their outcomes (the command), or return
    once the workers' backlog is full and say when to continue (the task).
    """
    now = as_utc(now)  # windows, leases and delays are real hours (campaigns/clock.py)
    started = time.monotonic()
    result = BatchResult()
    recipients_expire_leases(now=now)
    _campaigns_start_due(now=now)
    _campaigns_expire_ended(now=now)
    result.skipped += _recipients_skip_unsubscribed()
    chunk = _round_size()
    lease = Lease(now=now)
    backlogged = False
    try:
        if fan_out:
            from campaigns.fanout import batch_fan_out

            backlogged = batch_fan_out(now=now, lease=lease, result=result, wait=wait)
        else:
            while lease.held():
                claims = _claim_round(now=now, size=chunk, lease=lease)
                if not claims:
                    break
                _send_round(claims, now=now, result=result, lease=lease)
    finally:
        lease.end()
    _campaigns_complete(now=now)
    usage = quota_usage(now=now)
    result.limit, result.used_24h, result.left = usage.limit, usage.used_24h, usage.left
    result.continue_at = _continuation(now=now, usage=usage)
    if backlogged:  # the workers have enough queued: claim more once they took some
        from campaigns.fanout import FAN_OUT_AGAIN

        result.continue_at = now + FAN_OUT_AGAIN
    result.seconds = time.monotonic() - started
    return result


# --- 1. housekeeping -------------------------------------------------------


def _campaigns_start_due(*, now: dt.datetime) -> None:
    states.campaigns_move(Campaign.objects.filter(start_at__lte=now), to=C.RUNNING, from_={C.SCHEDULED}, now=now)


def _campaigns_expire_ended(*, now: dt.datetime) -> None:
    ended = Campaign.objects.filter(status__in=[C.SCHEDULED, C.RUNNING, C.PAUSED], end_at__lte=now)
    for campaign_id in ended.values_list("id", flat=True):
        lifecycle.recipients_move(campaign_id=campaign_id, ids=None, old=R.PENDING, new=R.CANCELLED)


def _recipients_skip_unsubscribed() -> int:
    """pending -> skipped where the row's own phone is suppressed, or its contact unsubscribed, erased or renumbered.

    The claim (`_due`) already leaves these out (Promises 3 and 8,
    docs/architecture.md); skipping them lets the campaign complete. An
    erased contact's rows are cancelled by the erasure, a renumbered one's
    pending rows follow the new number (audiences.services.contact_save);
    what an operator's retry or resend brings back to pending afterwards has
    no one to send to.
    """
    skipped = 0
    suppressed = Exists(Suppression.objects.filter(phone=OuterRef("phone")))
    moved_on = Q(contact__isnull=False) & ~Q(contact__phone=F("phone"))
    gone = Q(contact__isnull=True) | Q(contact__subscription=Contact.Subscription.UNSUBSCRIBED) | suppressed | moved_on
    for campaign_id in Campaign.objects.filter(status=C.RUNNING).values_list("id", flat=True):
        ids = list(
            Recipient.objects.filter(gone, campaign_id=campaign_id, status=R.PENDING).values_list("id", flat=True)
        )
        if ids:
            skipped += lifecycle.recipients_move(campaign_id=campaign_id, ids=ids, old=R.PENDING, new=R.SKIPPED)
    return skipped


# --- 2. claims -------------------------------------------------------------


def _round_size() -> int:
    """Claims per round: about a minute of sending, well inside the claim lease."""
    mps = settings.WHATSAPP_MAX_MPS
    return max(100, int(mps * 60)) if mps > 0 else 5000


def _due(campaign_id: int, now: dt.datetime, *, capped: bool = False):
    """Pending, due, own phone not suppressed, contact still subscribed and still at that phone, in send order.

    The suppression is tested on the row's own phone (Promise 8,
    docs/architecture.md): only the row's phone is what gets messaged. The
    contact's subscription stays as a second guard, and a row whose contact
    has another number now (a failed row retried after a phone edit) is not
    sent to the old one. Never filtered by estimated_send_date. `capped`: a
    marketing campaign under the frequency cap leaves out the phones at the
    cap (campaigns/frequency.py); they stay pending for a later day.
    """
    due = (
        Recipient.objects.filter(
            campaign_id=campaign_id,
            status=R.PENDING,
            contact__subscription=Contact.Subscription.SUBSCRIBED,
            contact__phone=F("phone"),
        )
        .exclude(Exists(Suppression.objects.filter(phone=OuterRef("phone"))))
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    )
    if capped:
        due = due.exclude(phone__in=capped_phones(now=now))
    return due.order_by("position")


def _claim_round(*, now: dt.datetime, size: int, lease: Lease) -> list[Claim]:
    """Reserve quota and claim recipients for one round under `lease`, committed `queued` before any send.

    Nothing while Meta restricts the account (whatsapp/platform.py
    `sending_blocked`): the threads' batch and the fan-out both claim here.

    Promise 2 (docs/architecture.md): the limit counts distinct phones. A
    recipient whose message costs nothing (`quota_free`: its phone already
    counted in the window, or in its customer-service window) is
    claimed whatever is left, in the round's room after the others; those
    share what is left by priority (`split_quota`), each costing one unit. A
    phone two campaigns reach in one round's first pass is charged to both
    (never less than Meta counts); the ledger's distinct count gives the unit
    back for the next round. At most `size` messages per round; a campaign's
    own daily cap counts messages.
    """
    if sending_blocked(now=now) is not None:
        return []
    with transaction.atomic():
        quota_lock()
        usage = quota_usage(now=now)
        left = min(usage.left, size)
        running = list(
            Campaign.objects.filter(status=C.RUNNING, start_at__lte=now).select_related("template", "sender")
        )
        demands = []
        budgets: dict[int, int] = {}  # campaign id -> messages it may claim this round
        book = rate_book(day=local_day(now)) if any(c.budget is not None for c in running) else None
        for campaign in running:
            budget = size
            if campaign.daily_cap:
                budget = min(size, campaign.daily_cap - usage.by_campaign_today.get(campaign.pk, 0))
            if budget <= 0:
                continue
            due = _due(campaign.pk, now, capped=frequency_cap_applies(campaign.template))
            if campaign.budget is not None:  # what its money allows (nothing: it pauses, in _within_budget)
                rows = list(due.values_list("id", "phone")[:budget])
                budget = min(budget, _within_budget(campaign, rows, book=book, now=now))
                if budget <= 0:
                    continue
            budgets[campaign.pk] = budget
            if left > 0:
                costing = due.exclude(quota_free(now=now))[: min(left, budget)].count()
                demands.append(Demand(campaign.pk, campaign.priority, costing))
        shares = split_quota(left, demands)
        claims: list[Claim] = []
        by_id = {campaign.pk: campaign for campaign in running}
        default_sender = sender_default()
        room = size
        # First what costs a unit, each campaign its share; then, in the room left, what costs nothing. The
        # free query runs after the first pass's reservations: a phone one campaign just counted is free to
        # the others.
        for costs in (True, False):
            for campaign_id, budget in sorted(budgets.items()):
                take = min(budget, room, shares.get(campaign_id, 0)) if costs else min(budget, room)
                if take <= 0:
                    continue
                campaign = by_id[campaign_id]
                due = _due(campaign_id, now, capped=frequency_cap_applies(campaign.template))
                due = due.exclude(quota_free(now=now)) if costs else due.filter(quota_free(now=now))
                rows = list(due.select_for_update(skip_locked=True, of=("self",)).values_list("id", "phone")[:take])
                if campaign.budget is not None:  # the rows really locked, each at its market's rate
                    rows = rows[: _within_budget(campaign, rows, book=book, now=now)]
                ids = [pk for pk, _phone in rows]
                if not ids:
                    continue
                room -= len(ids)
                budgets[campaign_id] -= len(ids)
                sender = campaign.sender if campaign.sender_id else default_sender
                claims += _claim(campaign, ids, sender=sender, now=now, lease=lease)
    return claims


def _claim(campaign: Campaign, ids: list[int], *, sender, now: dt.datetime, lease: Lease) -> list[Claim]:
    """pending -> queued under `lease` and their quota reserved (in the caller's transaction, under the lock)."""
    moved = lifecycle.recipients_move(
        campaign_id=campaign.pk,
        ids=ids,
        old=R.PENDING,
        new=R.QUEUED,
        claimed_at=now,
        queued_at=now,
        lease_id=lease.pk,
        dispatched_at=None,
    )
    if moved != len(ids):  # cannot happen under the lock; never reserve for rows we did not claim
        ids = list(Recipient.objects.filter(id__in=ids, status=R.QUEUED, claimed_at=now).values_list("id", flat=True))
    quota_reserve(now=now, campaign_id=campaign.pk, recipient_ids=ids)
    return [
        Claim(
            recipient_id=recipient.pk,
            campaign_id=campaign.pk,
            phone=recipient.phone,
            template_name=campaign.template.name,
            language=campaign.template.language,
            components=build_components(
                template=campaign.template,
                parameters=campaign.parameters,
                header_parameters=campaign.header_parameters,
                button_parameters=campaign.button_parameters,
                header_media_url=campaign.header_media_url,
                contact=recipient.contact,
                link_token=recipient_token(recipient.pk) if campaign.link_url else None,
            ),
            attempts=recipient.attempts,
            claimed_at=now,
            sender=sender.phone_number_id if campaign.sender_id else "",
            limiter_key=sender.phone_number_id,
            rate=sender.rate,
        )
        for recipient in Recipient.objects.filter(id__in=ids).select_related("contact").order_by("position")
    ]


def _within_budget(campaign: Campaign, rows: list, *, book, now: dt.datetime) -> int:
    """How many of the due `rows` ((id, phone) in send order) the budget allows; none left: the campaign pauses.

    Estimated per claim (campaigns/costs.py): each message at its market's
    rate, on top of what is spent and what is in flight; called under the
    quota lock, so two batches see each other's claims.
    """
    phones = [phone for _pk, phone in rows]
    fit, reason = budget_affordable(campaign=campaign, phones=phones, book=book)
    if phones and not fit:
        campaign_pause_for_budget(campaign_id=campaign.pk, reason=reason, now=now)
        logger.info("campaign %s paused: %s", campaign.pk, reason)
    return fit


# --- 3. sending --------------------------------------------------------------


def _send_round(claims: list[Claim], *, now: dt.datetime, result: BatchResult, lease: Lease) -> None:
    """Send the claims from WHATSAPP_SEND_THREADS threads; this thread dispatches, records and renews the lease.

    Claims are handed to the senders a sub-chunk (one per thread) at a time,
    each marked `dispatched_at` by one UPDATE just before (campaigns/leases.py):
    so at any moment only about two thread pools' worth of rows are
    dispatched and unanswered, and only those may become `unknown` if the
    process dies. Each accepted send is recorded `sent` with its message id
    within moments, many per transaction (lifecycle.recipients_advance): 32
    threads each updating the campaign's counter row would queue behind its
    lock. While it waits for outcomes this thread renews the batch's lease.
    """
    from whatsapp.backends import get_backend

    backend = get_backend()
    stopped: dict[int, str] = {}
    waiting = collections.deque(claims)  # claimed, not yet dispatched
    work: queue.SimpleQueue[Claim | None] = queue.SimpleQueue()  # dispatched, not yet taken; None: stop
    accepted: queue.SimpleQueue[tuple[Claim, str]] = queue.SimpleQueue()
    halt, all_dispatched = threading.Event(), threading.Event()
    threads = settings.WHATSAPP_SEND_THREADS
    inline = threads <= 1 or len(claims) == 1 or connection.in_atomic_block
    window = 1 if inline else threads

    def dispatch() -> None:
        """Hand the next sub-chunk to the senders, only the rows this batch still holds."""
        # Top the queue up to one window: with the senders' window, at most two are dispatched and unanswered.
        chunk = [waiting.popleft() for _ in range(min(window - work.qsize(), len(waiting)))]
        held = recipients_dispatch(lease=lease, ids=[claim.recipient_id for claim in chunk])
        for claim in chunk:
            if claim.recipient_id in held:
                work.put(claim)

    def send(claim: Claim) -> None:
        throttle = sender_limiter(claim.limiter_key, claim.rate)
        _send_one(claim, backend=backend, throttle=throttle, now=now, result=result, stopped=stopped, accepted=accepted)

    try:
        if inline:
            # One thread, or inside a caller's transaction that other connections cannot see: no pool.
            while waiting and lease.held():
                dispatch()
                while not work.empty():
                    send(work.get())
                _record_accepted(accepted, now=now, result=result)
                lease.renew_if_due()
            return

        def sender() -> None:
            # A blocking get() that a None wakes: a SimpleQueue.get(timeout=...) loop was seen to stay blocked
            # past its timeout (CI, under load), leaving the round waiting for a sender that never came back.
            try:
                while True:
                    claim = work.get()
                    if claim is None:
                        return
                    if halt.is_set() or not lease.held():
                        work.put(claim)  # given back below as never sent
                        return
                    try:
                        send(claim)
                    except Exception:  # a sender never dies silently: its row stays dispatched (unknown later)
                        logger.exception("recording the send of recipient %s failed", claim.recipient_id)
            finally:
                connections.close_all()  # each thread's own connection, closed at its end

        pool = [threading.Thread(target=sender, name=f"send-{i}") for i in range(min(threads, len(claims)))]
        for thread in pool:
            thread.start()
        stall_limit = max(60.0, 3 * settings.WHATSAPP_READ_TIMEOUT)
        progress, progressed_at = None, time.monotonic()
        try:
            while True:
                lease.renew_if_due()
                if not lease.held():
                    break
                if waiting and work.qsize() < window:
                    dispatch()
                if not waiting and not all_dispatched.is_set():
                    all_dispatched.set()
                    for _ in pool:
                        work.put(None)  # after the last claim: each sender ends once the queue is drained
                finished = not any(thread.is_alive() for thread in pool)
                if finished and (waiting or not work.empty()):
                    break  # no sender left: the rest was never sent and goes back to pending (Lease.end)
                # A watchdog: nothing dispatched, taken or answered for longer than any answer can take means the
                # round is stuck; stop it (what was never sent goes back to pending) rather than hold the batch.
                now_progress = (len(waiting), work.qsize(), result.sent, result.failed, result.unknown,
                                result.retry_later, accepted.qsize())  # fmt: skip
                if now_progress != progress:
                    progress, progressed_at = now_progress, time.monotonic()
                elif time.monotonic() - progressed_at > stall_limit:
                    logger.error("send round made no progress for %.0f s: stopped, the unsent go back", stall_limit)
                    break
                if not _record_accepted(accepted, now=now, result=result, wait=0.05) and finished:
                    break
        finally:
            halt.set()
            for _ in pool:
                work.put(None)  # wakes every sender still waiting
            for thread in pool:
                thread.join()
            close_old_connections()
        while _record_accepted(accepted, now=now, result=result):
            pass
    finally:
        _give_back(work, lease=lease)


def _give_back(work: queue.SimpleQueue, *, lease: Lease) -> None:
    """Rows dispatched that no sender took (the round stopped): never sent, so not in flight."""
    unsent = []
    while not work.empty():
        claim = work.get()
        if claim is not None:  # the senders' wake-up marks
            unsent.append(claim.recipient_id)
    try:
        recipients_undispatch(lease=lease, ids=unsent)
    except Exception:  # the sweep will count them as in flight: unknown, never a double send
        logger.exception("could not mark %d unsent claim(s) as never dispatched", len(unsent))


RECORD_AT_MOST = 500  # accepted sends recorded per transaction
MESSAGE_ID_MAX = Recipient._meta.get_field("message_id").max_length


def _record_accepted(accepted: queue.SimpleQueue, *, now: dt.datetime, result: BatchResult, wait: float = 0) -> int:
    """Record what the senders accepted so far (waiting up to `wait` s for the first); returns how many.

    Any answer is recorded per row, never a batch abort: a message id that
    is empty, too long for the column or already another row's makes that
    row `unknown` (it may have gone out) with the answer kept in its error
    details; an operator decides.
    """
    try:
        first = accepted.get(timeout=wait) if wait else accepted.get_nowait()
    except queue.Empty:
        return 0
    answers = [first]
    while len(answers) < RECORD_AT_MOST:
        try:
            answers.append(accepted.get_nowait())
        except queue.Empty:
            break
    record_answers(answers, now=now, result=result)
    return len(answers)


def record_answers(answers: list[tuple[Claim, str]], *, now: dt.datetime, result: BatchResult) -> None:
    """Record accepted sends: sent with their message ids, many rows per statement; odd answers -> unknown."""
    good, odd = _sort_answers(answers)
    try:
        _record_sent(good, now=now)
    except (IntegrityError, DataError):
        # Taken meanwhile (a webhook recorded it through the tracker): one row at a time finds which.
        logger.warning("recording %d accepted sends together failed; recording them one by one", len(good))
        good, odd = _record_one_by_one(good, odd, now=now)
    for claim, _ in good:
        result.add("sent", claim.campaign_id)
    for claim, message_id in odd.items():
        _record_odd_answer(claim, message_id, now=now)
        result.add("unknown", claim.campaign_id)


def _record_sent(good: list[tuple[Claim, str]], *, now: dt.datetime) -> None:
    """queued -> sent in one UPDATE per campaign; rows a webhook or the sweep moved first by the precedence rule."""
    by_campaign: dict[int, dict[int, str]] = collections.defaultdict(dict)
    for claim, message_id in good:
        by_campaign[claim.campaign_id][claim.recipient_id] = message_id
    with transaction.atomic():
        rest: dict[int, str] = {}
        for campaign_id, message_ids in sorted(by_campaign.items()):
            moved = lifecycle.recipients_record_accepted(campaign_id=campaign_id, message_ids=message_ids, at=now)
            rest.update({pk: m for pk, m in message_ids.items() if pk not in moved})
        if rest:
            lifecycle.recipients_advance(message_ids=rest, status=R.SENT, at=now)


def _sort_answers(answers: list[tuple[Claim, str]]) -> tuple[list[tuple[Claim, str]], dict[Claim, str]]:
    """Accepted answers whose message id can be recorded, and the odd ones (claim -> the id answered)."""
    odd: dict[Claim, str] = {}
    seen: dict[str, int] = {}
    for claim, message_id in answers:
        if not isinstance(message_id, str) or not message_id or len(message_id) > MESSAGE_ID_MAX:
            odd[claim] = message_id
        elif seen.setdefault(message_id, claim.recipient_id) != claim.recipient_id:
            odd[claim] = message_id  # the same id answered twice in this batch: the first keeps it
    fine = [(claim, m) for claim, m in answers if claim not in odd]
    taken = dict(
        Recipient.objects.filter(message_id__in=[m for _, m in fine])
        .exclude(pk__in=[claim.recipient_id for claim, _ in fine])
        .values_list("message_id", "pk")
    )
    for claim, message_id in fine:
        if message_id in taken:
            odd[claim] = message_id
    return [(claim, m) for claim, m in fine if claim not in odd], odd


def _record_one_by_one(good, odd, *, now: dt.datetime):
    recorded = []
    for claim, message_id in good:
        try:
            with transaction.atomic():
                lifecycle.recipient_advance(
                    recipient_id=claim.recipient_id, status=R.SENT, at=now, message_id=message_id
                )
            recorded.append((claim, message_id))
        except (IntegrityError, DataError):
            odd[claim] = message_id
    return recorded, odd


def _record_odd_answer(claim: Claim, message_id, *, now: dt.datetime) -> None:
    answer = repr(message_id)
    if len(answer) > 1000:
        answer = f"{answer[:1000]}... ({len(answer)} characters)"
    logger.error(
        "send to recipient %s accepted with an unusable message id %s; marked unknown", claim.recipient_id, answer
    )
    lifecycle.recipient_advance(
        recipient_id=claim.recipient_id,
        status=R.UNKNOWN,
        at=now,
        only_from={R.QUEUED},
        error={
            "error_title": "Accepted with an unusable message id",
            "error_details": f"WhatsApp accepted the send but answered message id {answer}: empty, too long, "
            "or already another message's. It may have reached the user.",
            "error_reason": "Accepted with an unusable message id: check before resending.",
        },
    )


def _send_one(
    claim: Claim,
    *,
    backend,
    throttle: LocalLimiter,
    now,
    result: BatchResult,
    stopped: dict,
    accepted: queue.SimpleQueue,
) -> None:

    if claim.campaign_id in stopped:
        _release(claim, now=now)
        result.add("retry_later", claim.campaign_id)
        return
    throttle.acquire()
    try:
        sent = backend.send_template(
            claim.phone,
            claim.template_name,
            claim.language,
            claim.components,
            tracker=str(claim.recipient_id),
            sender=claim.sender or None,
        )
    except Exception as exc:
        record_send_failure(claim, exc, now=now, result=result, stopped=stopped)
    else:
        accepted.put((claim, sent.message_id))  # recorded by _send_round's thread


def record_send_failure(claim: Claim, exc: Exception, *, now: dt.datetime, result: BatchResult, stopped: dict) -> None:
    """A send that raised instead of answering with a message id (the threads' and the fan-out's sends alike).

    A WhatsApp answer is recorded by its kind (`_record_error`); anything else
    may have gone out after the request left, so the row becomes `unknown`
    and is never resent automatically.
    """
    from whatsapp.errors import ErrorKind, WhatsAppError

    if isinstance(exc, WhatsAppError):
        result.add(_record_error(claim, exc, now=now, stopped=stopped), claim.campaign_id)
        if exc.kind == ErrorKind.STOP_CAMPAIGN:
            result.paused[claim.campaign_id] = exc.reason
        return
    logger.error("send to recipient %s ended without an answer; marked unknown", claim.recipient_id, exc_info=exc)
    lifecycle.recipient_advance(recipient_id=claim.recipient_id, status=R.UNKNOWN, at=now, only_from={R.QUEUED})
    result.add("unknown", claim.campaign_id)


def _error_fields(exc) -> dict:
    return {
        "error_code": exc.code,
        "error_title": (exc.title or "")[:255],
        "error_details": exc.details or "",
        "error_reason": exc.reason,
    }


def _record_error(claim: Claim, exc, *, now: dt.datetime, stopped: dict) -> str:
    """Record a refused or unanswered send by its kind; returns the BatchResult field it counts in."""
    from audiences.services import contact_unsubscribe
    from whatsapp.errors import ErrorKind

    now = as_utc(now)
    kind = exc.kind
    if kind == ErrorKind.UNKNOWN_OUTCOME:
        lifecycle.recipient_advance(
            recipient_id=claim.recipient_id, status=R.UNKNOWN, at=now, only_from={R.QUEUED}, error=_error_fields(exc)
        )
        return "unknown"
    with transaction.atomic():
        # Refused before being accepted: the limit did not count it.
        quota_release(recipient_id=claim.recipient_id, reserved_at=claim.claimed_at)
        if kind in (ErrorKind.TRANSIENT, ErrorKind.LATER):
            attempts = claim.attempts + 1
            if attempts >= settings.SEND_MAX_ATTEMPTS:
                _move(claim, R.FAILED, at=now, attempts=attempts, failed_at=now, **_error_fields(exc))
                return "failed"
            delay = LATER_DELAY if kind == ErrorKind.LATER else retry_delay(attempts)
            _move(claim, R.PENDING, attempts=attempts, next_attempt_at=now + delay, **_error_fields(exc))
            return "retry_later"
        if kind == ErrorKind.STOP_CAMPAIGN:
            stopped[claim.campaign_id] = exc.reason
            states.campaign_move(
                campaign_id=claim.campaign_id,
                to=C.PAUSED,
                now=now,
                from_={C.RUNNING, C.SCHEDULED},
                pause_reason=exc.reason,
                pause_error_code=exc.code,
            )
            _move(claim, R.PENDING, **_error_fields(exc))
            return "retry_later"
        _move(claim, R.FAILED, at=now, attempts=claim.attempts + 1, failed_at=now, **_error_fields(exc))
    if kind == ErrorKind.OPT_OUT:
        contact_unsubscribe(phone=claim.phone, reason=Contact.SubscriptionReason.API_ERROR_131050, at=now)
    return "failed"


def _move(claim: Claim, new: str, *, at: dt.datetime | None = None, **changes) -> int:
    if new == R.PENDING:
        changes.update(lease=None, dispatched_at=None)  # sent again only after a new claim
    return lifecycle.recipients_move(
        campaign_id=claim.campaign_id, ids=[claim.recipient_id], old=R.QUEUED, new=new, at=at, **changes
    )


def _release(claim: Claim, *, now: dt.datetime) -> None:
    """A claim of a campaign paused mid-round goes back to pending with its quota."""
    with transaction.atomic():
        if _move(claim, R.PENDING):
            quota_release(recipient_id=claim.recipient_id, reserved_at=claim.claimed_at)


# --- 4. completion and continuation ----------------------------------------


def _campaigns_complete(*, now: dt.datetime) -> None:
    """Running campaigns with nothing pending or queued (retries are pending) are completed."""
    open_rows = Recipient.objects.filter(campaign=OuterRef("pk"), status__in=[R.PENDING, R.QUEUED])
    done = Campaign.objects.exclude(Exists(open_rows))
    states.campaigns_move(done, to=C.COMPLETED, from_={C.RUNNING}, now=now)
    states.campaigns_move(done.filter(end_at__lte=now), to=C.COMPLETED, from_={C.SCHEDULED}, now=now)


def _continuation(*, now: dt.datetime, usage) -> dt.datetime | None:
    """When to run again today: the window (not the day) held us back, or a retry comes due."""
    now = as_utc(now)
    if usage.left_today <= 0:
        return None
    running = Campaign.objects.filter(status=C.RUNNING, start_at__lte=now).values_list("id", flat=True)
    waiting = Recipient.objects.filter(
        campaign_id__in=list(running),
        status=R.PENDING,
        contact__subscription=Contact.Subscription.SUBSCRIBED,
        contact__phone=F("phone"),
    ).exclude(Exists(Suppression.objects.filter(phone=OuterRef("phone"))))
    frees_at = None
    if usage.left_in_window <= 0:
        due = waiting.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))[: usage.left_today].count()
        if due:
            frees_at = quota_frees_at(now=now, needed=min(due, usage.left_today))
    retry_at = waiting.filter(next_attempt_at__gt=now).aggregate(m=Min("next_attempt_at"))["m"]
    return continuation_at(
        now=now,
        frees_at=frees_at,
        retry_at=retry_at,
        start=parse_clock(settings.SEND_WINDOW_START),
        end=parse_clock(settings.SEND_WINDOW_END),
        tz=timezone.get_default_timezone(),  # the sending hours are TIME_ZONE's, whoever is logged in
    )
