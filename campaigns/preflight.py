"""The pre-flight of an activation (or top-up): who would be added, where they are, who will not get it, the cost.

Read-only: the admin's activation confirmation and `activate_campaign
--dry-run` show it, and change nothing. Each exclusion is one small check in
CHECKS (a function of the `Context` returning an `Exclusion` or None), so one
more check is one more function; `skipped` says activation leaves those
recipients out (as `skipped` rows with the reason), otherwise they are sent
and only reported. See docs/architecture.md, "Cost and pre-flight".
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models.functions import Substr
from django.db.models.lookups import In
from django.utils.translation import gettext as _

from audiences.selectors import audience_contacts
from campaigns.clock import local_day
from campaigns.costs import PREFIX, PhoneGroup, groups_cost, phone_groups, template_category
from campaigns.frequency import frequency_capped, frequency_frees_on
from campaigns.models import Campaign, Recipient
from campaigns.planning import capped_completion, daily_share, estimated_send_day
from campaigns.quota import quota_limit
from campaigns.ratecards import rate_book
from whatsapp.errors import PERMANENT_CODES

C = Campaign.Status
R = Recipient.Status
US_MARKETING_REASON = "Meta does not deliver marketing templates to US (+1) numbers"
HELD_CODE = 131049  # held for ecosystem health: per-user marketing cap


@dataclass(frozen=True)
class Exclusion:
    key: str  # us_marketing, failed_recently, held_recently, ...
    count: int
    reason: str  # what these recipients have in common
    action: str  # what the product does with them
    skipped: bool  # activation leaves them out (skipped, with the reason)


@dataclass(frozen=True)
class CostEstimate:
    amount: Decimal
    currency: str
    effective_from: dt.date  # the rate card's
    messages: int  # expected deliveries priced
    unrated: int  # expected deliveries whose market has no rate for the category


@dataclass(frozen=True)
class Preflight:
    recipients: int  # the contacts activation would add
    countries: list[tuple[str, int]]  # ISO country ("" unknown), recipients; most first
    exclusions: list[Exclusion]
    expected_deliveries: int  # recipients - the skipped ones - the ones Meta will not deliver
    cost: CostEstimate | None  # None: no rate card in force
    estimated_completion: dt.date | None
    category: str = ""
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "recipients": self.recipients,
            "template_category": self.category,
            "countries": [{"country": country or "unknown", "recipients": n} for country, n in self.countries],
            "exclusions": [
                {"key": e.key, "count": e.count, "reason": e.reason, "action": e.action, "skipped": e.skipped}
                for e in self.exclusions
            ],
            "expected_deliveries": self.expected_deliveries,
            "cost_estimated": str(self.cost.amount.quantize(Decimal("0.0001"))) if self.cost else None,
            "currency": self.cost.currency if self.cost else None,
            "rate_card_effective_from": self.cost.effective_from.isoformat() if self.cost else None,
            "cost_unrated_messages": self.cost.unrated if self.cost else None,
            "estimated_completion_date": self.estimated_completion.isoformat() if self.estimated_completion else None,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Context:
    campaign: Campaign
    now: dt.datetime
    contacts: object  # the audience's contacts activation would add (a queryset)
    groups: list[PhoneGroup]
    category: str  # the template's, lower case


# --- The checks ---------------------------------------------------------------------


def us_prefixes(groups: list[PhoneGroup]) -> list[str]:
    """The phone prefixes (+1 and an area code) that are US numbers."""
    return [group.prefix for group in groups if group.prefix.startswith("+1") and group.region == "US"]


def skips_us_marketing(campaign: Campaign) -> bool:
    return settings.PREFLIGHT_SKIP_US_MARKETING and template_category(campaign) == "marketing"


def check_us_marketing(context: Context) -> Exclusion | None:
    """US numbers with a MARKETING template: Meta does not deliver them (131049); skipped unless turned off."""
    if context.category != "marketing":
        return None
    us = set(us_prefixes(context.groups))
    count = sum(group.count for group in context.groups if group.prefix in us)
    if not count:
        return None
    skipping = settings.PREFLIGHT_SKIP_US_MARKETING
    return Exclusion(
        key="us_marketing",
        count=count,
        reason=_("US (+1) numbers: Meta does not deliver marketing templates to them."),
        action=_("Skipped at activation, with the reason.")
        if skipping
        else _("Sent anyway (PREFLIGHT_SKIP_US_MARKETING is off): WhatsApp will refuse them with 131049."),
        skipped=skipping,
    )


def _failed_recently(context: Context, codes: list[int]):
    since = context.now - dt.timedelta(days=settings.PREFLIGHT_FAILED_DAYS)
    failed = Recipient.objects.filter(status=R.FAILED, failed_at__gte=since, error_code__in=codes)
    return context.contacts.filter(phone__in=failed.values("phone")).count()


def check_failed_recently(context: Context) -> Exclusion | None:
    """Numbers another send failed for good in the last N days (131026 undeliverable, ...): at risk, sent anyway."""
    count = _failed_recently(context, sorted(PERMANENT_CODES))
    if not count:
        return None
    return Exclusion(
        key="failed_recently",
        count=count,
        reason=_("Failed for good (for example 131026, undeliverable) in the last %(days)s days.")
        % {"days": settings.PREFLIGHT_FAILED_DAYS},
        action=_("Sent anyway: they may fail again (not charged unless delivered)."),
        skipped=False,
    )


def check_held_marketing(context: Context) -> Exclusion | None:
    """Numbers whose marketing messages Meta held (131049) in the last N days: at risk of being held again."""
    if context.category != "marketing":
        return None
    count = _failed_recently(context, [HELD_CODE])
    if not count:
        return None
    return Exclusion(
        key="held_recently",
        count=count,
        reason=_("Marketing messages held by Meta (131049, per-user marketing cap) in the last %(days)s days.")
        % {"days": settings.PREFLIGHT_FAILED_DAYS},
        action=_("Sent; a message held again is retried no sooner than 24 hours later."),
        skipped=False,
    )


def check_frequency_capped(context: Context) -> Exclusion | None:
    """Numbers the frequency cap across campaigns holds back today (campaigns/frequency.py): sent on a later day."""
    count = frequency_capped(campaign=context.campaign, now=context.now)
    if not count:
        return None
    frees_on = frequency_frees_on(campaign=context.campaign, now=context.now)
    return Exclusion(
        key="frequency_capped",
        count=count,
        reason=_("Already had %(cap)s marketing message(s) in the last %(days)s days (frequency cap).")
        % {"cap": settings.CAMPAIGN_FREQUENCY_CAP, "days": settings.CAMPAIGN_FREQUENCY_CAP_DAYS},
        action=_("Held back, never dropped: sent when the cap allows, at the latest on %(day)s.")
        % {"day": frees_on.isoformat() if frees_on else "?"},
        skipped=False,
    )


CHECKS: list[Callable[[Context], Exclusion | None]] = [
    check_us_marketing,
    check_failed_recently,
    check_held_marketing,
    check_frequency_capped,
]


# --- The pre-flight ---------------------------------------------------------------------


def contacts_to_add(*, campaign: Campaign):
    """The audience's contacts not yet in the campaign, less those its source reached: what activation adds."""
    from campaigns.services import reached_by_source

    contacts = audience_contacts(audience=campaign.audience).exclude(
        phone__in=Recipient.objects.filter(campaign_id=campaign.pk).values("phone")
    )
    reached = reached_by_source(campaign=campaign)
    if reached is not None:
        contacts = contacts.exclude(phone__in=reached.values("phone"))
    return contacts


