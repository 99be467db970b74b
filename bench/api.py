"""Benchmark: the API on a 1,000,000-recipient campaign on PostgreSQL (targets: recipients p95 < 100 ms, stats < 50 ms).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/api_bench .venv/bin/python bench/api.py [--rows N] [--reuse]

Builds the same campaign as bench/dashboard.py (1M contacts by
generate_series, the real `campaign_activate`, realistic outcomes by one
UPDATE, counters by `campaign_recount`), then times whole API requests
(django.test.Client with a manager's API key: authentication, permissions,
throttling, filters, pagination, serialisation), over --runs:

- GET /api/v1/campaigns/<id>/recipients/ page 1 (50 rows), a page deep in the
  cursor (position 900,000), and failed ones of one code from position 450,000;
- GET /api/v1/campaigns/<id>/stats/.

The same-run baseline is what the cursor avoids: the same deep page by
LIMIT/OFFSET with a COUNT(*) (what page-number pagination does), timed on
the ORM with no HTTP around it. Prints one JSON line.
"""

import argparse
import base64
import datetime as dt
import json

from _setup import django_on_postgres
from dashboard import fresh_campaign, p, timed

DEEP = 900_000


def cursor_at(position: int) -> str:
    """DRF's cursor for "after this position" (its encode_cursor: base64 of the query string p=<position>)."""
    return base64.b64encode(f"p={position}".encode()).decode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--reuse", action="store_true", help="time the campaign a previous run built, if any")
    args = parser.parse_args()
    django_on_postgres()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    from api.keys import api_key_create
    from campaigns.models import Campaign, Recipient
    from campaigns.selectors import campaign_stats

    settings.WHATSAPP_DAILY_LIMIT = 15_000
    settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["api_key"] = "1000000/minute"
    now = dt.datetime.now(dt.UTC)
    campaign = Campaign.objects.filter(name="bench dashboard", total=args.rows).first() if args.reuse else None
    figures = {"reused": True} if campaign is not None else {}
    if campaign is None:
        campaign, figures = fresh_campaign(args.rows, now=now)

    users = get_user_model()
    users.objects.filter(username="bench-api").delete()
    user = users.objects.create_user("bench-api", is_staff=True)
    user.groups.add(Group.objects.get(name="Campaign managers"))
    _key, raw = api_key_create(user=user, name="bench")
    client = Client(SERVER_NAME="localhost", HTTP_AUTHORIZATION=f"Bearer {raw}")
    base = f"/api/v1/campaigns/{campaign.pk}"

    def get(url: str, **params):
        def run():
            response = client.get(url, params)
            assert response.status_code == 200, response.content[:300]
            return response

        return run

    deep = min(DEEP, max(campaign.total - 100, 0))
    page1_ms, page1 = timed(get(f"{base}/recipients/"), args.runs)
    deep_ms, deep_page = timed(get(f"{base}/recipients/", cursor=cursor_at(deep)), args.runs)
    # Failures of one code from half-way (the first 60 days' rows have outcomes): (campaign, error_code) index.
    failed_ms, failed_page = timed(
        get(f"{base}/recipients/", status="failed", error_code=131026, cursor=cursor_at(deep // 2)), args.runs
    )
    stats_ms, stats = timed(get(f"{base}/stats/"), args.runs)

    # The baseline in the same run: page-number pagination's COUNT(*) plus LIMIT/OFFSET at the same depth.
    rows = Recipient.objects.filter(campaign_id=campaign.pk).order_by("position", "id")

    def offset_page():
        return rows.count(), list(rows[deep : deep + 50])

    offset_ms, _ = timed(offset_page, 5)

    print(
        json.dumps(
            {
                "bench": "api",
                "recipients": campaign.total,
                **figures,
                "recipients_page1_ms_p50": p(page1_ms, 0.5),
                "recipients_page1_ms_p95": p(page1_ms, 0.95),
                "recipients_deep_ms_p50": p(deep_ms, 0.5),
                "recipients_deep_ms_p95": p(deep_ms, 0.95),
                "recipients_deep_first_position": deep_page.json()["results"][0]["position"],
                "recipients_failed_deep_ms_p95": p(failed_ms, 0.95),
                "recipients_failed_deep_rows": len(failed_page.json()["results"]),
                "stats_ms_p50": p(stats_ms, 0.5),
                "stats_ms_p95": p(stats_ms, 0.95),
                "stats_equal_selector": stats.json() == campaign_stats(campaign=campaign),
                "page1_rows": len(page1.json()["results"]),
                "baseline_offset_count_deep_ms_p50": p(offset_ms, 0.5),
                "runs": args.runs,
                "targets": "recipients (page 1 and deep) p95 < 100 ms; stats p95 < 50 ms; whole requests",
                "note": "times are whole API requests through django.test.Client with an API key; the baseline is "
                "COUNT(*) + LIMIT/OFFSET at the same depth on the ORM, without HTTP",
            }
        )
    )


if __name__ == "__main__":
    main()
