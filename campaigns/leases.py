"""Claims that know their batch is alive (Promise 9, docs/architecture.md).

A send batch opens a SendLease and claims rows under it. While it runs it
renews the lease (its heartbeat, from the thread that records outcomes) and
marks rows `dispatched_at` a small sub-chunk at a time, just before handing
them to the network. From that follow the three rules of a claim:

- a live batch's claims never expire, however slow the API: the sweep takes
  back only claims whose lease was not renewed for SEND_CLAIM_LEASE_MINUTES;
- a batch never sends a row it no longer holds: the dispatch is a conditional
  UPDATE on (queued, this lease), and a batch that could not renew its lease
  for half the lease stops dispatching before anyone may sweep it;
- after a crash only the requests in flight may become `unknown`: a swept
  row that was dispatched may have reached the user (unknown, never resent
  automatically); one that was not goes back to `pending` with its quota.

Lease times follow the batch's clock: its `now` plus the time it has been
running, so a batch run `--as-of` an instant stays consistent with itself.

Fanned out (campaigns/fanout.py), the batch makes one lease per chunk with its
claims and a send task takes it (`Lease.take`) and renews it while it sends.
A task lost before a worker took it never renews it: the sweep gives its rows
back to pending. The batch's own `end()` never touches rows handed to a chunk.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q

from campaigns import lifecycle
from campaigns.clock import as_utc
from campaigns.models import Recipient, SendLease
from campaigns.quota import quota_release_claims

logger = logging.getLogger(__name__)

R = Recipient.Status


def lease_duration() -> dt.timedelta:
    return dt.timedelta(minutes=settings.SEND_CLAIM_LEASE_MINUTES)


class Lease:
    """The running batch's lease: renewed every tenth of its duration, held while renewals succeed."""

    def __init__(self, *, now: dt.datetime, monotonic=time.monotonic, row: SendLease | None = None):
        self._monotonic = monotonic
        self._started = monotonic()
        self._now = as_utc(now)
        self.duration = lease_duration().total_seconds()
        self._every = self.duration / 10
        self._renewed = self._started  # monotonic time of the last successful renewal
        self._lost = False
        self._lock = threading.Lock()
        self.row = row or SendLease.objects.create(holder=_holder(), started_at=now, renewed_at=now)

    @classmethod
    def take(cls, *, pk: int, now: dt.datetime, monotonic=time.monotonic) -> Lease | None:
        """A send task takes its chunk's lease, renewing it at `now`; None when it can no longer be held.

        A chunk that waited in the queue for half a lease or more may be swept
        any moment: its undispatched rows go back to pending now instead, and
        the task sends nothing.
        """
        half = lease_duration() / 2
        taken = SendLease.objects.filter(pk=pk, chunk=True, taken_at__isnull=True, renewed_at__gt=now - half).update(
            renewed_at=now, taken_at=now, holder=_holder()
        )
        if not taken:
            if not SendLease.objects.filter(pk=pk, taken_at__isnull=False).exists():  # not another task's
                recipients_return_undispatched(lease_id=pk)
                SendLease.objects.filter(pk=pk).delete()
            return None
        return cls(now=now, monotonic=monotonic, row=SendLease.objects.get(pk=pk))

    @property
    def pk(self) -> int:
        return self.row.pk

    def clock(self) -> dt.datetime:
        """The batch's `now` advanced by the time it has been running."""
        return self._now + dt.timedelta(seconds=self._monotonic() - self._started)

    def renew_if_due(self) -> None:
        """The heartbeat: renew when a tenth of the lease went by. A lease the sweep took back is lost for good."""
        if self._lost or self._monotonic() - self._renewed < self._every:
            return
        with self._lock:
            attempted = self._monotonic()
            try:
                renewed = SendLease.objects.filter(pk=self.pk).update(renewed_at=self.clock())
            except Exception:  # the database is away: keep going while the lease still holds (held())
                logger.exception("send lease %s could not be renewed", self.pk)
                return
            if renewed:
                self._renewed = attempted
            else:
                self._lost = True
                logger.error("send lease %s was taken back: this batch sends nothing more", self.pk)

    def held(self) -> bool:
        """Whether this batch may still hand rows to the network.

        False once the lease was taken back, or when it could not be renewed
        for half its duration: the other half is the margin before any sweep
        may take the rows, so no row is ever sent by two batches.
        """
        return not self._lost and self._monotonic() - self._renewed < self.duration / 2

    def end(self) -> None:
        """The batch is over: rows it never dispatched go back to pending now, and the lease row goes."""
        try:
            recipients_return_undispatched(lease_id=self.pk)
            SendLease.objects.filter(pk=self.pk).delete()
        except Exception:  # the sweep does the same once the lease is stale
            logger.exception("send lease %s could not be closed; the sweep will take its claims back", self.pk)


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def recipients_dispatch(*, lease: Lease, ids: list[int]) -> set[int]:
    """Mark claims as handed to the network, only those still `queued` under this lease; returns their ids.

    One UPDATE per sub-chunk. A row the sweep took back, or that a stopped
    campaign released, is not returned: the caller never sends it.
    """
    if not ids or not lease.held():
        return set()
    rows = Recipient.objects.filter(id__in=ids, status=R.QUEUED, lease_id=lease.pk, dispatched_at__isnull=True)
    with transaction.atomic():
        dispatched = set(rows.select_for_update().values_list("id", flat=True))
        Recipient.objects.filter(id__in=dispatched).update(dispatched_at=lease.clock())
    return dispatched


