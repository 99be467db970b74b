"""What a campaign costs: WhatsApp's pricing recorded once per message, the estimate, and the budget.

- Actual: a status webhook's `pricing` (on delivered or read) is recorded on
  its recipient once, whatever the duplicates and the order
  (`recipients_record_pricing`): category, type, market and the rate applied
  (the rate card in force that day; 0 unless the type is `regular`). The
  campaign's `billable` and `cost_actual`, and its day rows, move in the same
  transaction by what was really recorded, so they equal a recount
  (`campaign_cost_recount`), like the status counters.
- Estimate: expected deliveries x the rate of each recipient's market (its
  calling code) for the template's category (`groups_cost`).
- Budget: the batch claims only what fits in budget - (actual + the estimate
  of what is in flight) (`budget_affordable`), and a campaign whose budget is
  reached is paused with the reason (`campaigns_pause_over_budget`).

See docs/architecture.md, "Cost and pre-flight".
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property

import phonenumbers
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Min, Q, Sum
from django.db.models.functions import Substr, TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns import states
from campaigns.clock import local_day
from campaigns.lifecycle import campaign_day_add
from campaigns.models import Campaign, Recipient
from campaigns.ratecards import RateBook, rate_book

C = Campaign.Status
R = Recipient.Status
REGULAR = "regular"  # the only billable pricing type (free_customer_service, free_entry_point are not)
# A claimed message may still be charged: in flight, or sent and not priced yet.
IN_FLIGHT = (R.QUEUED, R.SENT, R.UNKNOWN)
# Recipients expected to be delivered (and charged): not failed, skipped or cancelled.
EXPECTED = (R.PENDING, R.QUEUED, R.SENT, R.UNKNOWN, R.DELIVERED, R.READ)
PREFIX = 5  # "+" and 4 digits: a country calling code with its first digits (a NANP area code for +1)


# --- Phones by prefix: markets and countries without a row per phone in Python ------------------


@dataclass(frozen=True)
class PhoneGroup:
    prefix: str  # the first PREFIX characters of the E.164 phones
    example: str  # one phone of the group (its country decides the group's)
    count: int

    @cached_property
    def region(self) -> str:
        """ISO country of the group ("US", "PT", ...), "" when the phone's country is not known."""
        try:
            number = phonenumbers.parse(self.example)
        except phonenumbers.NumberParseException:
            return ""
        return phonenumbers.region_code_for_number(number) or ""


def phone_groups(phones) -> list[PhoneGroup]:
    """A queryset's `phone` column grouped by prefix: one GROUP BY, a few hundred rows for any size.

    Erased contacts' phones (a hash, "#...") are left out: nobody is messaged there.
    """
    rows = (
        phones.exclude(phone__startswith="#")
        .annotate(prefix=Substr("phone", 1, PREFIX))
        .values("prefix")
        .annotate(n=Count("*"), example=Min("phone"))
        .order_by("prefix")
    )
    return [PhoneGroup(row["prefix"], row["example"], row["n"]) for row in rows]


def groups_cost(groups: list[PhoneGroup], *, book: RateBook, category: str) -> tuple[Decimal, int]:
    """The price of one message of `category` to every phone of the groups, and how many had no rate."""
    total, unrated = Decimal(0), 0
    for group in groups:
        price = book.price_of(group.prefix, category)
        if price is None:
            unrated += group.count
        else:
            total += price * group.count
    return total, unrated


def template_category(campaign: Campaign) -> str:
    return (campaign.template.category or "").lower()


def campaign_cost_estimate(*, campaign: Campaign, now: dt.datetime) -> Decimal | None:
    """Expected deliveries (recipients not failed, skipped or cancelled) x the rate in force now; None: no card."""
    book = rate_book(day=local_day(now))
    if book is None:
        return None
    expected = Recipient.objects.filter(campaign_id=campaign.pk, status__in=EXPECTED)
    total, _unrated = groups_cost(phone_groups(expected), book=book, category=template_category(campaign))
    return total


def campaign_cost_estimate_update(*, campaign: Campaign, now: dt.datetime) -> None:
    """Store the estimate on the campaign (activation and top-up)."""
    Campaign.objects.filter(pk=campaign.pk).update(cost_estimated=campaign_cost_estimate(campaign=campaign, now=now))


# --- Actual: pricing recorded once per recipient -------------------------------------------


@dataclass(frozen=True)
class Priced:
    """A status webhook's pricing for a recipient row found by the status batch."""

    recipient_id: int
    category: str
    type: str
    at: dt.datetime  # the status's time (the queued time if earlier): the day it counts on, the rate card in force


