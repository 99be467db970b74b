"""Benchmark: what outbound events add to a bulk campaign move on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/outbound_bench \
        .venv/bin/python bench/outbound_emit.py [--campaigns N] [--runs N]

Completes N running campaigns with the real `states.campaigns_move` (as the
batch's completion does) in a transaction rolled back after each run, p50
over --runs, and counts its SQL statements:
- baseline, in the same run: no endpoint listens (one UPDATE, plus the
  endpoints' SELECT);
- two endpoints subscribed to campaign.completed: UPDATE ... RETURNING, one
  INSERT of N events and one of 2N deliveries (savepoint included).
The enqueueing after the commit is not timed (a rolled-back move enqueues nothing).
Prints one JSON line.
"""

import argparse
import json
import statistics
import time

from _setup import bench_template_and_audience, django_on_postgres


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--campaigns", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    django_on_postgres()
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from campaigns import states
    from campaigns.models import Campaign
    from outbound.models import Endpoint

    template, audience = bench_template_and_audience()
    C = Campaign.Status
    Endpoint.objects.filter(description="bench").delete()
    Campaign.objects.filter(name__startswith="bench-outbound-").delete()
    Campaign.objects.bulk_create(
        [
            Campaign(
                name=f"bench-outbound-{n}",
                template=template,
                audience=audience,
                status=C.RUNNING,
                parameters=["a", "b"],
            )
            for n in range(args.campaigns)
        ]  # fmt: skip
    )
    mine = Campaign.objects.filter(name__startswith="bench-outbound-", status=C.RUNNING)

    def one_run() -> tuple[float, int, int]:
        with transaction.atomic(), CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            moved = states.campaigns_move(mine, to=C.COMPLETED, now=timezone.now())
            elapsed = (time.perf_counter() - started) * 1000
            transaction.set_rollback(True)
        return elapsed, len(queries), moved

    def measure() -> dict:
        runs = [one_run() for _ in range(args.runs + 1)][1:]
        assert {moved for _, _, moved in runs} == {args.campaigns}
        return {"p50_ms": round(statistics.median(r[0] for r in runs), 1), "statements": runs[0][1]}

    baseline = measure()
    for n in range(2):
        Endpoint.objects.create(
            url=f"https://example.invalid/{n}", description="bench", event_types=["campaign.completed"]
        )
    with_events = measure()
    Endpoint.objects.filter(description="bench").delete()
    Campaign.objects.filter(name__startswith="bench-outbound-").delete()
    print(json.dumps({"bench": "outbound_emit", "campaigns": args.campaigns, "endpoints": 2,
                      "baseline_no_endpoint": baseline, "with_events": with_events}))  # fmt: skip


if __name__ == "__main__":
    main()
