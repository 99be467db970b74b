"""Benchmark: send batch throughput through the CloudAPIBackend to the sandbox at 50 ms latency.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/camp_bench .venv/bin/python bench/send.py [--capped N]

The sandbox (`manage.py whatsapp_sandbox`, its own process: 50 ms per request,
no failures, no rate limit) answers the Cloud API send endpoint. The batch
(`batch_send`, claims + quota + WHATSAPP_SEND_THREADS threads + an outcome
row per message) runs with WHATSAPP_MAX_MPS=80 and then unlimited (0). In the
same run it is compared with the raw ceiling: the same backend called from the
same number of threads with no database work. Targets: within 10 % of 80/s
capped, >= 200/s uncapped. Prints one JSON line.
"""

import argparse
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from _setup import bench_template_and_audience, django_on_postgres, free_port, generate_contacts

ROOT = Path(__file__).resolve().parent.parent


def start_sandbox(port: int) -> subprocess.Popen:
    command = [sys.executable, str(ROOT / "manage.py"), "whatsapp_sandbox", "--port", str(port), "--webhook-url", ""]
    command += ["--latency-ms", "50", "--fail-rate", "0", "--rate-limit-mps", "0", "--read-rate", "0"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    sys.exit("the sandbox did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--capped", type=int, default=800, help="messages at 80/s")
    parser.add_argument("--uncapped", type=int, default=3000, help="messages with no rate limit")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("set DATABASE_URL=postgres://...")
    port = free_port()
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG=os.environ.get("DEBUG", "1"),
        LOG_LEVEL="WARNING",
        WHATSAPP_BACKEND="whatsapp.backends.cloud.CloudAPIBackend",
        WHATSAPP_API_BASE_URL=f"http://127.0.0.1:{port}",
        WHATSAPP_ACCESS_TOKEN="bench-token",
        WHATSAPP_APP_SECRET="bench-secret",
        WHATSAPP_VERIFY_TOKEN="bench-verify",
        WHATSAPP_BUSINESS_ACCOUNT_ID="200000000000002",
        WHATSAPP_PHONE_NUMBER_ID="100000000000001",
        WHATSAPP_DAILY_LIMIT=str(10**8),
    )
    django_on_postgres()
    from django.conf import settings
    from django.db import connection

    sandbox = start_sandbox(port)
    try:
        from audiences.models import Contact
        from campaigns.models import Campaign
        from campaigns.services import batch_send
        from whatsapp.backends import get_backend

        total = args.capped + args.uncapped
        with connection.cursor() as cursor:
            generate_contacts(cursor, total)
        template, audience = bench_template_and_audience()
        now = dt.datetime.now(dt.UTC)
        contact_ids = list(Contact.objects.order_by("id").values_list("id", flat=True)[:total])

        def run(count: int, mps: float, offset: int) -> dict:
            with connection.cursor() as cursor:
                # The campaigns and all that hangs off them: recipients, per-day rows, quota reservations.
                cursor.execute("TRUNCATE campaigns_campaign CASCADE")
            campaign = Campaign.objects.create(
                name=f"bench {mps}", template=template, audience=audience,
                parameters=["{{contact.first_name}}", "{{contact.attributes.city}}"],
                start_at=now, status=Campaign.Status.RUNNING, total=count, pending=count,
            )  # fmt: skip
            ids = contact_ids[offset : offset + count]
            with connection.cursor() as cursor:
                cursor.execute(
                    """INSERT INTO campaigns_recipient (campaign_id, contact_id, phone, position, status, attempts,
                                                        error_title, error_details, error_reason)
                       SELECT %s, id, phone, id, 'pending', 0, '', '', '' FROM audiences_contact WHERE id = ANY(%s)""",
                    [campaign.pk, ids],
                )
            settings.WHATSAPP_MAX_MPS = mps
            started = time.perf_counter()
            result = batch_send(now=now)
            seconds = time.perf_counter() - started
            return {"sent": result.sent, "failed": result.failed, "seconds": round(seconds, 2),
                    "mps": round(result.sent / seconds, 1)}  # fmt: skip

        backend = get_backend()
        backend.send_template("+14150000000", "bench_template", "en_US", [])  # warm the pool

        def raw_ceiling(count: int) -> dict:
            left = iter(range(count))
            lock = threading.Lock()

            def worker():
                while True:
                    with lock:
                        if next(left, None) is None:
                            return
                    backend.send_template("+14150000001", "bench_template", "en_US", [])

            started = time.perf_counter()
            pool = [threading.Thread(target=worker) for _ in range(settings.WHATSAPP_SEND_THREADS)]
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join()
            seconds = time.perf_counter() - started
            return {"sent": count, "seconds": round(seconds, 2), "mps": round(count / seconds, 1)}

        capped = run(args.capped, 80, 0)
        uncapped = run(args.uncapped, 0, args.capped)
        ceiling = raw_ceiling(args.uncapped)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
    print(
        json.dumps(
            {
                "bench": "batch_send_throughput",
                "latency_ms": 50,
                "threads": settings.WHATSAPP_SEND_THREADS,
                "capped_80": capped,
                "capped_within_10pct": abs(capped["mps"] - 80) <= 8,
                "uncapped": uncapped,
                "uncapped_target_met": uncapped["mps"] >= 200,
                "raw_backend_ceiling": ceiling,
                "uncapped_share_of_ceiling": round(uncapped["mps"] / ceiling["mps"], 2),
                "note": "compared in the same run with the raw ceiling: the same CloudAPIBackend called from the same "
                "number of threads against the same sandbox with no database work",
            }
        )
    )


if __name__ == "__main__":
    main()