def recipients_record_pricing(*, priced: list[Priced], now: dt.datetime) -> list[str]:
    """Record each recipient's pricing once; counters and day rows move by what was recorded; notes for the event.

    Only rows not priced yet take one (a conditional UPDATE), so a replayed
    or duplicated status, or a read after the delivered that carried the
    pricing, changes nothing. The rate is the card in force on the status's
    day for the row's market and the webhook's category; none when no card
    knows them (counted as billable with no cost; noted when a card is in
    force but lacks the rate). Then a campaign
    whose actual cost reached its budget is paused.
    """
    if not priced:
        return []
    first: dict[int, Priced] = {}
    for item in sorted(priced, key=lambda p: p.at):
        first.setdefault(item.recipient_id, item)
    notes: list[str] = []
    books: dict[dt.date, RateBook | None] = {}
    with transaction.atomic():
        rows = (
            _unpriced(list(first)).order_by("pk").values_list("pk", "campaign_id", "phone", "queued_at", "claimed_at")
        )
        prices: list[tuple] = []  # (id, category, type, at, market, cost), the order of PRICE_COLUMNS
        owners: dict[int, tuple[int, dt.date]] = {}  # id -> (campaign, day)
        for pk, campaign_id, phone, queued_at, claimed_at in rows:
            item = first[pk]
            # A time before the message was queued is not a real one: the queued time, as for its status.
            floor = queued_at or claimed_at
            at = max(item.at, floor) if floor else item.at
            day = local_day(at)
            if day not in books:
                books[day] = rate_book(day=day)
            book = books[day]
            market = book.market(phone) if book and not phone.startswith("#") else ""
            cost = Decimal(0)
            if item.type == REGULAR:
                cost = book.price(market=market, category=item.category) if book else None
            prices.append((pk, item.category[:40], item.type[:40], at, market, cost))
            owners[pk] = (campaign_id, day)
        unrated: Counter[tuple[str, str]] = Counter()
        bills: dict[int, list] = defaultdict(lambda: [0, Decimal(0)])
        days: dict[tuple[int, dt.date], list] = defaultdict(lambda: [0, Decimal(0)])
        written = _write_prices(prices)
        for pk, category, kind, _at, market, cost in prices:
            if pk not in written or kind != REGULAR:
                continue
            campaign_id, day = owners[pk]
            if cost is None and books[day] is not None:  # no card at all: the dashboard and the pre-flight say so
                unrated[market, category] += 1
            for bill in (bills[campaign_id], days[campaign_id, day]):
                bill[0] += 1
                bill[1] += cost or 0
        notes += [
            f"{n} billable {category} message(s) in market {market} have no rate in the rate card in force: "
            "counted without a cost"
            for (market, category), n in sorted(unrated.items())
        ]
        for campaign_id, (n, cost) in sorted(bills.items()):
            Campaign.objects.filter(pk=campaign_id).update(
                billable=F("billable") + n, cost_actual=F("cost_actual") + cost
            )
        for (campaign_id, day), (n, cost) in sorted(days.items()):
            campaign_day_add(campaign_id=campaign_id, day=day, counts={"billable": n, "cost": cost})
        if bills:
            campaigns_pause_over_budget(campaign_ids=list(bills), now=now)
    return notes


PRICE_COLUMNS = ("price_category", "price_type", "priced_at", "market", "cost")
# One statement for a body's prices on PostgreSQL (bulk_update's CASE per column grows with the square of the rows),
# only on rows still unpriced: a concurrent writer's price stays, and only what this one wrote is counted.
_PRICES_SQL = """
UPDATE {table} r SET price_category = v.category, price_type = v.type, priced_at = v.at, market = v.market,
                     cost = v.cost
FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::timestamptz[], %s::text[], %s::numeric[])
     AS v(id, category, type, at, market, cost)
WHERE r.id = v.id AND r.price_type = ''
RETURNING r.id
"""


def _unpriced(ids: list[int]):
    """The rows among `ids` not priced yet; elsewhere than PostgreSQL locked until the write (one writer anyway)."""
    rows = Recipient.objects.filter(pk__in=ids, price_type="")
    return rows if connection.vendor == "postgresql" else rows.select_for_update()


