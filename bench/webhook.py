"""Benchmark the signed webhook on PostgreSQL: POSTs of 1,000 statuses, answered and applied end to end.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_webhook_bench \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/1 .venv/bin/python bench/webhook.py

Two phases in one run, same database, same machine, same bodies' shape (1,000
`delivered` statuses for recipients that are `sent`, each POST signed):

- baseline: the code before the webhook answered first (`--baseline-ref`,
  extracted with `git archive` into a temporary folder), under gunicorn with 2
  workers: every status is applied inside the POST, so a POST's answer is also
  the end of its statuses.
- async: this tree, gunicorn with 2 workers and a Celery worker (2 processes,
  Redis broker): the POST answers once the body is stored; end to end runs
  from the first POST to the moment every recipient row is `delivered`.

Targets: p99 answer < 1 s, end to end >= 3,300 statuses/s. Prints ONE JSON line.
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
import tarfile
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from _setup import bench_template_and_audience, django_on_postgres, free_port, generate_contacts

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-app-secret"
# The last commit that applied every status inside the POST (one signal, transaction and a few statements each).
BASELINE_REF = "05f7772"
STARTED = 1751800000  # the statuses' timestamps: after the recipients were queued (see setup_campaign)


def body_for(campaign_id: int, first: int, statuses: int) -> bytes:
    items = [
        {
            "id": f"wamid.bench.{campaign_id}.{n}",
            "status": "delivered",
            "timestamp": str(STARTED + n % 3600),
            "recipient_id": f"1415{n % 10_000_000:07d}",
            "conversation": {"id": "c0ffee", "origin": {"type": "marketing"}},
            "pricing": {"billable": True, "pricing_model": "PMP", "category": "marketing", "type": "regular"},
        }
        for n in range(first, first + statuses)
    ]
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "100000000000001"}, "statuses": items}
    change = {"field": "messages", "value": value}
    payload = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]}
    return json.dumps(payload, separators=(",", ":")).encode()


def setup_campaign(name: str, recipients: int) -> int:
    """A running campaign whose first `recipients` contacts are `sent`, message ids wamid.bench.<campaign>.<n>."""
    import datetime as dt

    from django.db import connection

    from campaigns.models import Campaign
    from campaigns.services import campaign_recount

    template, audience = bench_template_and_audience()
    Campaign.objects.filter(name=name).delete()
    queued = dt.datetime.fromtimestamp(STARTED - 60, tz=dt.UTC)
    campaign = Campaign.objects.create(name=name, template=template, audience=audience, status="running",
                                       start_at=queued)  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO campaigns_recipient (campaign_id, contact_id, phone, position, status, message_id, attempts,
                                             claimed_at, queued_at, sent_at, error_title, error_details, error_reason)
            SELECT %(c)s, c.id, c.phone, c.id - 1, 'sent', 'wamid.bench.' || %(c)s || '.' || (c.id - 1), 1,
                   %(t)s, %(t)s, %(t)s, '', '', ''
            FROM audiences_contact c WHERE c.id <= %(n)s
            """,
            {"c": campaign.pk, "t": queued, "n": recipients},
        )
        cursor.execute("ANALYZE campaigns_recipient")
    campaign_recount(campaign=campaign)
    return campaign.pk


def delivered_count(campaign_id: int) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM campaigns_recipient WHERE campaign_id = %s AND status = 'delivered'", [campaign_id]
        )
        return cursor.fetchone()[0]


def post_all(port: int, bodies: list[bytes], concurrency: int) -> tuple[list[float], list[int], float, float]:
    """POST every body from `concurrency` threads (a new connection each); latencies in ms, non-200s, start, end."""
    signatures = ["sha256=" + hmac.new(SECRET.encode(), b, hashlib.sha256).hexdigest() for b in bodies]
    latencies: list[float] = []
    errors: list[int] = []
    lock = threading.Lock()
    cursor = iter(range(len(bodies)))

    def worker():
        while True:
            with lock:
                n = next(cursor, None)
            if n is None:
                return
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
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
    return sorted(latencies), errors, started, time.perf_counter()


def figures(latencies: list[float]) -> dict:
    return {
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
        "max_ms": round(latencies[-1], 1),
    }


@contextmanager
def running(command: list[str], *, cwd: Path, env: dict, port: int | None = None):
    process = subprocess.Popen(command, cwd=cwd, env=env)
    try:
        if port is not None:
            deadline = time.monotonic() + 60
            while True:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                    conn.request("GET", "/whatsapp/webhook/?hub.mode=subscribe&hub.verify_token=bench-verify-token")
                    conn.getresponse().read()
                    break
                except OSError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        sys.exit(f"{command[0]} did not start")
                    time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=60)


def gunicorn(port: int) -> list[str]:
    return [str(Path(sys.executable).with_name("gunicorn")), "config.wsgi:application", "--workers", "2",
            "--bind", f"127.0.0.1:{port}", "--timeout", "300", "--log-level", "warning"]  # fmt: skip


def extract(ref: str, into: Path) -> None:
    """The tree at `ref` (git archive), so the baseline runs the old code against the same database."""
    archive = into / "tree.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(ROOT), "archive", ref], stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "tree", filter="data")


