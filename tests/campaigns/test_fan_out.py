"""Fan-out on Celery with two real worker processes (`celery -A config worker`), PostgreSQL and Redis.

Sends are counted at the sandbox (a real HTTP server), so a duplicate cannot
hide behind our own records. The batch runs as `send_batch --fan-out`, its
own OS process, like an operator's or the bench's.
"""

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from django.conf import settings as django_settings

from audiences.models import Contact
from campaigns.leases import recipients_expire_leases
from campaigns.models import Campaign, QuotaReservation, Recipient, SendLease
from campaigns.services import campaign_activate
from tests.campaigns.helpers import START, assert_counters_match_recount, running_campaign, statuses
from tests.campaigns.test_concurrency import ROOT, batch_env, finish, start_batches
from tests.factories.audiences import AudienceFactory
from tests.factories.campaigns import CampaignFactory
from whatsapp.models import Sender
from whatsapp.sandbox import SandboxServer

R = Recipient.Status
pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def fan_out_env(sandbox: SandboxServer, **extra) -> dict:
    return batch_env(
        sandbox,
        CELERY_BROKER_URL=django_settings.CELERY_BROKER_URL,
        CELERY_RESULT_BACKEND=django_settings.CELERY_RESULT_BACKEND,
        SEND_RATE_LIMIT_URL=django_settings.CELERY_BROKER_URL,
        **extra,
    )


