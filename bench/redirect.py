"""Benchmark the tracked link's redirect (/r/<token>) on PostgreSQL: gunicorn with 2 workers, three ways.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_redirect_bench .venv/bin/python bench/redirect.py

A running campaign of --recipients delivered recipients with a link destination
(placeholders and UTM parameters). The same client, the same data, one run;
--seconds a phase; the client is wrk (--connections connections, 2 threads) where
it is installed (apt-get install wrk), else Python processes on raw sockets (it
costs the server more of the machine's cores):

- django_404: a guessed token through Django's whole stack, no query (refused by the HMAC check) -> 404:
  the floor of a Django request on this machine (the same phase as earlier runs of this bench);
- django_view_counted: a person's tap through Django (config.wsgi:django_application), sync workers;
- wsgi_counted: the same through the web server's WSGI path (config.wsgi:application: links.link_tap ahead of
  Django), sync workers: a new connection per request, as sync workers close every one;
- link_server_preview / link_server_counted: the ASGI link server as deployed (gunicorn -c
  python:config.gunicorn_links config.asgi:application), its taps recorded in batches; connections reused, as a
  proxy or load balancer in front reuses them (ALB, Cloudflare, nginx with upstream keepalive);
- link_server_counted_new_connections: the same with a new connection per request (a proxy that does not reuse);
- link_server_counted_with_access_log: the link server with config/gunicorn.py's access log (a line per tap).

After each counted phase it checks that every 302 is a recorded click (a request in flight when the client
stops may be recorded without its 302 being counted: at most --connections), and at the end that the counters
equal a recount. Target: the link server's counted taps >= 2,000 requests/s with p99 < 20 ms.
Prints ONE JSON line.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
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


WRK_SCRIPT = r"""
local paths, threads = {}, {}
for line in io.lines(os.getenv("BENCH_PATHS")) do paths[#paths + 1] = line end
local headers = {["User-Agent"] = os.getenv("BENCH_UA"), ["Host"] = "127.0.0.1"}
if os.getenv("BENCH_CLOSE") == "1" then headers["Connection"] = "close" end
function setup(thread) table.insert(threads, thread) end
function init(args)
  counts = {}
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end
function request() return wrk.format("GET", paths[math.random(#paths)], headers) end
function response(status, headers, body) counts[status] = (counts[status] or 0) + 1 end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts")) do total[k] = (total[k] or 0) + v end
  end
  io.write("STATUS")
  for k, v in pairs(total) do io.write(" " .. k .. "=" .. v) end
  io.write(string.format("\nLATENCY %d %d\n", latency:percentile(50), latency:percentile(99)))
end
"""


def load_wrk(port: int, paths: list[str], *, user_agent: str, seconds: float, connections: int, close: bool) -> dict:
    """wrk's figures for `seconds` of GETs of random `paths`: statuses counted by its Lua script."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "paths.txt").write_text("\n".join(paths))
        (Path(tmp) / "bench.lua").write_text(WRK_SCRIPT)
        env = {**os.environ, "BENCH_PATHS": f"{tmp}/paths.txt", "BENCH_UA": user_agent, "BENCH_CLOSE": str(int(close))}
        out = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-s", f"{tmp}/bench.lua", f"http://127.0.0.1:{port}"],
            env=env, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    statuses = dict(re.findall(r"(\d+)=(\d+)", out.split("STATUS", 1)[1].splitlines()[0]))
    p50, p99 = (int(us) / 1000 for us in re.search(r"LATENCY (\d+) (\d+)", out).groups())
    requests = sum(int(n) for n in statuses.values())
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "requests": requests,
        "requests_per_s": round(float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), 1),
        "p50_ms": round(p50, 1),
        "p99_ms": round(p99, 1),
        "statuses": {k: int(v) for k, v in statuses.items()},
        **({"socket_errors": errors.group(1)} if errors else {}),
    }


def start(command: list[str], env: dict) -> subprocess.Popen:
    port = free_port()
    server = subprocess.Popen([*command, "--workers", "2", "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
                               "--backlog", "4096"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            server.port = port
            return server
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                sys.exit(f"{command} did not start")
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections (wrk)")
    parser.add_argument("--clients", type=int, default=2, help="client processes (Python client, without wrk)")
    parser.add_argument("--threads", type=int, default=8, help="threads per client process (Python client)")
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
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    wrk = shutil.which("wrk")
    paths = [f"/r/{token}" for token in tokens]
    guessed = [f"/r/{token[:-1]}{'A' if token[-1] != 'A' else 'B'}" for token in tokens[:1000]]

    def run(server, phase_paths, *, user_agent, close, seconds=args.seconds) -> dict:
        if wrk:
            return load_wrk(server.port, phase_paths, user_agent=user_agent, seconds=seconds,
                            connections=args.connections, close=close)  # fmt: skip
        return load(server.port, phase_paths, user_agent=user_agent, seconds=seconds, clients=args.clients,
                    threads=args.threads)  # fmt: skip

    def counted(server, *, close) -> dict:
        before = Click.objects.filter(campaign_id=campaign_id).count()
        figures = run(server, paths, user_agent=PHONE, close=close)
        recorded = Click.objects.filter(campaign_id=campaign_id).count() - before
        answered = figures["statuses"].get("302", 0)
        figures["clicks_recorded"] = recorded
        figures["every_302_recorded"] = answered <= recorded <= answered + args.connections
        connection.close()
        return figures

    phases = {}
    servers = [
        ("django", [gunicorn, "config.wsgi:django_application"]),
        ("wsgi", [gunicorn, "config.wsgi:application"]),
        # As deployed (docker-compose.yml's links): config/gunicorn_links.py, the ASGI worker, no access log.
        ("link_server", [gunicorn, "-c", "python:config.gunicorn_links", "config.asgi:application"]),
        # With config/gunicorn.py's access log: a line per tap.
        ("link_server_logged", [gunicorn, "-c", "python:config.gunicorn", "-k", "asgi", "config.asgi:application"]),
    ]
    for name, command in servers:
        server = start(command, env)
        try:
            run(server, paths[:200], user_agent=PREVIEW, close=False, seconds=2)  # warm-up: imports, connections, plans
            if name == "django":
                phases["django_404"] = run(server, guessed, user_agent=PHONE, close=True)
                phases["django_view_counted"] = counted(server, close=True)
            elif name == "wsgi":
                phases["wsgi_counted"] = counted(server, close=True)
            elif name == "link_server_logged":
                phases["link_server_counted_with_access_log"] = counted(server, close=False)
            else:
                phases["link_server_preview"] = run(server, paths, user_agent=PREVIEW, close=False)
                phases["link_server_counted"] = counted(server, close=False)
                phases["link_server_counted_new_connections"] = counted(server, close=True)
        finally:
            server.terminate()
            server.wait(timeout=60)

    campaign = Campaign.objects.get(pk=campaign_id)
    recount = engagement_counts(campaign_id=campaign_id)
    target = phases["link_server_counted"]
    print(
        json.dumps(
            {
                "bench": "redirect",
                "database": "postgresql",
                "cpus": os.cpu_count(),
                "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
                "recipients": args.recipients,
                "gunicorn_workers": 2,
                "client": f"wrk, 2 threads, {args.connections} connections"
                if wrk
                else f"Python, {args.clients} processes x {args.threads} threads, a new connection per request",
                **phases,
                "clicks_recorded": Click.objects.filter(campaign_id=campaign_id).count(),
                "counters_equal_recount": {k: getattr(campaign, k) for k in recount} == recount,
                "targets": {"link_server_counted_requests_per_s_at_least": 2000, "p99_ms_below": 20},
                "target_met": target["requests_per_s"] >= 2000 and target["p99_ms"] < 20,
                "note": "same run, same data, same client: django_404 = Django's floor (no query); the counted "
                "phases are a person's tap (Click row, recipient, campaign and day counters, destination; 302) "
                "through Django, the WSGI path and the ASGI link server (batched). The client shares the "
                "machine's cores with the servers and PostgreSQL.",
            }
        )
    )


if __name__ == "__main__":
    main()