def campaign_preflight(*, campaign: Campaign, now: dt.datetime) -> Preflight:
    """Countries, exclusions with what happens to them, expected cost and completion of activating now."""
    contacts = contacts_to_add(campaign=campaign)
    groups = phone_groups(contacts)
    context = Context(campaign=campaign, now=now, contacts=contacts, groups=groups,
                      category=template_category(campaign))  # fmt: skip
    exclusions = [exclusion for check in CHECKS if (exclusion := check(context)) is not None]
    countries: Counter[str] = Counter()
    for group in groups:
        countries[group.region] += group.count
    recipients = sum(countries.values())
    # Never delivered: the skipped ones and, when sent anyway, the US marketing ones (not charged).
    us = set(us_prefixes(groups)) if context.category == "marketing" else set()
    delivered_groups = [group for group in groups if group.prefix not in us]
    skipped = sum(e.count for e in exclusions if e.skipped)
    expected = sum(group.count for group in delivered_groups)
    book = rate_book(day=local_day(now))
    cost, notes = None, []
    if book is None:
        notes.append(_("No rate card imported (import_rate_card): the cost cannot be estimated."))
    else:
        amount, unrated = groups_cost(delivered_groups, book=book, category=context.category)
        cost = CostEstimate(amount, book.currency, book.effective_from, expected - unrated, unrated)
        if unrated:
            notes.append(
                _("%(n)s recipients are in markets with no %(category)s rate in the rate card: not in the estimate.")
                % {"n": unrated, "category": context.category or "?"}
            )
    return Preflight(
        recipients=recipients,
        countries=sorted(countries.items(), key=lambda item: (-item[1], item[0])),
        exclusions=exclusions,
        expected_deliveries=expected,
        cost=cost,
        estimated_completion=completion_estimate(campaign=campaign, now=now, to_send=recipients - skipped),
        category=context.category,
        notes=notes,
    )


def completion_estimate(*, campaign: Campaign, now: dt.datetime, to_send: int) -> dt.date | None:
    """When the last of `to_send` more recipients would go out (campaigns/planning.py, as activation plans it)."""
    from campaigns.services import first_day_capacity

    if to_send <= 0:
        return None
    running = Campaign.objects.filter(status__in=[C.SCHEDULED, C.RUNNING]).count()
    if campaign.status == C.DRAFT:
        running += 1
    share = daily_share(limit=quota_limit(now), running_campaigns=running, daily_cap=campaign.daily_cap)
    base_day = max(local_day(campaign.start_at or now), local_day(now))
    first = first_day_capacity(campaign=campaign, now=now, base_day=base_day, share=share, running=running)
    ahead = Recipient.objects.filter(campaign_id=campaign.pk, status__in=[R.PENDING, R.QUEUED]).count()
    done = estimated_send_day(base_day=base_day, ahead=ahead + to_send - 1, share=share, first_day=first)
    # Those the frequency cap holds back go out on a later day, never dropped (campaigns/frequency.py).
    held_back = frequency_capped(campaign=campaign, now=now)
    return capped_completion(
        estimated=done, held_back=held_back, frees_on=frequency_frees_on(campaign=campaign, now=now)
    )


# --- What activation does with the skipped -------------------------------------------------


def us_marketing_filter(*, campaign: Campaign, contacts):
    """The lookup that picks the US numbers among `contacts`, or None when activation skips nobody."""
    if not skips_us_marketing(campaign):
        return None
    prefixes = us_prefixes(phone_groups(contacts.filter(phone__startswith="+1")))
    return In(Substr("phone", 1, PREFIX), prefixes) if prefixes else None