def recipients_undispatch(*, lease: Lease, ids: list[int]) -> None:
    """Rows marked dispatched that no thread sent (the round stopped): they never left, say so."""
    if ids:
        Recipient.objects.filter(id__in=ids, status=R.QUEUED, lease_id=lease.pk).update(dispatched_at=None)


def recipients_return_undispatched(*, lease_id: int | None = None, stale: Q | None = None) -> int:
    """queued rows never handed to the network -> pending, their quota given back; returns how many.

    Of one lease (its batch ended) or of the rows matching `stale` (the sweep).
    """
    rows = Recipient.objects.filter(status=R.QUEUED, dispatched_at__isnull=True)
    rows = rows.filter(lease_id=lease_id) if stale is None else rows.filter(stale)
    moved = 0
    for campaign_id in rows.values_list("campaign_id", flat=True).distinct().order_by():
        with transaction.atomic():
            ids = list(rows.filter(campaign_id=campaign_id).select_for_update().values_list("id", flat=True))
            quota_release_claims(recipient_ids=ids)
            moved += lifecycle.recipients_move(
                campaign_id=campaign_id,
                ids=ids,
                old=R.QUEUED,
                new=R.PENDING,
                where=Q(dispatched_at__isnull=True),
                lease=None,
            )
    return moved


def recipients_expire_leases(*, now: dt.datetime) -> dict[str, int]:
    """The sweep: claims whose lease was not renewed for SEND_CLAIM_LEASE_MINUTES (their batch died).

    Dispatched ones -> unknown (the request may have gone out; never resent
    automatically; their quota stays spent); the others -> pending with their
    quota given back. Claims of a live lease are never touched. Returns how
    many of each.
    """
    cutoff = as_utc(now) - lease_duration()
    live = SendLease.objects.filter(pk=OuterRef("lease_id"), renewed_at__gte=cutoff)
    stale = Q(claimed_at__lt=cutoff) & ~Q(Exists(live))
    returned = recipients_return_undispatched(stale=stale)
    in_flight = Recipient.objects.filter(stale, status=R.QUEUED, dispatched_at__isnull=False)
    unknown = 0
    for campaign_id in in_flight.values_list("campaign_id", flat=True).distinct().order_by():
        ids = list(in_flight.filter(campaign_id=campaign_id).values_list("id", flat=True))
        unknown += lifecycle.recipients_move(
            campaign_id=campaign_id, ids=ids, old=R.QUEUED, new=R.UNKNOWN, attempts=F("attempts") + 1
        )
    SendLease.objects.filter(renewed_at__lt=cutoff).delete()
    if returned or unknown:
        logger.warning(
            "a send batch died: %d claim(s) it never sent are pending again, %d it had in flight are unknown",
            returned,
            unknown,
        )
    return {"pending": returned, "unknown": unknown}