def _write_prices(prices: list[tuple]) -> set[int]:
    """Write the pricing columns, (id, *PRICE_COLUMNS) each, of rows still unpriced; the ids written."""
    if not prices:
        return set()
    if connection.vendor != "postgresql":
        rows = [Recipient(pk=pk, **dict(zip(PRICE_COLUMNS, values, strict=True))) for pk, *values in prices]
        Recipient.objects.bulk_update(rows, PRICE_COLUMNS)
        return {pk for pk, *_values in prices}
    columns = [list(column) for column in zip(*prices, strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(_PRICES_SQL.format(table=Recipient._meta.db_table), columns)
        return {pk for (pk,) in cursor.fetchall()}


def campaign_cost_recount(*, campaign: Campaign) -> dict:
    """The billable count and actual cost recounted from the recipient rows (what the counters must equal)."""
    billed = Recipient.objects.filter(campaign_id=campaign.pk, price_type=REGULAR)
    totals = billed.aggregate(n=Count("id"), cost=Sum("cost"))
    return {"billable": totals["n"], "cost_actual": totals["cost"] or Decimal(0)}


def day_costs(recipients) -> dict[dt.date, dict]:
    """Per local day of the pricing: billable recipients and their cost (CampaignDay's columns, recounted)."""
    rows = (
        recipients.filter(price_type=REGULAR, priced_at__isnull=False)
        .annotate(d=TruncDate("priced_at", tzinfo=timezone.get_current_timezone()))
        .values("d")
        .annotate(n=Count("id"), cost=Sum("cost"))
        .order_by()
    )
    return {row["d"]: {"billable": row["n"], "cost": row["cost"] or Decimal(0)} for row in rows}


# --- Budget ------------------------------------------------------------------------------------


def budget_committed(*, campaign: Campaign, book: RateBook | None) -> Decimal:
    """Spent (the actual cost) plus the estimate of the messages in flight that are not priced yet."""
    committed = Campaign.objects.filter(pk=campaign.pk).values_list("cost_actual", flat=True).first() or Decimal(0)
    if book is not None:
        flying = Recipient.objects.filter(campaign_id=campaign.pk, status__in=IN_FLIGHT, price_type="")
        estimate, _unrated = groups_cost(phone_groups(flying), book=book, category=template_category(campaign))
        committed += estimate
    return committed


def budget_affordable(*, campaign: Campaign, phones: list[str], book: RateBook | None) -> tuple[int, str]:
    """How many of `phones` (in send order) fit in the campaign's budget, and why not more ("" if all fit).

    The estimate of each message is its market's rate for the template's
    category; a message with no rate (no card, or none for its market) is not
    claimed under a budget: its cost could not be held to it.
    """
    if campaign.budget is None:
        return len(phones), ""
    left = campaign.budget - budget_committed(campaign=campaign, book=book)
    category = template_category(campaign)
    for n, phone in enumerate(phones):
        price = book.price_of(phone, category) if book is not None else None
        if price is None:
            return n, _("Budget: no rate for %(category)s messages to %(market)s in the rate card in force.") % {
                "category": category or "?",
                "market": book.market(phone) if book is not None else _("any market (no rate card imported)"),
            }
        if price > left:
            return n, budget_reason(campaign=campaign, spent=campaign.budget - left, currency=book.currency)
        left -= price
    return len(phones), ""


def budget_reason(*, campaign: Campaign, spent: Decimal, currency: str) -> str:
    return _("Budget reached: %(spent)s of %(budget)s %(currency)s spent or committed.") % {
        "spent": f"{spent:.4f}",
        "budget": f"{campaign.budget:.4f}",
        "currency": currency,
    }


def campaign_pause_for_budget(*, campaign_id: int, reason: str, now: dt.datetime) -> bool:
    """running/scheduled -> paused with the budget's reason (campaigns/states.py); True when it moved."""
    return states.campaign_move(
        campaign_id=campaign_id, to=C.PAUSED, now=now, from_={C.RUNNING, C.SCHEDULED}, pause_reason=reason,
        pause_error_code=None,
    )  # fmt: skip


def campaigns_pause_over_budget(*, campaign_ids: list[int], now: dt.datetime) -> list[int]:
    """Pause the campaigns among `campaign_ids` whose actual cost reached their budget; their ids."""
    over = Campaign.objects.filter(
        Q(pk__in=campaign_ids), Q(budget__isnull=False), Q(cost_actual__gte=F("budget")),
        status__in=[C.RUNNING, C.SCHEDULED],
    ).values_list("pk", "cost_actual", "budget")  # fmt: skip
    paused = []
    currency = settings.COST_CURRENCY
    for campaign_id, cost, budget in over:
        reason = _("Budget reached: %(spent)s of %(budget)s %(currency)s spent.") % {
            "spent": f"{cost:.4f}",
            "budget": f"{budget:.4f}",
            "currency": currency,
        }
        if campaign_pause_for_budget(campaign_id=campaign_id, reason=reason, now=now):
            paused.append(campaign_id)
    return paused
