"""What each dangerous lifecycle action would do now, in numbers, for its confirmation page (read-only)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from audiences.selectors import audience_contacts
from campaigns.frequency import frequency_capped, frequency_frees_on
from campaigns.models import Campaign, Recipient
from campaigns.planning import daily_share
from campaigns.preflight import Preflight, campaign_preflight
from campaigns.quota import local_day, quota_limit, quota_usage
from campaigns.retry import retry_failed_plan
from campaigns.services import REACHED, campaign_problems, first_day_capacity, reached_by_source

C = Campaign.Status
R = Recipient.Status


@dataclass(frozen=True)
class Plan:
    """A confirmation page's content for one campaign: what happens, what does not, and what stops it."""

    lines: list[str]  # what will happen, in numbers
    problems: list[str] = field(default_factory=list)  # why it would be refused now (the button stays)
    needs_reopen: bool = False  # retry failed on a completed / cancelled campaign
    offers_source_skip: bool = False  # activation / top-up of a clone
    preflight: Preflight | None = None  # activation / top-up: countries, exclusions, cost (campaigns/preflight.py)


def activation_plan(*, campaign: Campaign, now: dt.datetime, top_up: bool = False) -> Plan:
    """Who activation (or a top-up) would add, who it leaves out, and when it expects to finish.

    The same figures _materialise uses: the audience's subscribed contacts not
    yet in the campaign, less those the source reached (for a clone), planned
    from what is really left of today's limit.
    """
    problems = [] if top_up else campaign_problems(campaign=campaign, now=now)
    contacts = audience_contacts(audience=campaign.audience)
    matches = contacts.count()
    new = contacts.exclude(phone__in=Recipient.objects.filter(campaign_id=campaign.pk).values("phone"))
    already = matches - new.count()
    lines = [
        ngettext(
            "The audience “%(audience)s” matches %(n)s subscribed contact.",
            "The audience “%(audience)s” matches %(n)s subscribed contacts.",
            matches,
        )
        % {"audience": campaign.audience, "n": f"{matches:,}"}
    ]
    if already:
        lines.append(_("%(n)s of them are already recipients and are not added again.") % {"n": f"{already:,}"})
    source = campaign.cloned_from
    if source is not None:
        reached = new.filter(
            phone__in=Recipient.objects.filter(campaign_id=source.pk, status__in=REACHED).values("phone")
        ).count()
        lines.append(
            _("%(n)s of them were already reached by “%(source)s”, the campaign this one was cloned from.")
            % {"n": f"{reached:,}", "source": source}
        )
    excluded = reached_by_source(campaign=campaign)
    if excluded is not None:
        new = new.exclude(phone__in=excluded.values("phone"))
    to_add = new.count()
    lines.append(_("%(n)s recipients will be added.") % {"n": f"{to_add:,}"})
    running = Campaign.objects.filter(status__in=[C.SCHEDULED, C.RUNNING]).count()
    if campaign.status == C.DRAFT:
        running += 1
    share = daily_share(limit=quota_limit(now), running_campaigns=running, daily_cap=campaign.daily_cap)
    start = campaign.start_at or now
    base_day = max(local_day(start), local_day(now))
    first = first_day_capacity(campaign=campaign, now=now, base_day=base_day, share=share, running=running)
    usage = quota_usage(now=now)
    if not top_up:
        lines.append(
            _("It starts now.")
            if campaign.start_at is None or campaign.start_at <= now
            else _("It starts at %(start)s.") % {"start": campaign.start_at.isoformat(timespec="minutes")}
        )
    if base_day == local_day(now):
        lines.append(
            _(
                "Today's limit has %(left)s of %(limit)s messages left: about %(first)s of this campaign's go out "
                "today, then about %(share)s a day."
            )
            % {
                "left": f"{usage.left_today:,}",
                "limit": f"{usage.limit:,}",
                "first": f"{min(first, to_add):,}",
                "share": f"{share:,}",
            }
        )
    held_back = frequency_capped(campaign=campaign, now=now)
    frees_on = frequency_frees_on(campaign=campaign, now=now) if held_back else None
    if held_back:
        lines.append(
            ngettext(
                "%(n)s recipient already had %(cap)s marketing message(s) in the last %(days)s days (frequency "
                "cap): it waits, at the latest until %(day)s, and is never dropped.",
                "%(n)s recipients already had %(cap)s marketing message(s) in the last %(days)s days (frequency "
                "cap): they wait, at the latest until %(day)s, and are never dropped.",
                held_back,
            )
            % {
                "n": f"{held_back:,}",
                "cap": settings.CAMPAIGN_FREQUENCY_CAP,
                "days": settings.CAMPAIGN_FREQUENCY_CAP_DAYS,
                "day": frees_on.isoformat() if frees_on else "?",
            }
        )
    # One estimate for the page: the pre-flight's (campaigns/preflight.py `completion_estimate`: the recipients
    # activation adds less those it skips, the frequency cap's wait included).
    preflight = campaign_preflight(campaign=campaign, now=now)
    if to_add and preflight.estimated_completion is not None:
        lines.append(_("Estimated completion: %(day)s.") % {"day": preflight.estimated_completion.isoformat()})
    # A top-up follows the choice made at activation (recorded on the campaign): no box to tick again.
    return Plan(
        lines=lines, problems=problems, offers_source_skip=source is not None and not top_up, preflight=preflight
    )


def cancel_plan(*, campaign: Campaign) -> Plan:
    campaign = Campaign.objects.get(pk=campaign.pk)
    lines = [
        _("%(n)s pending recipients become cancelled and will not be sent.") % {"n": f"{campaign.pending:,}"},
        _("%(sent)s messages already sent stay sent.") % {"sent": f"{campaign.sent:,}"},
    ]
    if campaign.queued:
        lines.append(_("%(n)s messages being sent right now still finish.") % {"n": f"{campaign.queued:,}"})
    lines.append(_("A cancelled campaign cannot be resumed (clone it to send again)."))
    return Plan(lines=lines)


def retry_plan(*, campaign: Campaign) -> Plan:
    plan = retry_failed_plan(campaign=campaign)
    lines = [plan.summary]
    if plan.retryable:
        codes = ", ".join(_("no code") if code is None else str(code) for code in plan.codes.get("retried", []))
        lines.append(_("Retried: the failures with %(codes)s (temporary, or fixable since).") % {"codes": codes})
        lines.append(_("Each requeued recipient gets one more attempt; its earlier attempts stay counted."))
    if plan.later:
        lines.append(
            _("%(n)s of them (error 131049) go out no sooner than 24 hours after they failed, as WhatsApp asks.")
            % {"n": plan.later}
        )
    problems = [] if plan.retryable else [_("Nothing to retry: no failure here can be fixed by sending again.")]
    return Plan(lines=lines, problems=problems, needs_reopen=plan.needs_reopen and bool(plan.retryable))


def resend_plan(*, campaign: Campaign) -> Plan:
    campaign = Campaign.objects.get(pk=campaign.pk)
    lines = [
        _(
            "%(n)s recipients with an unknown outcome are sent again. WhatsApp never answered for them: "
            "some may already have the message and will get it twice."
        )
        % {"n": f"{campaign.unknown:,}"}
    ]
    return Plan(lines=lines, problems=[] if campaign.unknown else [_("No recipient has an unknown outcome.")])
