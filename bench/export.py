"""Benchmark: streaming a 1,000,000-recipient campaign's CSV export through the admin view with flat memory.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/export_bench .venv/bin/python bench/export.py [--rows N]

Creates the database if missing, generates the contacts with set-based SQL
(kept between runs when the count matches), then two campaigns with
recipients inserted by one INSERT ... SELECT each: `--rows` (1,000,000) and a
tenth of that (100,000); 60% read, 30% pending, 10% failed. Each "all
recipients" export is requested from the real admin URL with
django.test.Client as a superuser and its streaming_content read to the end,
twice (after one untimed warm-up request): once timed, measuring this process's peak RSS growth over its RSS
before the request (the kernel's high-water mark, reset before each export
through /proc/self/clear_refs), once under tracemalloc for the peak of Python
allocations. Flat memory: the 1M and 100k peaks are about equal. The
failures export of the big campaign is timed too. Prints one JSON line.
"""

import argparse
import gc
import json
import time
import tracemalloc

from _setup import bench_template_and_audience, django_on_postgres, generate_contacts


def rss_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(field)


def reset_peak_rss() -> None:
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)


def build_campaign(cursor, *, name: str, rows: int, template, audience):
    from campaigns.models import Campaign
    from campaigns.services import campaign_recount

    campaign = Campaign.objects.create(name=name, template=template, audience=audience, parameters=["x", "y"])
    cursor.execute(
        """
        INSERT INTO campaigns_recipient (campaign_id, contact_id, phone, position, estimated_send_date, status,
            attempts, message_id, sent_at, delivered_at, read_at, failed_at, error_code, error_title,
            error_details, error_reason)
        SELECT %(campaign)s, c.id, c.phone, c.n - 1, current_date + ((c.n - 1) / 10000)::int,
               CASE WHEN c.n %% 10 = 0 THEN 'failed' WHEN c.n %% 10 <= 6 THEN 'read' ELSE 'pending' END,
               CASE WHEN c.n %% 10 = 0 THEN 3 WHEN c.n %% 10 <= 6 THEN 1 ELSE 0 END,
               CASE WHEN c.n %% 10 BETWEEN 1 AND 6 THEN 'wamid.bench.' || %(campaign)s || '.' || c.n END,
               CASE WHEN c.n %% 10 BETWEEN 1 AND 6 THEN now() - interval '3 hours' END,
               CASE WHEN c.n %% 10 BETWEEN 1 AND 6 THEN now() - interval '2 hours' END,
               CASE WHEN c.n %% 10 BETWEEN 1 AND 6 THEN now() - interval '1 hour' END,
               CASE WHEN c.n %% 10 = 0 THEN now() END,
               CASE WHEN c.n %% 10 = 0 THEN 131026 END,
               CASE WHEN c.n %% 10 = 0 THEN 'Message undeliverable' ELSE '' END, '',
               CASE WHEN c.n %% 10 = 0 THEN 'Error 131026: Message undeliverable - not on WhatsApp' ELSE '' END
        FROM (
            SELECT id, phone, row_number() OVER (ORDER BY id) AS n FROM audiences_contact ORDER BY id LIMIT %(rows)s
        ) c
        """,
        {"campaign": campaign.pk, "rows": rows},
    )
    campaign_recount(campaign=campaign)
    return campaign


def stream(client, url: str) -> dict:
    """Read the whole export; the process's peak RSS growth over the request, the time, the rows."""
    gc.collect()
    reset_peak_rss()
    before = rss_kb("VmRSS")
    started = time.perf_counter()
    response = client.get(url, HTTP_HOST="localhost")
    assert response.status_code == 200, response.status_code
    lines = size = 0
    first_chunk_at = None
    for chunk in response.streaming_content:
        if first_chunk_at is None:
            first_chunk_at = time.perf_counter() - started
        lines += chunk.count(b"\n")
        size += len(chunk)
    response.close()
    seconds = time.perf_counter() - started
    peak_growth_mb = (rss_kb("VmHWM") - before) / 1024
    rows = lines - 1  # the header
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
        "first_chunk_seconds": round(first_chunk_at, 2),
        "csv_mb": round(size / 2**20, 1),
        "peak_rss_growth_mb": round(peak_growth_mb, 1),
    }


def traced_peak_mb(client, url: str) -> float:
    """The same export read under tracemalloc: the peak of Python allocations while it streams."""
    gc.collect()
    tracemalloc.start()
    try:
        response = client.get(url, HTTP_HOST="localhost")
        for _ in response.streaming_content:
            pass
        response.close()
        return round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    django_on_postgres()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    small_rows = args.rows // 10
    with connection.cursor() as cursor:
        generate_contacts(cursor, args.rows)
        cursor.execute("TRUNCATE campaigns_recipient, campaigns_campaignday, campaigns_quotareservation CASCADE")
        cursor.execute("DELETE FROM campaigns_campaign")
    template, audience = bench_template_and_audience()
    started = time.perf_counter()
    with connection.cursor() as cursor:
        big = build_campaign(cursor, name="export big", rows=args.rows, template=template, audience=audience)
        small = build_campaign(cursor, name="export small", rows=small_rows, template=template, audience=audience)
        cursor.execute("ANALYZE campaigns_recipient")
    build_seconds = time.perf_counter() - started

    user, _ = get_user_model().objects.get_or_create(
        username="export-bench", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    url = "admin:campaigns_campaign_export_recipients"
    small_url, big_url = reverse(url, args=[small.pk]), reverse(url, args=[big.pk])

    stream(client, small_url)  # warm-up: the first request loads code and fills caches; not a cost of the size
    results = {}
    for label, campaign_url in (("small", small_url), ("big", big_url)):
        results[label] = stream(client, campaign_url)
        results[label]["tracemalloc_peak_mb"] = traced_peak_mb(client, campaign_url)
    failures = stream(client, reverse("admin:campaigns_campaign_export_failures", args=[big.pk]))

    small, big = results["small"], results["big"]
    print(
        json.dumps(
            {
                "bench": "campaign_export_csv",
                "recipients_export": [small, big],
                "failures_export": failures,
                "peak_rss_growth_difference_mb_big_minus_small": round(
                    big["peak_rss_growth_mb"] - small["peak_rss_growth_mb"], 1
                ),
                "tracemalloc_peak_ratio_big_to_small": round(
                    big["tracemalloc_peak_mb"] / max(small["tracemalloc_peak_mb"], 0.1), 2
                ),
                "build_seconds": round(build_seconds, 1),
                "note": "all-recipients CSV through the admin view (django.test.Client, superuser), streaming_content "
                "read to the end; peak RSS growth = kernel high-water mark (reset per export) minus RSS before the "
                "request; tracemalloc peak measured on a second, untimed read of the same export",
            }
        )
    )


if __name__ == "__main__":
    main()
