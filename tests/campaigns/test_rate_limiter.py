"""One rate limit per sender number, shared by every process (campaigns/throttle.py)."""

import multiprocessing
import time

import pytest
from django.conf import settings as django_settings

from campaigns.throttle import GAUGE_SECONDS, LocalLimiter, RedisLimiter, in_flight_limit, sender_limiter


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_in_process_limiter_spaces_sends_exactly_one_over_the_rate_in_arrival_order():
    clock = FakeClock()
    limiter = LocalLimiter(80, clock=clock)
    waits = [limiter.reserve() for _ in range(81)]
    assert waits[0] == 0 and waits[1] == pytest.approx(1 / 80) and waits[80] == pytest.approx(1.0)
    assert limiter.reserve(8) == pytest.approx(81 / 80)  # a sub-chunk's 8 slots follow
    clock.now += 10  # idle: no burst saved up, the next send goes now and the one after 1/80 later
    assert limiter.reserve() == 0 and limiter.reserve() == pytest.approx(1 / 80)


def test_a_rate_of_zero_is_unlimited_and_the_window_follows_rate_times_latency(settings):
    assert LocalLimiter(0).reserve(1000) == 0
    settings.WHATSAPP_MAX_IN_FLIGHT = 256
    assert in_flight_limit(80, latency=0.2) == 32  # 80/s x 0.2 s, doubled
    assert in_flight_limit(1000, latency=0.2) == 256  # capped
    assert in_flight_limit(0, latency=0.2) == 256  # unlimited: the cap


def test_without_redis_each_number_has_its_own_in_process_limiter(settings):
    settings.SEND_RATE_LIMIT_URL = ""
    first, second = sender_limiter("n-1", 10), sender_limiter("n-2", 20)
    assert type(first) is LocalLimiter and first is not second
    assert sender_limiter("n-1", 30) is first and first.rate == 27  # a changed throughput applies at once ...
    settings.WHATSAPP_RATE_MARGIN = 0
    assert sender_limiter("n-1", 30).rate == 30  # ... less the margin


def _hammer(url: str, key: str, rate: float, count: int, out) -> None:
    import redis

    limiter = RedisLimiter(rate, key=key, client=redis.Redis.from_url(url))
    sent = []
    for _ in range(count):
        wait = limiter.reserve()
        if wait > 0:
            time.sleep(wait)
        sent.append(time.time())
    out.put(sent)


@pytest.mark.redis
def test_four_processes_sharing_a_number_send_at_its_rate_together_never_more_in_any_second():
    """The atomic GCRA in Redis: 4 OS processes x 30 sends at 40/s together take 3 s, not 0.75."""
    import redis

    key = f"test:rate:{time.monotonic_ns()}"
    url = django_settings.CELERY_BROKER_URL
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    processes = [context.Process(target=_hammer, args=(url, key, 40, 30, out)) for _ in range(4)]
    for process in processes:
        process.start()
    times = sorted(t for _ in processes for t in out.get(timeout=60))
    for process in processes:
        process.join(timeout=10)
    assert len(times) == 120
    busiest = max(sum(1 for t in times[i:] if t < start + 1) for i, start in enumerate(times))
    assert busiest <= 40 + 2
    assert (times[-1] - times[0]) == pytest.approx(119 / 40, rel=0.1)
    client = redis.Redis.from_url(url)
    assert sum(int(n) for n in client.hgetall(f"{key}:sent").values()) == 120  # the gauge Today reads
    client.delete(f"{key}:tat", f"{key}:sent")


@pytest.mark.redis
def test_the_gauge_gives_the_number_current_rate_from_the_last_complete_seconds(settings):
    settings.SEND_RATE_LIMIT_URL = django_settings.CELERY_BROKER_URL
    limiter = sender_limiter(f"gauge-{time.monotonic_ns()}", 80)
    now = int(time.time())
    counts = {now - s: 80 for s in range(1, GAUGE_SECONDS + 1)} | {now: 7}  # this second is not over yet
    limiter._client.hset(f"{limiter.key}:sent", mapping=counts)
    assert limiter.current_rate() == 80
    limiter._client.delete(f"{limiter.key}:sent")
