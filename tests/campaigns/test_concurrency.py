"""Real OS processes: concurrent batches never double-send nor overshoot; a killed batch never causes a resend."""

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from campaigns.models import QuotaReservation, Recipient
from tests.campaigns.helpers import START, assert_counters_match_recount, database_url, running_campaign
from whatsapp.sandbox import SandboxServer

ROOT = Path(__file__).resolve().parents[2]
R = Recipient.Status
DAY = dt.timedelta(days=1)

# Django starts first; each process says "ready" and waits for its stdin to
# close; closing them all together releases the batches at once, so they race.
RUNNER = """
import sys, django
django.setup()
from django.core.management import call_command
print("ready", flush=True)
sys.stdin.read()
call_command("send_batch", "--as-of", sys.argv[1], "--json", *sys.argv[2:])
"""


def batch_env(sandbox: SandboxServer, **extra) -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url(),
        SECRET_KEY="test-only-subprocess-key-0123456789-0123456789",
        DEBUG="0",
        LOG_LEVEL="ERROR",
        WHATSAPP_BACKEND="whatsapp.backends.cloud.CloudAPIBackend",
        WHATSAPP_API_BASE_URL=sandbox.url,
        WHATSAPP_ACCESS_TOKEN="test-access-token",
        WHATSAPP_PHONE_NUMBER_ID=sandbox.phone_number_id,
        WHATSAPP_DAILY_LIMIT=str(django_settings.WHATSAPP_DAILY_LIMIT),
        WHATSAPP_MAX_MPS="0",
        WHATSAPP_SEND_THREADS="4",
    )
    env.update({k: str(v) for k, v in extra.items()})
    if password := django_settings.DATABASES["default"].get("PASSWORD"):
        env["PGPASSWORD"] = password
    return env


def start_batches(count: int, *, as_of: dt.datetime, env: dict, args: tuple = ()) -> list[subprocess.Popen]:
    """Start `count` batch processes (`args`: more send_batch options), wait until each is ready, release them."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RUNNER, as_of.isoformat(), *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    for process in processes:
        assert process.stdout.readline().strip() == "ready", process.stderr.read()
    for process in processes:
        process.stdin.close()
    return processes


def finish(process: subprocess.Popen) -> dict:
    out = process.stdout.read()
    err = process.stderr.read()
    assert process.wait(timeout=120) == 0, err
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.postgres
def test_four_concurrent_batch_processes_send_at_most_the_limit_and_never_one_phone_twice(transactional_db, settings):
    settings.WHATSAPP_DAILY_LIMIT = 250
    first = running_campaign(300)
    second = running_campaign(300)
    with SandboxServer(webhook_url=None, app_secret="x", latency_ms=5) as sandbox:
        processes = start_batches(4, as_of=START, env=batch_env(sandbox))
        results = [finish(process) for process in processes]
    assert sum(r["sent"] for r in results) == 250
    assert len(sandbox.accepted) == 250
    assert max(Counter(m["tracker"] for m in sandbox.accepted).values()) == 1
    assert max(Counter(m["to"] for m in sandbox.accepted).values()) <= 2  # a phone may be in both campaigns
    pairs = Counter(
        Recipient.objects.filter(pk__in=[int(m["tracker"]) for m in sandbox.accepted]).values_list("campaign", "phone")
    )
    assert max(pairs.values()) == 1
    assert QuotaReservation.objects.count() == 250
    assert Recipient.objects.filter(status=R.SENT).count() == 250
    for campaign in (first, second):
        assert_counters_match_recount(campaign)


def test_a_batch_killed_mid_send_leaves_only_its_in_flight_rows_unknown_and_never_causes_a_resend(
    transactional_db, settings
):
    """kill -9 mid-round: after the lease, only the requests in flight are unknown; the rest are pending with
    their quota back, and the next batch sends them, never a phone twice (counted at the sandbox)."""
    from campaigns.batch import recipients_expire_leases

    settings.WHATSAPP_DAILY_LIMIT = 40
    settings.SEND_CLAIM_LEASE_MINUTES = 10
    threads = 4
    campaign = running_campaign(60)
    in_flight = threading.Event()
    with SandboxServer(webhook_url=None, app_secret="x", latency_ms=200) as slow:
        handle_send = slow.handle_send

        def counting(payload):
            answer = handle_send(payload)
            if len(slow.accepted) >= 10:
                in_flight.set()
            return answer

        slow.handle_send = counting
        (process,) = start_batches(1, as_of=START, env=batch_env(slow, WHATSAPP_SEND_THREADS=threads))
        assert in_flight.wait(timeout=60), process.stderr.read() if process.poll() is not None else "no sends"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        first_run = list(slow.accepted)
    assert Recipient.objects.filter(status__in=[R.QUEUED, R.SENT]).count() == 40  # claimed before the first send
    assert Recipient.objects.filter(status=R.QUEUED).exists()  # and the kill left some in flight

    swept = recipients_expire_leases(now=START + dt.timedelta(minutes=11))
    sent = set(Recipient.objects.filter(status=R.SENT).values_list("pk", flat=True))
    unknown = set(Recipient.objects.filter(status=R.UNKNOWN).values_list("pk", flat=True))
    accepted = {int(m["tracker"]) for m in first_run}
    assert swept["unknown"] == len(unknown) and accepted - sent <= unknown  # every unrecorded send is unknown
    assert len(unknown) <= 2 * threads  # only the dispatched sub-chunks: about the thread pool's window
    assert swept["pending"] == 40 - len(sent) - len(unknown) > 0  # never attempted: pending again ...
    assert QuotaReservation.objects.count() == len(sent) + len(unknown)  # ... with their quota back
    assert not Recipient.objects.filter(status=R.QUEUED).exists()

    settings.WHATSAPP_DAILY_LIMIT = 100  # room for everything left
    with SandboxServer(webhook_url=None, app_secret="x") as fast:
        (process,) = start_batches(1, as_of=START + DAY, env=batch_env(fast))
        result = finish(process)
    assert result["sent"] == 60 - len(sent) - len(unknown)  # everything but what went out or may have
    trackers = Counter(m["tracker"] for m in first_run + list(fast.accepted))
    assert max(trackers.values()) == 1  # no duplicates across both runs
    assert not unknown & {int(m["tracker"]) for m in fast.accepted}
    assert_counters_match_recount(campaign)
