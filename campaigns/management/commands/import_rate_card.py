"""Import Meta's published rate card (CSV) and its calling-code-to-market table, effective from a date."""

import datetime as dt
import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from campaigns.ratecards import RateCardError, rate_card_import


class Command(BaseCommand):
    help = (
        "Add a rate card (market x category prices) effective from --effective; earlier cards are kept. "
        "The first one needs --markets (the calling-code-to-market table); later ones keep the last table."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Meta's rate card CSV (a Market column, one column per category)")
        parser.add_argument("--markets", help="Meta's calling-code-to-market CSV (calling code, country, market)")
        parser.add_argument("--effective", required=True, help="the date the prices apply from, YYYY-MM-DD")
        parser.add_argument("--currency", default=settings.COST_CURRENCY, help="the card's (must be COST_CURRENCY)")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, file: str, markets: str | None, effective: str, currency: str, **opts):
        try:
            effective_from = dt.date.fromisoformat(effective)
        except ValueError as exc:
            raise CommandError(f"--effective {effective!r} is not a date (YYYY-MM-DD)") from exc
        try:
            rates_file = Path(file).read_bytes()
            markets_file = Path(markets).read_bytes() if markets else None
        except OSError as exc:
            raise CommandError(f"cannot read {exc.filename}: {exc.strerror}") from exc
        try:
            card = rate_card_import(
                rates_file=rates_file,
                markets_file=markets_file,
                effective_from=effective_from,
                now=timezone.now(),
                currency=currency,
                source=Path(file).name,
                markets_source=Path(markets).name if markets else "",
            )
        except RateCardError as exc:
            raise CommandError(f"nothing imported: {exc}") from exc
        summary = {
            "rate_card": card.pk,
            "effective_from": card.effective_from.isoformat(),
            "currency": card.currency,
            "markets": card.rates.values("market").distinct().count(),
            "rates": card.rates.count(),
            "calling_codes": card.codes.count(),
        }
        if opts["json"]:
            self.stdout.write(json.dumps(summary, sort_keys=True))
        else:
            for key, value in summary.items():
                self.stdout.write(f"{key}: {value}")