class Worker:
    """`celery -A config worker` in its own process group, serving the send queue; ready when it says so."""

    def __init__(self, name: str, env: dict):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "send", "-c", "1", "-n", f"{name}@%h",
             "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env={**env, "LOG_LEVEL": "INFO", "LOG_STREAM": "stderr"}, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line)
            if " ready." in line:
                self.ready.set()

    def tasks_done(self) -> int:
        return sum("campaigns.send_chunk" in line and "succeeded" in line for line in self.lines)

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """Warm shutdown, then the whole process group killed whatever it did (no worker outlives its test)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture
def workers():
    """Start worker processes with `start(n, env)`; all stopped at the end. The send queue starts empty."""
    from config.celery import app

    with app.connection_for_write() as connection:
        channel = connection.default_channel
        channel.queue_declare("send", durable=True, auto_delete=False)
        channel.queue_purge("send")
        channel.client.delete(channel.unacked_key, channel.unacked_index_key)  # a killed worker's, from before
    started: list[Worker] = []

    def start(count: int, env: dict) -> list[Worker]:
        new = [Worker(f"w{len(started) + i}", env) for i in range(count)]
        started.extend(new)
        for worker in new:
            assert worker.ready.wait(60), "".join(worker.lines[-20:])
        return new

    yield start
    for worker in started:
        with contextlib.suppress(Exception):  # stop every one, whatever happened to the others
            worker.stop()


def campaign_of(count: int) -> Campaign:
    """A running campaign over `count` new contacts (everyone), made with set-based inserts: thousands in a second."""
    Contact.objects.bulk_create(
        Contact(phone=f"+1415{3000000 + i:07d}", name=f"P {i}", first_name="P") for i in range(count)
    )
    audience = AudienceFactory(rules={"everyone": True})
    campaign = CampaignFactory(audience=audience)
    campaign_activate(campaign=campaign, now=START)
    campaign.refresh_from_db()
    return campaign


def run_fan_out(env: dict, *, as_of=START) -> dict:
    (process,) = start_batches(1, as_of=as_of, env=env, args=("--fan-out",))
    return finish(process)


def test_two_workers_send_a_5000_recipient_campaign_once_each_and_counters_equal_a_recount(
    transactional_db, settings, workers
):
    settings.WHATSAPP_DAILY_LIMIT = 10_000
    campaign = campaign_of(5000)
    with SandboxServer(webhook_url=None, app_secret="x", latency_ms=20) as sandbox:
        env = fan_out_env(sandbox, SEND_CHUNK_SIZE=250, WHATSAPP_DAILY_LIMIT=10_000)
        both = workers(2, env)
        result = run_fan_out(env)
    assert result["sent"] == 5000 and result["unknown"] == result["failed"] == 0
    trackers = Counter(m["tracker"] for m in sandbox.accepted)
    assert len(trackers) == 5000 and max(trackers.values()) == 1
    assert max(Counter(m["to"] for m in sandbox.accepted).values()) == 1
    assert all(worker.tasks_done() > 0 for worker in both)  # both workers sent
    assert statuses(campaign) == {R.SENT: 5000}
    assert QuotaReservation.objects.count() == 5000
    assert not SendLease.objects.exists()
    assert_counters_match_recount(campaign)


def test_a_worker_killed_mid_chunk_leaves_only_its_in_flight_rows_unknown_and_no_phone_is_sent_twice(
    transactional_db, settings, workers
):
    settings.WHATSAPP_DAILY_LIMIT = 10_000
    settings.SEND_CLAIM_LEASE_MINUTES = 0.2  # 12 s: the batch stops waiting for the dead worker's chunk
    campaign = campaign_of(1200)
    in_flight = threading.Event()
    with SandboxServer(webhook_url=None, app_secret="x", latency_ms=200) as slow:
        handle_send = slow.handle_send

        def counting(payload):
            answer = handle_send(payload)
            if len(slow.accepted) >= 150:
                in_flight.set()
            return answer

        slow.handle_send = counting
        env = fan_out_env(
            # One chunk waits for a worker at most: never half a lease in the queue (2 s per chunk here).
            slow, SEND_CHUNK_SIZE=200, WHATSAPP_MAX_IN_FLIGHT=20, SEND_CLAIM_LEASE_MINUTES=0.2,
            SEND_FAN_OUT_BACKLOG=1, WHATSAPP_DAILY_LIMIT=10_000,
        )  # fmt: skip
        victim, survivor = workers(2, env)
        (batch,) = start_batches(1, as_of=START, env=env, args=("--fan-out",))
        assert in_flight.wait(timeout=60)
        victim.kill()
        first = finish(batch)
        slow.wait_idle(5)
        time.sleep(0.5)  # answers to requests the sandbox had already received
        first_run = list(slow.accepted)

        swept = recipients_expire_leases(now=START + dt.timedelta(hours=1))
        unknown = set(Recipient.objects.filter(status=R.UNKNOWN).values_list("pk", flat=True))
        sent = set(Recipient.objects.filter(status=R.SENT).values_list("pk", flat=True))
        accepted = {int(m["tracker"]) for m in first_run}
        assert first["sent"] <= len(sent)  # the killed worker's recorded sends never reached the batch
        assert accepted - sent <= unknown  # every send not recorded is unknown, never pending
        assert 0 < len(unknown) <= 2 * 20  # only the killed worker's dispatched window
        assert swept["pending"] > 0  # its chunk's never-dispatched rows came back ...
        assert QuotaReservation.objects.count() == len(sent) + len(unknown)  # ... with their quota
        assert not Recipient.objects.filter(status=R.QUEUED).exists()

        second = run_fan_out(env, as_of=START + dt.timedelta(hours=1))
    assert second["sent"] == 1200 - len(sent) - len(unknown)
    trackers = Counter(m["tracker"] for m in slow.accepted)
    assert max(trackers.values()) == 1  # no phone twice across both runs, counted at the server
    assert not unknown & {int(t) for t in trackers if int(t) not in accepted}
    assert statuses(campaign) == {R.SENT: 1200 - len(unknown), R.UNKNOWN: len(unknown)}
    assert_counters_match_recount(campaign)


def test_two_numbers_each_keep_their_own_rate_and_share_the_portfolio_limit(transactional_db, settings, workers):
    settings.WHATSAPP_DAILY_LIMIT = 180
    fast = Sender.objects.create(phone_number_id="100000000000001", throughput_mps=30)
    slow_number = Sender.objects.create(phone_number_id="100000000000009", throughput_mps=15)
    first = running_campaign(150, sender=fast)
    second = running_campaign(150, sender=slow_number)
    with SandboxServer(
        webhook_url=None, app_secret="x", latency_ms=50, other_phone_number_ids=("100000000000009",)
    ) as sandbox:
        env = fan_out_env(sandbox, SEND_CHUNK_SIZE=30, WHATSAPP_DAILY_LIMIT=180)
        workers(2, env)
        result = run_fan_out(env)
    assert result["sent"] == 180  # the portfolio's limit, shared by both numbers
    assert statuses(first)[R.SENT] == statuses(second)[R.SENT] == 90  # equal priority, equal shares
    for number, rate in ((fast.phone_number_id, 30), (slow_number.phone_number_id, 15)):
        times = sorted(at for at, sender, _ in sandbox.arrivals if sender == number)
        assert len(times) == 90
        busiest = max(sum(1 for t in times[i:] if t < start + 1) for i, start in enumerate(times))
        # Each number reaches its own rate (the fast one twice the slow one's) and never more in any second.
        assert 0.7 * rate <= busiest <= rate + 2, (number, busiest)
    for campaign in (first, second):
        assert_counters_match_recount(campaign)
