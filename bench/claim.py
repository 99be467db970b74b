"""Benchmark: one claim round when the limit counts people, beside the claim as it was before (same run).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/quota_bench .venv/bin/python bench/claim.py [--rows 200000]

Two campaigns over the same audience of `rows` contacts (every person is in
both), a limit of 10,000 and a round of 4,800 claims. Each figure is the
median of five rounds, each in a transaction rolled back afterwards:

1. baseline: the claim before this change (campaigns/batch.py where this
   branch left main, loaded from git into this process), the window empty;
2. room: today's claim, the window empty (it also counts which rows cost a unit);
3. free: the window full of 10,000 people the first campaign reached; the
   second campaign's messages to them cost nothing and are claimed;
4. nothing free: the window full of 10,000 other people: nothing can be
   claimed, and the claim must look through every pending row to know it;
5. capped: as 2 with the frequency cap on (1 per 7 days) and 10,000 people
   at the cap.
Prints one JSON line (milliseconds).
"""

import argparse
import datetime as dt
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _setup import bench_template_and_audience, django_on_postgres, generate_contacts

ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
LIMIT = 10_000
ROUND = 4_800


def main_branch_claim():
    """`_claim_round` of campaigns/batch.py where this branch left main (the merge base), as a module of its own."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()

    source = git("show", f"{git('merge-base', 'HEAD', 'main')}:campaigns/batch.py")
    spec = importlib.util.spec_from_loader("batch_on_main", loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    exec(compile(source, "campaigns/batch.py (merge base)", "exec"), module.__dict__)  # noqa: S102 (our own repository)
    return module._claim_round


def timed(claim, *, expect=None) -> float:
    from django.db import transaction

    from campaigns.leases import Lease

    runs = []
    for _ in range(5):
        with transaction.atomic():
            lease = Lease(now=NOW)
            started = time.perf_counter()
            claims = claim(now=NOW, size=ROUND, lease=lease)
            runs.append((time.perf_counter() - started) * 1000)
            if expect is not None:
                assert len(claims) == expect, (len(claims), expect)
            transaction.set_rollback(True)
    return round(statistics.median(runs), 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    rows = parser.parse_args().rows
    django_on_postgres()
    from django.conf import settings
    from django.db import connection, transaction

    from campaigns.batch import _claim_round
    from campaigns.models import Campaign, QuotaReservation, Recipient
    from campaigns.services import campaign_activate

    settings.WHATSAPP_DAILY_LIMIT = LIMIT
    with connection.cursor() as cursor:
        generate_contacts(cursor, rows)
        cursor.execute("TRUNCATE campaigns_quotareservation, campaigns_recipient, campaigns_campaign CASCADE")
    template, audience = bench_template_and_audience()
    first, second = (
        Campaign.objects.create(name=name, template=template, audience=audience, start_at=NOW, parameters=["a", "b"])
        for name in ("first", "second")
    )
    for campaign in (first, second):
        campaign_activate(campaign=campaign, now=NOW)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE campaigns_recipient")
    figures = {"rows": rows, "campaigns": 2, "limit": LIMIT, "round": ROUND}
    figures["baseline_main_ms"] = timed(main_branch_claim(), expect=ROUND)
    figures["room_ms"] = timed(_claim_round, expect=ROUND)

    reached = list(Recipient.objects.filter(campaign=first).order_by("position").values_list("id", "phone")[:LIMIT])
    with transaction.atomic():
        # The first campaign reached 10,000 people an hour ago: sent, and in the ledger.
        Recipient.objects.filter(id__in=[pk for pk, _ in reached]).update(
            status="sent", claimed_at=NOW - dt.timedelta(hours=1)
        )
        QuotaReservation.objects.bulk_create(
            QuotaReservation(campaign=first, recipient_id=pk, phone=phone, reserved_at=NOW - dt.timedelta(hours=1),
                             day=NOW.date())
            for pk, phone in reached
        )  # fmt: skip
        figures["free_ms"] = timed(_claim_round, expect=ROUND)
        settings.CAMPAIGN_FREQUENCY_CAP, settings.CAMPAIGN_FREQUENCY_CAP_DAYS = 1, 7
        QuotaReservation.objects.all().delete()  # room again; the 10,000 reached stay at the cap
        figures["capped_ms"] = timed(_claim_round, expect=ROUND)
        settings.CAMPAIGN_FREQUENCY_CAP = 0
        QuotaReservation.objects.bulk_create(
            QuotaReservation(phone=f"+9{n:010d}", reserved_at=NOW - dt.timedelta(hours=1), day=NOW.date())
            for n in range(LIMIT)
        )
        Recipient.objects.filter(id__in=[pk for pk, _ in reached]).update(status="pending", claimed_at=None)
        figures["nothing_free_ms"] = timed(_claim_round, expect=0)
        transaction.set_rollback(True)
    print(json.dumps(figures))


if __name__ == "__main__":
    sys.exit(main())
