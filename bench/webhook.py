"""Benchmark the signed webhook: PostgreSQL, gunicorn with 2 workers on loopback, started here on a free port.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wa_bench .venv/bin/python bench/webhook.py

Two phases in one run, same server: POSTs carrying 1 status, then POSTs
carrying 50 statuses (Meta batches statuses that pile up). Every POST is
signed, verified, stored as a WebhookEvent and normalised into events with one
signal each (whatever receivers are installed run too). Prints ONE JSON line.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from _setup import ensure_database, free_port

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-app-secret"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/wa_bench"


def body_for(phase: str, n: int, statuses: int) -> bytes:
    items = [
        {
            "id": f"wamid.bench.{phase}.{n}.{i}",
            "status": ("sent", "delivered", "read")[i % 3],
            "timestamp": str(1751800000 + n),
            "recipient_id": f"1415{(n * statuses + i) % 10_000_000:07d}",
            "biz_opaque_callback_data": f"bench:{n}:{i}",
        }
        for i in range(statuses)
    ]
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "100000000000001"}, "statuses": items}
    change = {"field": "messages", "value": value}
    payload = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]}
    return json.dumps(payload, separators=(",", ":")).encode()


def run_phase(port: int, phase: str, posts: int, statuses: int, concurrency: int) -> dict:
    bodies = [body_for(phase, n, statuses) for n in range(posts)]
    signatures = ["sha256=" + hmac.new(SECRET.encode(), b, hashlib.sha256).hexdigest() for b in bodies]
    latencies: list[float] = []
    errors: list[int] = []
    lock = threading.Lock()
    cursor = iter(range(posts))

    def worker():
        while True:
            with lock:
                n = next(cursor, None)
            if n is None:
                return
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            started = time.perf_counter()
            conn.request("POST", "/whatsapp/webhook/", bodies[n], {"Content-Type": "application/json",
                                                                  "X-Hub-Signature-256": signatures[n]})  # fmt: skip
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - started
            conn.close()
            with lock:
                latencies.append(elapsed * 1000)
                if response.status != 200:
                    errors.append(response.status)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "posts": posts,
        "statuses_per_post": statuses,
        "concurrency": concurrency,
        "posts_per_s": round(posts / wall, 1),
        "statuses_per_s": round(posts * statuses / wall, 1),
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 2),
        "non_200": len(errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--single-posts", type=int, default=2000)
    parser.add_argument("--batch-posts", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()

    database_url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    if not database_url.startswith("postgres"):
        sys.exit("bench/webhook.py measures PostgreSQL: set DATABASE_URL=postgres://...")
    ensure_database(database_url)
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "bench-secret-key-0123456789-bench-secret-key-0123456789",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "WHATSAPP_APP_SECRET": SECRET,
        "WHATSAPP_VERIFY_TOKEN": "bench-verify-token",
        "WHATSAPP_BACKEND": "whatsapp.backends.locmem.LocmemBackend",
        "LOG_LEVEL": "WARNING",
        "VAR_DIR": os.environ.get("VAR_DIR", "/tmp/var-wa-bench"),
    }
    python = sys.executable
    (Path(env["VAR_DIR"]) / "static").mkdir(parents=True, exist_ok=True)
    subprocess.run([python, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run([python, "manage.py", "shell", "-v", "0", "-c", "from whatsapp.models import WebhookEvent; "
                    "WebhookEvent.objects.all().delete()"], cwd=ROOT, env=env, check=True)  # fmt: skip
    gunicorn = Path(python).with_name("gunicorn")
    server = subprocess.Popen(
        [str(gunicorn), "config.wsgi:application", "--workers", "2", "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/whatsapp/webhook/?hub.mode=subscribe&hub.verify_token=bench-verify-token"
                             "&hub.challenge=ok")  # fmt: skip
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                sys.exit("gunicorn did not start")
            time.sleep(0.1)
        run_phase(port, "warmup", 50, 1, args.concurrency)
        single = run_phase(port, "single", args.single_posts, 1, args.concurrency)
        batch = run_phase(port, "batch", args.batch_posts, args.batch_size, args.concurrency)
    finally:
        server.terminate()
        server.wait(timeout=30)
    counts = subprocess.run(
        [python, "manage.py", "shell", "-v", "0", "-c", "from whatsapp.models import WebhookEvent as W; "
         "print(W.objects.filter(status='processed').count(), W.objects.exclude(status='processed').count())"],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    print(
        json.dumps(
            {
                "bench": "webhook",
                "database": "postgresql",
                "server": "gunicorn sync, 2 workers, 127.0.0.1",
                "cpus": os.cpu_count(),
                "single": single,
                "batch": batch,
                "webhook_events_processed": int(counts[0]),
                "webhook_events_not_processed": int(counts[1]),
                "note": (
                    f"same run, same server: {args.single_posts} POSTs of 1 status vs {args.batch_posts} POSTs of "
                    f"{args.batch_size} statuses, {args.concurrency} client threads, new connection per POST; every "
                    "POST signed, stored as a WebhookEvent, one signal per status (installed receivers included)"
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
