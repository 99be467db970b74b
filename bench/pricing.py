"""Benchmark what recording WhatsApp's pricing adds to applying a webhook body's statuses, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_cost_bench .venv/bin/python bench/pricing.py

One run, same database: bodies of 1,000 `delivered` statuses for `sent` recipients, applied by the
receiver (`recipients_apply_statuses`) as the webhook task does. Baseline: the statuses without a
`pricing` object (the status statement alone, as before issue 15); pricing: the same statuses with
Meta's per-message pricing, recorded once per recipient with the EXAMPLE rate card's rates. Each
phase has its own fresh recipients. Prints ONE JSON line: statuses per second of each and the ratio.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time

from _setup import ROOT, bench_template_and_audience, django_on_postgres, generate_contacts

STARTED = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)


def setup_campaign(name: str, first: int, recipients: int) -> int:
    """A running campaign whose recipients are contacts first+1 .. first+recipients, all `sent`."""
    from django.db import connection

    from campaigns.models import Campaign
    from campaigns.services import campaign_recount

    template, audience = bench_template_and_audience()
    Campaign.objects.filter(name=name).delete()
    campaign = Campaign.objects.create(name=name, template=template, audience=audience, status="running",
                                       start_at=STARTED)  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO campaigns_recipient (campaign_id, contact_id, phone, position, status, message_id, attempts,
                                             claimed_at, queued_at, sent_at, error_title, error_details, error_reason)
            SELECT %(c)s, c.id, c.phone, c.id, 'sent', 'wamid.pricing.' || %(c)s || '.' || c.id, 1,
                   %(t)s, %(t)s, %(t)s, '', '', ''
            FROM audiences_contact c WHERE c.id > %(first)s AND c.id <= %(first)s + %(n)s
            """,
            {"c": campaign.pk, "t": STARTED, "first": first, "n": recipients},
        )
        cursor.execute("ANALYZE campaigns_recipient")
    campaign_recount(campaign=campaign)
    return campaign.pk


def apply_all(campaign_id: int, *, priced: bool, batch: int) -> tuple[float, int]:
    from campaigns.models import Recipient
    from campaigns.services import recipients_apply_statuses
    from whatsapp.events import Pricing, StatusEvent

    pricing = Pricing(category="marketing", type="regular", pricing_model="PMP") if priced else None
    rows = list(Recipient.objects.filter(campaign_id=campaign_id).order_by("id").values_list("message_id", "phone"))
    at = STARTED + dt.timedelta(seconds=30)
    started = time.perf_counter()
    for start in range(0, len(rows), batch):
        events = [
            StatusEvent(message_id=m, status="delivered", timestamp=at, recipient=p[1:], tracker=None, pricing=pricing)
            for m, p in rows[start : start + batch]
        ]
        recipients_apply_statuses(events=events)
    return time.perf_counter() - started, len(rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=20_000, help="per phase")
    parser.add_argument("--batch", type=int, default=1000, help="statuses per webhook body")
    args = parser.parse_args()
    django_on_postgres()
    from django.db import connection

    from campaigns.models import Campaign, RateCard
    from campaigns.ratecards import rate_card_import

    with connection.cursor() as cursor:
        generate_contacts(cursor, 2 * args.recipients)
    if not RateCard.objects.exists():
        examples = ROOT / "campaigns" / "ratecards_example"
        rate_card_import(rates_file=(examples / "example_rate_card.csv").read_bytes(),
                         markets_file=(examples / "example_markets.csv").read_bytes(),
                         effective_from=dt.date(2026, 1, 1), now=STARTED)  # fmt: skip
    figures = {"recipients": args.recipients, "batch": args.batch}
    for phase, first, priced in (("baseline", 0, False), ("pricing", args.recipients, True)):
        campaign_id = setup_campaign(f"bench pricing {phase}", first, args.recipients)
        seconds, n = apply_all(campaign_id, priced=priced, batch=args.batch)
        figures[f"{phase}_statuses_per_second"] = round(n / seconds)
        figures[f"{phase}_seconds"] = round(seconds, 2)
        campaign = Campaign.objects.get(pk=campaign_id)
        figures[f"{phase}_delivered"] = campaign.delivered
        figures[f"{phase}_cost_actual"] = str(campaign.cost_actual)
    figures["pricing_over_baseline"] = round(figures["pricing_seconds"] / figures["baseline_seconds"], 2)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
