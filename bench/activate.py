"""Benchmark: activating a campaign of 1,000,000 recipients on PostgreSQL (target: < 30 s, < 300 MB peak).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/camp_bench .venv/bin/python bench/activate.py [--rows N]

Generates the contacts with set-based SQL (kept between runs when the count
matches), then in the same run times `campaign_activate` (validation, the
INSERT ... SELECT with positions and estimated dates in 50,000-row chunks that
report progress, counters) against a
plain INSERT ... SELECT of the same rows into an identical copy of the
recipients table (same indexes, unique constraint and foreign keys, whose
checks at commit cost about as much as the insert), and into the same copy
without the foreign keys. Peak memory is this
process's maximum RSS. A second activation of the same campaign (top-up) is
timed too: it adds nothing. Prints one JSON line.
"""

import argparse
import datetime as dt
import json
import resource
import time
from pathlib import Path

from _setup import bench_template_and_audience, django_on_postgres, generate_contacts

ROOT = Path(__file__).resolve().parent.parent


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
        for table in ("bench_plain_recipient", "bench_plain_recipient_no_fk"):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
            cursor.execute(f"CREATE TABLE {table} (LIKE campaigns_recipient INCLUDING ALL)")
        # LIKE copies no foreign keys: the same two as campaigns_recipient's, deferred as Django makes them.
        for column, target in (("contact_id", "audiences_contact"), ("campaign_id", "campaigns_campaign")):
            cursor.execute(
                f"ALTER TABLE bench_plain_recipient ADD FOREIGN KEY ({column}) REFERENCES {target} (id) "
                "DEFERRABLE INITIALLY DEFERRED"
            )

    template, audience = bench_template_and_audience()
    now = dt.datetime.now(dt.UTC)
    campaign = Campaign.objects.create(
        name="bench",
        template=template,
        audience=audience,
        parameters=["{{contact.first_name}}", "{{contact.attributes.city}}"],
        start_at=now + dt.timedelta(days=1),
    )

    def plain_insert(table: str) -> tuple[float, int]:
        """The same rows, the simplest way: one INSERT ... SELECT (and its commit), no positions or estimates."""
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
            started = time.perf_counter()
            cursor.execute(
                f"""
                INSERT INTO {table} (campaign_id, contact_id, phone, position, status, attempts,
                                     error_title, error_details, error_reason)
                SELECT %s, id, phone, 0, 'pending', 0, '', '', ''
                FROM audiences_contact WHERE subscription = 'subscribed'
                """,  # noqa: S608 (the bench's own table names)
                [campaign.pk],
            )
            return time.perf_counter() - started, cursor.rowcount

    plain_seconds, plain_rows = plain_insert("bench_plain_recipient")
    no_fk_seconds, _ = plain_insert("bench_plain_recipient_no_fk")
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")

    started = time.perf_counter()
    result = campaign_activate(campaign=campaign, now=now)
    activate_seconds = time.perf_counter() - started

    started = time.perf_counter()
    top_up = campaign_top_up(campaign=campaign, now=now)
    top_up_seconds = time.perf_counter() - started

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_plain_recipient, bench_plain_recipient_no_fk")
    print(
        json.dumps(
            {
                "bench": "campaign_activate",
                "rows": result.recipients_added,
                "recipients_in_db": Recipient.objects.filter(campaign=campaign).count(),
                "activate_seconds": round(activate_seconds, 2),
                "plain_insert_select_seconds": round(plain_seconds, 2),
                "plain_rows": plain_rows,
                "plain_without_foreign_keys_seconds": round(no_fk_seconds, 2),
                "ratio_activate_to_plain": round(activate_seconds / plain_seconds, 2),
                "top_up_seconds": round(top_up_seconds, 2),
                "top_up_recipients_added": top_up.recipients_added,
                "peak_rss_mb": round(peak_mb, 1),
                "target": "activate < 30 s and < 300 MB peak",
                "note": "compared in the same run with a plain INSERT ... SELECT of the same rows into an identical "
                "copy of the recipients table (same indexes and foreign keys), and into one without the foreign "
                "keys; each starts after a CHECKPOINT; peak is this process's max RSS",
            }
        )
    )


if __name__ == "__main__":
    main()