def wait_applied(campaign_id: int, expected: int, timeout: float = 600) -> float:
    """Wait until no stored body is waiting (cheap to poll), then check every recipient row is delivered.

    A body is marked processed after its statuses committed, so the moment the
    last one is seen processed is the end of end to end (to the poll's 20 ms).
    """
    from whatsapp.models import WebhookEvent

    deadline = time.monotonic() + timeout
    while WebhookEvent.objects.filter(status=WebhookEvent.Status.RECEIVED).exists():
        if time.monotonic() > deadline:
            sys.exit(f"statuses still waiting after {timeout:.0f} s")
        time.sleep(0.02)
    seen = time.perf_counter()
    if delivered_count(campaign_id) != expected:
        sys.exit(f"only {delivered_count(campaign_id)} of {expected} recipients delivered")
    return seen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=60, help="POSTs of the async phase")
    parser.add_argument("--baseline-posts", type=int, default=4, help="POSTs of the baseline phase")
    parser.add_argument("--statuses", type=int, default=1000, help="statuses per POST")
    parser.add_argument("--concurrency", type=int, default=2, help="client threads")
    parser.add_argument("--baseline-ref", default=BASELINE_REF)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]

    os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/1")
    django_on_postgres()
    from django.db import connection

    from whatsapp.models import WebhookEvent

    size = max(args.posts, args.baseline_posts) * args.statuses
    with connection.cursor() as cursor:
        generate_contacts(cursor, size)
    WebhookEvent.objects.all().delete()
    baseline_id = setup_campaign("bench webhook baseline", args.baseline_posts * args.statuses)
    async_id = setup_campaign("bench webhook async", args.posts * args.statuses)
    connection.close()

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
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
    (Path(env["VAR_DIR"]) / "static").mkdir(parents=True, exist_ok=True)
    warmup = [body_for(0, 10**7, args.statuses)]  # statuses of messages that are not ours: imports and connections

    # Baseline: the old tree, every status applied inside its POST.
    with tempfile.TemporaryDirectory(prefix="wa-bench-baseline-") as folder:
        extract(args.baseline_ref, Path(folder))
        port = free_port()
        with running(gunicorn(port), cwd=Path(folder) / "tree", env=env, port=port):
            post_all(port, warmup * args.concurrency, args.concurrency)
            bodies = [body_for(baseline_id, n * args.statuses, args.statuses) for n in range(args.baseline_posts)]
            latencies, errors, started, ended = post_all(port, bodies, args.concurrency)
    baseline_applied = delivered_count(baseline_id)
    baseline = {
        "code": args.baseline_ref,
        "posts": args.baseline_posts,
        **figures(latencies),
        "non_200": len(errors),
        "statuses_applied": baseline_applied,
        "end_to_end_statuses_per_s": round(baseline_applied / (ended - started), 1),
    }

    # Async: this tree; a Celery worker applies what the POSTs stored.
    WebhookEvent.objects.all().delete()
    celery = [str(Path(sys.executable).with_name("celery")), "-A", "config"]
    subprocess.run([*celery, "purge", "-f"], cwd=ROOT, env=env, check=True, capture_output=True)
    port = free_port()
    worker = [*celery, "worker", "--pool", "prefork", "--concurrency", "2", "--loglevel", "WARNING"]
    with running(worker, cwd=ROOT, env=env), running(gunicorn(port), cwd=ROOT, env=env, port=port):
        post_all(port, warmup * args.concurrency, args.concurrency)
        wait_for_events(processed=args.concurrency)
        bodies = [body_for(async_id, n * args.statuses, args.statuses) for n in range(args.posts)]
        latencies, errors, started, answered = post_all(port, bodies, args.concurrency)
        applied_at = wait_applied(async_id, args.posts * args.statuses)
    total = args.posts * args.statuses
    waiting = WebhookEvent.objects.exclude(status=WebhookEvent.Status.PROCESSED).count()
    result = {
        "bench": "webhook",
        "database": "postgresql",
        "cpus": os.cpu_count(),
        # Other work on the machine shares its cores: the 1-minute load average before and after the run.
        "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "statuses_per_post": args.statuses,
        "concurrency": args.concurrency,
        "baseline_inline": baseline,
        "async": {
            "posts": args.posts,
            **figures(latencies),
            "non_200": len(errors),
            "posts_per_s": round(args.posts / (answered - started), 1),
            "statuses_applied": delivered_count(async_id),
            "end_to_end_s": round(applied_at - started, 2),
            "end_to_end_statuses_per_s": round(total / (applied_at - started), 1),
        },
        "webhook_events_not_processed": waiting,
        "targets": {"p99_ms_below": 1000, "end_to_end_statuses_per_s_at_least": 3300},
        "note": (
            "same run, same database: baseline = gunicorn 2 workers on the old tree (statuses applied inside the "
            "POST); async = gunicorn 2 workers + celery worker 2 processes (Redis), end to end from the first POST "
            "to every recipient row delivered; client threads open a new connection per POST"
        ),
    }
    print(json.dumps(result))


def wait_for_events(*, processed: int, timeout: float = 60) -> None:
    """The warm-up bodies processed: the worker is up and has its connections."""
    from whatsapp.models import WebhookEvent

    deadline = time.monotonic() + timeout
    while WebhookEvent.objects.filter(status=WebhookEvent.Status.PROCESSED).count() < processed:
        if time.monotonic() > deadline:
            sys.exit("the Celery worker did not process the warm-up bodies")
        time.sleep(0.05)
    WebhookEvent.objects.all().delete()


if __name__ == "__main__":
    main()
