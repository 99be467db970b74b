"""Meta's rate cards: importing the published CSV files, and the prices that apply at an instant.

A rate card (Meta publishes one per currency) is a table of markets by
pricing category; a second table maps country calling codes to markets. Each
import is a new `RateCard` from its effective date on; earlier cards stay, so
a message delivered in March is priced by March's card (docs/architecture.md,
"Cost and pre-flight"). An import checks everything before it writes anything:
a bad file changes nothing and the error names its line.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from campaigns.models import MarketCode, Rate, RateCard

# Meta's pricing categories, as status webhooks name them; a rate card's column names map onto them.
CATEGORIES = ("marketing", "utility", "authentication", "authentication_international", "service")
# Categories priced like another: the Marketing Messages Lite API's messages are marketing messages.
SAME_PRICE = {"marketing_lite": "marketing"}
NO_RATE = {"", "n/a", "na", "-", "\u2013", "\u2014", "none"}
OTHER = "Other"  # Meta's market for a calling code its table does not list
MAX_FILE_BYTES = 5 * 1024 * 1024


class RateCardError(ValueError):
    """The file cannot be imported; str() names the file's line and what is wrong. Nothing was written."""


def _key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _rows(data: bytes, what: str) -> list[tuple[int, list[str]]]:
    if len(data) > MAX_FILE_BYTES:
        raise RateCardError(_("%(what)s: larger than %(n)s MB") % {"what": what, "n": MAX_FILE_BYTES // 2**20})
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RateCardError(_("%(what)s: not UTF-8 text (%(error)s)") % {"what": what, "error": exc}) from exc
    try:
        return [(n, [cell.strip() for cell in row]) for n, row in enumerate(csv.reader(io.StringIO(text)), start=1)]
    except csv.Error as exc:
        raise RateCardError(_("%(what)s: not a CSV file (%(error)s)") % {"what": what, "error": exc}) from exc


def _header(rows, wanted: str, what: str) -> tuple[int, list[str]]:
    """The first row with a cell named `wanted` (Meta's files open with a few lines of title and notes)."""
    for index, (_line, cells) in enumerate(rows):
        if wanted in [_key(cell) for cell in cells]:
            return index, [_key(cell) for cell in cells]
    raise RateCardError(_("%(what)s: no header row with a “%(column)s” column") % {"what": what, "column": wanted})


@dataclass(frozen=True)
class ParsedCard:
    currency: str
    rates: dict[tuple[str, str], Decimal]  # (market, category) -> price
    codes: list[tuple[str, str, str]] = field(default_factory=list)  # (calling code, country, market)


def parse_rate_card(data: bytes, *, currency: str = "USD", what: str = "rate card") -> ParsedCard:
    """Read Meta's rate card CSV: a header row with Market (and Currency) and one column per category."""
    rows = _rows(data, what)
    start, header = _header(rows, "market", what)
    columns = {name: i for i, name in enumerate(header)}
    priced = {category: columns[category] for category in CATEGORIES if category in columns}
    if not priced:
        raise RateCardError(
            _("%(what)s line %(line)s: no category column (expected some of %(categories)s)")
            % {"what": what, "line": rows[start][0], "categories": ", ".join(CATEGORIES)}
        )
    rates: dict[tuple[str, str], Decimal] = {}
    seen: dict[str, int] = {}
    for line, cells in rows[start + 1 :]:
        if not any(cells):
            continue
        cell = dict(enumerate(cells))
        market = cell.get(columns["market"], "")
        if not market:
            raise RateCardError(_("%(what)s line %(line)s: no market") % {"what": what, "line": line})
        if market in seen:
            raise RateCardError(
                _("%(what)s line %(line)s: market “%(market)s” already on line %(first)s")
                % {"what": what, "line": line, "market": market, "first": seen[market]}
            )
        seen[market] = line
        if "currency" in columns:
            row_currency = cell.get(columns["currency"], "").upper()
            if row_currency and row_currency != currency.upper():
                raise RateCardError(
                    _("%(what)s line %(line)s: currency %(found)s, but this card is in %(currency)s")
                    % {"what": what, "line": line, "found": row_currency, "currency": currency.upper()}
                )
        for category, index in priced.items():
            raw = cell.get(index, "").replace("$", "").replace(",", "").strip()
            if raw.lower() in NO_RATE:
                continue
            try:
                price = Decimal(raw)
            except InvalidOperation:
                price = None
            if price is None or not price.is_finite() or price < 0 or price >= Decimal("1000000"):
                raise RateCardError(
                    _("%(what)s line %(line)s: %(category)s price %(value)r is not a price")
                    % {"what": what, "line": line, "category": category, "value": cell.get(index, "")}
                )
            rates[market, category] = price
    if not rates:
        raise RateCardError(_("%(what)s: no prices") % {"what": what})
    return ParsedCard(currency=currency.upper(), rates=rates)


def parse_market_table(data: bytes, *, markets: set[str], what: str = "market table") -> list[tuple[str, str, str]]:
    """Read Meta's calling-code-to-market table: (calling code, country, market), every market one of the card's."""
    rows = _rows(data, what)
    start, header = _header(rows, "market", what)
    code_column = next((i for i, name in enumerate(header) if "code" in name), None)
    country_column = next((i for i, name in enumerate(header) if "country" in name and "code" not in name), None)
    market_column = header.index("market")
    if code_column is None:
        raise RateCardError(
            _("%(what)s line %(line)s: no calling code column") % {"what": what, "line": rows[start][0]}
        )
    codes: list[tuple[str, str, str]] = []
    by_code: dict[str, tuple[str, int]] = {}
    for line, cells in rows[start + 1 :]:
        if not any(cells):
            continue
        cell = dict(enumerate(cells))
        code = re.sub(r"[\s+\-()]", "", cell.get(code_column, ""))
        market = cell.get(market_column, "")
        country = cell.get(country_column, "") if country_column is not None else ""
        if not re.fullmatch(r"\d{1,8}", code):
            raise RateCardError(
                _("%(what)s line %(line)s: calling code %(value)r is not 1 to 8 digits")
                % {"what": what, "line": line, "value": cell.get(code_column, "")}
            )
        if market not in markets:
            raise RateCardError(
                _("%(what)s line %(line)s: market “%(market)s” is not in the rate card")
                % {"what": what, "line": line, "market": market}
            )
        first = by_code.setdefault(code, (market, line))
        if first[0] != market:
            raise RateCardError(
                _("%(what)s line %(line)s: +%(code)s is in “%(market)s” here but in “%(first)s” on line %(first_line)s")
                % {"what": what, "line": line, "code": code, "market": market, "first": first[0],
                   "first_line": first[1]}
            )  # fmt: skip
        codes.append((code, country[:100], market))
    if not codes:
        raise RateCardError(_("%(what)s: no calling codes") % {"what": what})
    return codes


def rate_card_import(
    *,
    rates_file: bytes,
    markets_file: bytes | None,
    effective_from: dt.date,
    now: dt.datetime,
    currency: str = "USD",
    source: str = "",
    markets_source: str = "",
) -> RateCard:
    """Add a rate card effective from `effective_from` (earlier cards are kept: the history by date).

    Without a market table, the latest earlier card's is kept for this one
    (its markets must all still have prices). Raises RateCardError, naming
    the line, before writing anything.
    """
    if currency.upper() != settings.COST_CURRENCY:
        raise RateCardError(
            _("the card is in %(currency)s, but costs are in %(setting)s (COST_CURRENCY): use Meta's %(setting)s card")
            % {"currency": currency.upper(), "setting": settings.COST_CURRENCY}
        )
    card = parse_rate_card(rates_file, currency=currency, what=source or "rate card")
    markets = {market for market, _category in card.rates}
    if markets_file is not None:
        codes = parse_market_table(markets_file, markets=markets, what=markets_source or "market table")
    else:
        previous = RateCard.objects.filter(effective_from__lte=effective_from).first() or RateCard.objects.first()
        if previous is None:
            raise RateCardError(_("the first rate card needs its calling-code table (--markets FILE.csv)"))
        codes = list(previous.codes.values_list("calling_code", "country", "market"))
        missing = sorted({market for _code, _country, market in codes} - markets)
        if missing:
            raise RateCardError(
                _("the calling-code table of the card from %(day)s names markets this card has no prices for: "
                  "%(markets)s; import its table too (--markets)") % {"day": previous.effective_from,
                                                                       "markets": ", ".join(missing)}
            )  # fmt: skip
        markets_source = markets_source or _("kept from the card from %(day)s") % {"day": previous.effective_from}
    with transaction.atomic():
        saved = RateCard.objects.create(
            effective_from=effective_from,
            currency=card.currency,
            source=source[:255],
            markets_source=markets_source[:255],
            imported_at=now,
        )
        Rate.objects.bulk_create(
            [Rate(card=saved, market=market, category=category, price=price)
             for (market, category), price in card.rates.items()]
        )  # fmt: skip
        MarketCode.objects.bulk_create(
            [
                MarketCode(card=saved, calling_code=code, country=country, market=market)
                for code, country, market in codes
            ]
        )
    return saved


# --- Prices at an instant ---------------------------------------------------------


@dataclass(frozen=True)
class RateBook:
    """One rate card, loaded: a phone's market (longest calling code first) and a category's price there."""

    card_id: int
    effective_from: dt.date
    currency: str
    rates: dict[tuple[str, str], Decimal]
    codes: dict[str, str]  # calling code -> market
    longest: int

    def market(self, phone: str) -> str:
        digits = phone.lstrip("+")
        for length in range(min(self.longest, len(digits)), 0, -1):
            market = self.codes.get(digits[:length])
            if market is not None:
                return market
        return OTHER

    def price(self, *, market: str, category: str) -> Decimal | None:
        category = SAME_PRICE.get(category.lower(), category.lower())
        return self.rates.get((market, category))

    def price_of(self, phone: str, category: str) -> Decimal | None:
        return self.price(market=self.market(phone), category=category)


def rate_book(*, day: dt.date) -> RateBook | None:
    """The rate card in force on `day` (the latest effective on or before it; None: no card yet)."""
    card = RateCard.objects.filter(effective_from__lte=day).first()
    if card is None:
        return None
    codes = dict(card.codes.values_list("calling_code", "market"))
    return RateBook(
        card_id=card.pk,
        effective_from=card.effective_from,
        currency=card.currency,
        rates={(m, category): price for m, category, price in card.rates.values_list("market", "category", "price")},
        codes=codes,
        longest=max((len(code) for code in codes), default=0),
    )  # fmt: skip
