"""Retry failed: requeue the failures a resend can fix, and say in numbers what is left out and why.

Which failures a resend can fix is decided by the error table
(whatsapp/errors.py), never by title:
- never retried: codes permanent for the recipient (131026, 130472, ...) and
  the opt-out code 131050, and any recipient whose phone is unsubscribed now,
  whatever its code (Promise 3: nothing to an unsubscribed contact);
- retried: transient and "later" codes, the codes that paused the campaign
  (an account or template problem the operator has fixed since), codes the
  table does not know, and failures reported with no code: nothing says a
  resend cannot work, and the operator asked for it.

Attempts are kept (the recipient's page shows every try). The send batch
gives a requeued recipient one send whatever its count; if that send is
refused again with a transient code it fails at once rather than backing
off again (attempts >= SEND_MAX_ATTEMPTS): each "Retry failed" buys exactly
one more attempt, and the operator sees its result. A 131049 ("later")
failure is requeued for no sooner than 24 hours after it failed.

A completed or cancelled campaign is closed: retrying needs `reopen=True`
(the operator's explicit choice, behind its own confirmation), which moves it
back to running so the requeued recipients are actually sent; a cancelled
campaign's cancelled recipients stay cancelled.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count, F, Q
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from audiences.models import Contact
from campaigns import lifecycle, states
from campaigns.models import Campaign, Recipient
from whatsapp.errors import LATER_CODES, OPT_OUT_CODES, PERMANENT_CODES

C = Campaign.Status
R = Recipient.Status

LATER_DELAY = dt.timedelta(hours=24)  # 131049: no sooner than 24 h after the failure
CLOSED = frozenset({C.COMPLETED, C.CANCELLED})
RETRY_FROM = frozenset({C.SCHEDULED, C.RUNNING, C.PAUSED}) | CLOSED

UNSUBSCRIBED = "unsubscribed"
PERMANENT = "permanent"
OPT_OUT = "opt_out"


class RetryRefused(ValueError):
    """Retry failed does not apply as asked; the message says why. Nothing was changed."""


@dataclass(frozen=True)
class RetryPlan:
    """What "Retry failed" would do now: how many of the failed it requeues, and why the others stay failed."""

    status: str
    failed: int
    retryable: int
    not_retried: dict[str, int] = field(default_factory=dict)  # reason -> recipients
    codes: dict[str, list[int]] = field(default_factory=dict)  # reason (or "retried") -> the error codes seen
    later: int = 0  # of the retryable, failed with a "later" code (131049): sent no sooner than 24 h after

    @property
    def needs_reopen(self) -> bool:
        return self.status in CLOSED

    @property
    def reasons(self) -> list[str]:
        """Each reason for not retrying, as the confirmation page says it."""
        texts = []
        for reason, count in self.not_retried.items():
            codes = ", ".join(str(code) for code in self.codes.get(reason, []))
            if reason == UNSUBSCRIBED:
                text = ngettext(
                    "%(n)d has unsubscribed since: nothing is sent to them",
                    "%(n)d have unsubscribed since: nothing is sent to them",
                    count,
                )
            elif reason == OPT_OUT:
                text = _("%(n)d stopped marketing messages (error %(codes)s)")
            else:
                text = ngettext(
                    "%(n)d failed for good: WhatsApp refuses a resend the same way (error %(codes)s)",
                    "%(n)d failed for good: WhatsApp refuses a resend the same way (errors %(codes)s)",
                    len(self.codes.get(reason, [])),
                )
            texts.append(text % {"n": count, "codes": codes})
        return texts

    @property
    def summary(self) -> str:
        """ "Retry 14 of 20 failed: 6 will not be retried, because ..." """
        head = _("Retry %(retryable)d of %(failed)d failed") % {"retryable": self.retryable, "failed": self.failed}
        left_out = self.failed - self.retryable
        if not left_out:
            return head + "."
        return (
            head
            + ": "
            + ngettext(
                "%(n)d will not be retried, because %(why)s.",
                "%(n)d will not be retried, because %(why)s.",
                left_out,
            )
            % {"n": left_out, "why": "; ".join(self.reasons)}
        )


@dataclass(frozen=True)
class RetryOutcome:
    plan: RetryPlan  # the numbers as they were when the retry ran
    requeued: int
    reopened: bool


def _never_retried() -> Q:
    """Failed rows a resend cannot fix (any reason)."""
    unsubscribed = Q(contact__subscription=Contact.Subscription.UNSUBSCRIBED)
    return Q(error_code__in=PERMANENT_CODES | OPT_OUT_CODES) | unsubscribed


def retry_failed_any(*, campaign: Campaign) -> bool:
    """Whether "Retry failed" would requeue anyone now (`retry_failed_plan(...).retryable > 0`), for its button.

    The plan's grouped query joins every failed row to its contact (375 ms on a million recipients), more than the
    campaign page and the dashboard need to draw a button. Here: the failed rows' codes, read from the partial index
    `campaigns_rcpt_failed` alone, then one EXISTS over the rows of the codes a resend can fix, stopping at the
    first whose contact has not unsubscribed. Filtering the codes inside the EXISTS instead would visit every
    failed row when none is retryable (300 ms cold on the bench).
    """
    failed = Recipient.objects.filter(campaign_id=campaign.pk, status=R.FAILED)
    codes = set(failed.order_by().values_list("error_code", flat=True).distinct())
    retried = {code for code in codes if code is not None} - PERMANENT_CODES - OPT_OUT_CODES
    if not retried and None not in codes:
        return False
    of_retried = Q(error_code__in=retried) | Q(error_code__isnull=True) if None in codes else Q(error_code__in=retried)
    unsubscribed = Q(contact__subscription=Contact.Subscription.UNSUBSCRIBED)
    return failed.filter(of_retried).exclude(unsubscribed).exists()


def retry_failed_plan(*, campaign: Campaign) -> RetryPlan:
    """The numbers of a "Retry failed" now, read in one grouped query over the campaign's failed rows."""
    status = Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).first() or campaign.status
    groups = (
        Recipient.objects.filter(campaign_id=campaign.pk, status=R.FAILED)
        .values("error_code", "contact__subscription")
        .annotate(n=Count("id"))
        .order_by("error_code")
    )
    failed = retryable = later = 0
    not_retried: dict[str, int] = {}
    codes: dict[str, list[int]] = {}
    for group in groups:
        n, code = group["n"], group["error_code"]
        failed += n
        if group["contact__subscription"] == Contact.Subscription.UNSUBSCRIBED:
            reason = UNSUBSCRIBED
        elif code in OPT_OUT_CODES:
            reason = OPT_OUT
        elif code in PERMANENT_CODES:
            reason = PERMANENT
        else:
            retryable += n
            later += n if code in LATER_CODES else 0
            codes.setdefault("retried", [])
            if code not in codes["retried"]:
                codes["retried"].append(code)
            continue
        not_retried[reason] = not_retried.get(reason, 0) + n
        if code is not None and code not in codes.setdefault(reason, []):
            codes[reason].append(code)
    return RetryPlan(
        status=status, failed=failed, retryable=retryable, not_retried=not_retried, codes=codes, later=later
    )


