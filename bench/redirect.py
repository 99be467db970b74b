"""Benchmark the tracked link's redirect (/r/<token>) on PostgreSQL under gunicorn with 2 workers.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_redirect_bench .venv/bin/python bench/redirect.py

A running campaign of --recipients delivered recipients with a link destination
(placeholders and UTM parameters). Three phases in one run, same server, same
client (--clients processes of --threads threads, each request a new
connection, as gunicorn's sync workers close them; raw sockets so the client
costs as little CPU as it can on a shared machine), --seconds each:

- baseline: a guessed token: the whole Django stack, no query (refused by the HMAC check) -> 404;
  the ceiling of this server on this machine for a view that touches no database;
- preview: WhatsApp's link-preview fetch (user agent WhatsApp/...): one read, nothing written -> 302;
- redirect: a person's tap of a random recipient's token: one statement that records the click and its
  counters and reads the destination -> 302.

It then checks the clicks recorded equal the 302s the redirect phase got (and the counters a recount).
Targets: redirect >= 2,000 requests/s with p99 < 20 ms. Prints ONE JSON line.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from _setup import bench_template_and_audience, django_on_postgres, free_port, generate_contacts

ROOT = Path(__file__).resolve().parent.parent
PHONE = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36"
PREVIEW = "WhatsApp/2.24.12.78 A"
SECRET_KEY = "bench-secret-key-0123456789-bench-secret-key-0123456789"


def setup_campaign(recipients: int) -> tuple[int, list[str]]:
    """A running campaign whose first `recipients` contacts are delivered; their tokens."""
    import datetime as dt

    from django.db import connection

    from campaigns.links import recipient_token
    from campaigns.models import Campaign
    from campaigns.services import campaign_recount

    template, audience = bench_template_and_audience()
    Campaign.objects.filter(name="bench redirect").delete()
    at = dt.datetime.now(tz=dt.UTC) - dt.timedelta(hours=1)
    campaign = Campaign.objects.create(
        name="bench redirect",
        template=template,
        audience=audience,
        status="running",
        start_at=at,
        link_url="https://shop.example/spring?utm_source=whatsapp&utm_campaign=spring&name={{contact.first_name}}",
    )
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO campaigns_recipient (campaign_id, contact_id, phone, position, status, message_id, attempts,
                                             claimed_at, queued_at, sent_at, delivered_at,
                                             error_title, error_details, error_reason)
            SELECT %(c)s, c.id, c.phone, c.id - 1, 'delivered', 'wamid.redirect.' || %(c)s || '.' || c.id, 1,
                   %(t)s, %(t)s, %(t)s, %(t)s, '', '', ''
            FROM audiences_contact c WHERE c.id <= %(n)s
            """,
            {"c": campaign.pk, "t": at, "n": recipients},
        )
        cursor.execute("ANALYZE campaigns_recipient")
    campaign_recount(campaign=campaign)
    ids = campaign.recipients.values_list("pk", flat=True)
    return campaign.pk, [recipient_token(pk) for pk in ids]


def _client(port: int, paths: list[str], user_agent: str, until: float, threads: int, out) -> None:
    """One client process: `threads` threads requesting random paths until `until`; (status, ms) per request."""
    results: list[tuple[int, float]] = []
    lock = threading.Lock()

    def run():
        rng = random.Random()  # noqa: S311 (load)
        mine = []
        while time.time() < until:
            path = rng.choice(paths)
            request = f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nUser-Agent: {user_agent}\r\n\r\n".encode()
            started = time.perf_counter()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
                    conn.sendall(request)
                    head = conn.recv(64)
                    while conn.recv(65536):
                        pass
                status = int(head[9:12]) if head.startswith(b"HTTP/") else 0
            except OSError:
                status = 0
            mine.append((status, (time.perf_counter() - started) * 1000))
        with lock:
            results.extend(mine)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    out.put(results)


def load(port: int, paths: list[str], *, user_agent: str, seconds: float, clients: int, threads: int) -> dict:
    until = time.time() + seconds
    queue = multiprocessing.Queue()
    processes = [
        multiprocessing.Process(target=_client, args=(port, paths, user_agent, until, threads, queue))
        for _ in range(clients)
    ]
    started = time.perf_counter()
    for process in processes:
        process.start()
    results = [item for _ in processes for item in queue.get()]
    for process in processes:
        process.join()
    elapsed = time.perf_counter() - started
    latencies = sorted(ms for _status, ms in results)
    statuses: dict[str, int] = {}
    for status, _ms in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {
        "requests": len(results),
        "requests_per_s": round(len(results) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1) if latencies else None,
        "statuses": statuses,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per client process")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    os.environ["SECRET_KEY"] = SECRET_KEY  # the tokens are signed with the server's key
    django_on_postgres()
    from django.db import connection

    from campaigns.engagement import engagement_counts
    from campaigns.models import Campaign, Click

    with connection.cursor() as cursor:
        generate_contacts(cursor, args.recipients)
        cursor.execute("TRUNCATE campaigns_click")
    campaign_id, tokens = setup_campaign(args.recipients)
    connection.close()

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": SECRET_KEY,
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
        "VAR_DIR": os.environ.get("VAR_DIR", "/tmp/var-wa-bench"),
    }
    (Path(env["VAR_DIR"]) / "static").mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "config.wsgi:application", "--workers", "2",
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "--backlog", "4096"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    sys.exit("gunicorn did not start")
                time.sleep(0.1)
        paths = [f"/r/{token}" for token in tokens]
        guessed = [f"/r/{token[:-1]}{'A' if token[-1] != 'A' else 'B'}" for token in tokens[:1000]]
        options = {"seconds": args.seconds, "clients": args.clients, "threads": args.threads}
        load(port, paths[:200], user_agent=PREVIEW, seconds=2, clients=1, threads=2)  # warm-up: imports, connections
        baseline = load(port, guessed, user_agent=PHONE, **options)
        preview = load(port, paths, user_agent=PREVIEW, **options)
        redirect = load(port, paths, user_agent=PHONE, **options)
    finally:
        server.terminate()
        server.wait(timeout=60)

    campaign = Campaign.objects.get(pk=campaign_id)
    recount = engagement_counts(campaign_id=campaign_id)
    print(
        json.dumps(
            {
                "bench": "redirect",
                "database": "postgresql",
                "cpus": os.cpu_count(),
                "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
                "recipients": args.recipients,
                "gunicorn_workers": 2,
                "client": f"{args.clients} processes x {args.threads} threads, a new connection per request",
                "baseline_guessed_token_404": baseline,
                "link_preview_302_not_counted": preview,
                "redirect_302_counted": redirect,
                "clicks_recorded": Click.objects.filter(campaign_id=campaign_id).count(),
                "clicks_equal_302s": Click.objects.filter(campaign_id=campaign_id).count()
                == redirect["statuses"].get("302", 0),
                "counters_equal_recount": {k: getattr(campaign, k) for k in recount} == recount,
                "targets": {"redirect_requests_per_s_at_least": 2000, "p99_ms_below": 20},
                "note": "same run, same server: baseline = a guessed token (whole stack, no query, 404); preview = "
                "WhatsApp's fetch (one read, 302, nothing recorded); redirect = a person's tap (one statement: "
                "click row, recipient, campaign and day counters, destination; 302). The client shares the "
                "machine's cores with the server.",
            }
        )
    )


if __name__ == "__main__":
    main()
