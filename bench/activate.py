"""Benchmark: activating a campaign of 1,000,000 recipients on PostgreSQL (target: < 30 s, < 300 MB peak).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/camp_bench .venv/bin/python bench/activate.py [--rows N]

Generates the contacts with set-based SQL (kept between runs when the count
matches), then in the same run times `campaign_activate` (validation, the
INSERT ... SELECT with positions and estimated dates in 50,000-row chunks that
report progress, counters) against a
plain INSERT ... SELECT of the same rows into an identical copy of the
recipients table (same indexes and unique constraint). Peak memory is this
process's maximum RSS. A second activation of the same campaign (top-up) is
timed too: it adds nothing. Prints one JSON line.
"""

import argparse
import datetime as dt
import json
import resource
import time
from pathlib import Path

from _setup import bench_template_and_audience, django_on_postgres

ROOT = Path(__file__).resolve().parent.parent


def generate_contacts(cursor, rows: int) -> None:
    cursor.execute("SELECT count(*) FROM audiences_contact")
    if cursor.fetchone()[0] == rows:
        return
    cursor.execute("TRUNCATE audiences_contact, campaigns_recipient RESTART IDENTITY CASCADE")
    cursor.execute(
        """
        INSERT INTO audiences_contact (phone, name, first_name, language, attributes, subscription,
                                       subscription_reason, created_at, updated_at)
        SELECT '+1415' || lpad((2000000 + g)::text, 7, '0'), 'Person ' || g, 'Person', 'en_US',
               jsonb_build_object('city', (ARRAY['Paris', 'Lyon', 'Rome'])[1 + g %% 3]),
               'subscribed', '', now(), now()
        FROM generate_series(0, %s - 1) AS g
        """,
        [rows],
    )
    cursor.execute("ANALYZE audiences_contact")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    django_on_postgres()
    from django.db import connection

    from campaigns.models import Campaign, Recipient
    from campaigns.services import campaign_activate, campaign_top_up

    with connection.cursor() as cursor:
        generate_contacts(cursor, args.rows)
        cursor.execute("TRUNCATE campaigns_recipient, campaigns_quotareservation, campaigns_campaignday CASCADE")
        cursor.execute("DELETE FROM campaigns_campaign")
        cursor.execute("DROP TABLE IF EXISTS bench_plain_recipient")
        cursor.execute("CREATE TABLE bench_plain_recipient (LIKE campaigns_recipient INCLUDING ALL)")
        cursor.execute("CHECKPOINT")

    template, audience = bench_template_and_audience()
    now = dt.datetime.now(dt.UTC)
    campaign = Campaign.objects.create(
        name="bench",
        template=template,
        audience=audience,
        parameters=["{{contact.first_name}}", "{{contact.attributes.city}}"],
        start_at=now + dt.timedelta(days=1),
    )

    # The same rows, the simplest way: one INSERT ... SELECT, no validation, positions or estimates.
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO bench_plain_recipient (campaign_id, contact_id, phone, position, status, attempts,
                                               error_title, error_details, error_reason)
            SELECT %s, id, phone, 0, 'pending', 0, '', '', ''
            FROM audiences_contact WHERE subscription = 'subscribed'
            """,
            [campaign.pk],
        )
        plain_rows = cursor.rowcount
    plain_seconds = time.perf_counter() - started

    started = time.perf_counter()
    result = campaign_activate(campaign=campaign, now=now)
    activate_seconds = time.perf_counter() - started

    started = time.perf_counter()
    top_up = campaign_top_up(campaign=campaign, now=now)
    top_up_seconds = time.perf_counter() - started

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_plain_recipient")
    print(
        json.dumps(
            {
                "bench": "campaign_activate",
                "rows": result.recipients_added,
                "recipients_in_db": Recipient.objects.filter(campaign=campaign).count(),
                "activate_seconds": round(activate_seconds, 2),
                "plain_insert_select_seconds": round(plain_seconds, 2),
                "plain_rows": plain_rows,
                "ratio_activate_to_plain": round(activate_seconds / plain_seconds, 2),
                "top_up_seconds": round(top_up_seconds, 2),
                "top_up_recipients_added": top_up.recipients_added,
                "peak_rss_mb": round(peak_mb, 1),
                "target": "activate < 30 s and < 300 MB peak",
                "note": "compared in the same run with a plain INSERT ... SELECT of the same rows into an identical "
                "copy of the recipients table (same indexes); peak is this process's max RSS",
            }
        )
    )


if __name__ == "__main__":
    main()