def campaign_retry_failed(*, campaign: Campaign, now: dt.datetime, reopen: bool = False) -> RetryOutcome:
    """failed -> pending for the failures a resend can fix (see the module docstring); the numbers of what it did.

    Refused (RetryRefused, nothing changed) on a draft, and on a completed or
    cancelled campaign unless `reopen`: then, if anything was requeued, the
    campaign moves back to running (a cancelled one only while its end date
    is ahead, else the batch would cancel the requeued rows again).
    """
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status not in RETRY_FROM:
            raise RetryRefused(_("%(campaign)s is %(status)s: it has nothing to retry.") % _named(locked))
        if locked.status in CLOSED and not reopen:
            raise RetryRefused(
                _(
                    "%(campaign)s is %(status)s: retrying its failures sends messages again, "
                    "so it must be reopened explicitly."
                )
                % _named(locked)
            )
        if locked.status in CLOSED and locked.end_at is not None and locked.end_at <= now:
            raise RetryRefused(
                _("%(campaign)s ended at %(end)s: set a later end date before reopening it.")
                % {**_named(locked), "end": locked.end_at.isoformat(timespec="minutes")}
            )
        plan = retry_failed_plan(campaign=locked)
        retry = ~_never_retried()
        later = Q(error_code__in=LATER_CODES, failed_at__gt=now - LATER_DELAY)
        common = {"lease": None, "dispatched_at": None}
        requeued = lifecycle.recipients_move(
            campaign_id=locked.pk,
            ids=None,
            old=R.FAILED,
            new=R.PENDING,
            where=retry & later,
            next_attempt_at=F("failed_at") + LATER_DELAY,
            **common,
        )
        requeued += lifecycle.recipients_move(
            campaign_id=locked.pk, ids=None, old=R.FAILED, new=R.PENDING, where=retry, next_attempt_at=None, **common
        )
        reopened = False
        if requeued and locked.status in CLOSED:
            reopened = states.campaign_move(campaign_id=locked.pk, to=C.RUNNING, now=now, from_={locked.status})
    campaign.refresh_from_db()
    return RetryOutcome(plan=plan, requeued=requeued, reopened=reopened)


def _named(campaign: Campaign) -> dict:
    return {"campaign": campaign, "status": campaign.get_status_display()}
