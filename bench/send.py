"""Benchmark: sending at WhatsApp's ceiling, fanned out to two Celery workers, beside today's thread design.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_14_bench CELERY_BROKER_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python bench/send.py [--uncapped 20000] [--threads-baseline 3000] [--capped 1600]

The sandbox runs in this process (its asyncio HTTP server answering in 200 ms,
no failures, no rate limit of its own) and counts every accepted send: when,
from which number, to which phone. Everything else is a separate OS process,
as in production: two `celery -A config worker -Q send -c 1` workers and the
`send_batch` commands.

1. baseline: `send_batch` without --fan-out (today's design: one process, 32
   threads over `requests`), uncapped;
2. uncapped: `send_batch --fan-out`, 20,000 messages; target >= 1,000/s
   sustained (first to last arrival at the server);
3. capped at 80/s: two `send_batch --fan-out` started together; target: no
   one-second window over 88 arrivals, mean within 5 % of 80.
In each: no phone twice, counted at the server. Prints one JSON line.
"""

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from _setup import bench_template_and_audience, django_on_postgres, generate_contacts

ROOT = Path(__file__).resolve().parent.parent
LATENCY_MS = 200


def busiest_second(times: list[float]) -> int:
    """The most arrivals in any one-second window (sliding, starting at each arrival)."""
    times = sorted(times)
    best, j = 0, 0
    for i, start in enumerate(times):
        while j < len(times) and times[j] < start + 1:
            j += 1
        best = max(best, j - i)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uncapped", type=int, default=20_000, help="messages fanned out with no rate limit")
    parser.add_argument("--threads-baseline", type=int, default=3_000, help="messages sent by today's design")
    parser.add_argument("--capped", type=int, default=2_400, help="messages at 80/s, two batches together")
    args = parser.parse_args()
    if not os.environ.get("CELERY_BROKER_URL", "").startswith("redis://"):
        sys.exit("set CELERY_BROKER_URL=redis://... (the workers and the rate limit share it)")
    sys.path.insert(0, str(ROOT))
    from whatsapp.sandbox import SandboxServer

    sandbox = SandboxServer(webhook_url=None, app_secret="bench-secret", latency_ms=LATENCY_MS, read_rate=0).start()
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG=os.environ.get("DEBUG", "1"),
        LOG_LEVEL="WARNING",
        LOG_STREAM="stderr",
        WHATSAPP_BACKEND="whatsapp.backends.cloud.CloudAPIBackend",
        WHATSAPP_API_BASE_URL=sandbox.url,
        WHATSAPP_ACCESS_TOKEN="bench-token",
        WHATSAPP_APP_SECRET="bench-secret",
        WHATSAPP_VERIFY_TOKEN="bench-verify",
        WHATSAPP_BUSINESS_ACCOUNT_ID=sandbox.waba_id,
        WHATSAPP_PHONE_NUMBER_ID=sandbox.phone_number_id,
        WHATSAPP_DAILY_LIMIT=str(10**8),
        SEND_RATE_LIMIT_URL=os.environ["CELERY_BROKER_URL"],
    )
    os.environ.update(env)
    django_on_postgres()
    from django.db import connection

    from audiences.models import Contact
    from campaigns.models import Campaign
    from whatsapp.models import Sender

    total = args.threads_baseline + args.uncapped + args.capped
    with connection.cursor() as cursor:
        generate_contacts(cursor, total)
    template, audience = bench_template_and_audience()
    now = dt.datetime.now(dt.UTC)
    contact_ids = list(Contact.objects.order_by("id").values_list("id", flat=True)[:total])
    Sender.objects.all().delete()  # the first sender is made again from the settings above
    import redis

    redis.Redis.from_url(os.environ["CELERY_BROKER_URL"]).flushdb()  # the bench's own Redis database

    def campaign_of(count: int, offset: int) -> None:
        with connection.cursor() as cursor:
            # The campaigns and all that hangs off them: recipients, per-day rows, quota reservations.
            cursor.execute("TRUNCATE campaigns_campaign, campaigns_sendlease CASCADE")
        campaign = Campaign.objects.create(
            name=f"bench {count}", template=template, audience=audience,
            parameters=["{{contact.first_name}}", "{{contact.attributes.city}}"],
            start_at=now, status=Campaign.Status.RUNNING, total=count, pending=count,
        )  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute(
                """INSERT INTO campaigns_recipient (campaign_id, contact_id, phone, position, status, attempts,
                                                    error_title, error_details, error_reason)
                   SELECT %s, id, phone, id, 'pending', 0, '', '', '' FROM audiences_contact WHERE id = ANY(%s)""",
                [campaign.pk, contact_ids[offset : offset + count]],
            )

    def batches(count: int, mps: float, *options: str) -> list[dict]:
        """`count` send_batch commands started together; their JSON outputs."""
        command = [sys.executable, str(ROOT / "manage.py"), "send_batch", "--json", *options]
        batch_env = {**env, "WHATSAPP_MAX_MPS": str(mps)}
        processes = [
            subprocess.Popen(command, cwd=ROOT, env=batch_env, stdout=subprocess.PIPE, text=True) for _ in range(count)
        ]
        outputs = [process.communicate(timeout=1800)[0] for process in processes]
        return [json.loads(out.strip().splitlines()[-1]) for out in outputs]

    def at_the_server(since: int) -> dict:
        arrivals = list(sandbox.arrivals)[since:]
        times = [at for at, _, _ in arrivals]
        phones = Counter(to for _, _, to in arrivals)
        span = max(times) - min(times) if len(times) > 1 else 0
        return {
            "accepted": len(arrivals),
            "sustained_mps": round((len(times) - 1) / span, 1) if span else 0.0,
            "busiest_second": busiest_second(times),
            "phones_sent_twice": sum(1 for n in phones.values() if n > 1),
        }

    workers = []
    try:
        # 1. Today's thread design, uncapped.
        campaign_of(args.threads_baseline, 0)
        mark = len(sandbox.arrivals)
        (baseline,) = batches(1, 0)
        baseline_server = at_the_server(mark)

        # 2 and 3: two worker processes serving the send queue.
        worker_command = [
            *(sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "send", "-c", "1"),
            *("--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING"),
        ]
        for i in range(2):
            workers.append(
                subprocess.Popen([*worker_command, "-n", f"bench{i}@%h"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
            )
        time.sleep(3)  # workers up (a task queued before they are is taken when they are)

        campaign_of(args.uncapped, args.threads_baseline)
        mark = len(sandbox.arrivals)
        (uncapped,) = batches(1, 0, "--fan-out")
        uncapped_server = at_the_server(mark)

        campaign_of(args.capped, args.threads_baseline + args.uncapped)
        mark = len(sandbox.arrivals)
        capped = batches(2, 80, "--fan-out")
        capped_server = at_the_server(mark)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
        threading.Thread(target=sandbox.stop, daemon=True).start()

    def figures(result: dict) -> dict:
        return {k: result[k] for k in ("sent", "failed", "unknown", "retry_later", "seconds", "messages_per_second")}

    print(
        json.dumps(
            {
                "bench": "send_at_scale",
                "latency_ms": LATENCY_MS,
                "threads_baseline": {**figures(baseline), "server": baseline_server},
                "uncapped_fan_out": {**figures(uncapped), "server": uncapped_server},
                "uncapped_target_met": uncapped_server["sustained_mps"] >= 1000,
                "capped_80_two_batches": {"batches": [figures(r) for r in capped], "server": capped_server},
                "capped_targets_met": capped_server["busiest_second"] <= 88
                and abs(capped_server["sustained_mps"] - 80) <= 4,
                "no_phone_twice": not any(
                    s["phones_sent_twice"] for s in (baseline_server, uncapped_server, capped_server)
                ),
                "note": "2 worker processes (celery -A config worker -Q send -c 1), PostgreSQL, Redis broker and "
                "limiter, the sandbox counting at the HTTP server; baseline: send_batch without --fan-out, same run",
            }
        )
    )


if __name__ == "__main__":
    main()
