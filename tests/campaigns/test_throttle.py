"""The token bucket paces sends at WHATSAPP_MAX_MPS (a fake clock: no real waiting)."""

from campaigns.throttle import TokenBucket


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_bucket_paces_sends_at_the_rate():
    clock = FakeClock()
    bucket = TokenBucket(80, clock=clock, sleep=clock.sleep)
    for _ in range(161):
        bucket.acquire()
    assert abs(clock.now - 2.0) < 1e-9  # the first is free, then one every 1/80 s


def test_zero_or_negative_rate_is_unlimited():
    clock = FakeClock()
    for rate in (0, -1):
        bucket = TokenBucket(rate, clock=clock, sleep=clock.sleep)
        for _ in range(1000):
            bucket.acquire()
    assert clock.now == 0.0


def test_idle_time_refills_at_most_the_burst():
    clock = FakeClock()
    bucket = TokenBucket(10, burst=1, clock=clock, sleep=clock.sleep)
    bucket.acquire()
    clock.now += 100  # a long pause earns one token, not a thousand
    bucket.acquire()
    start = clock.now
    bucket.acquire()
    assert abs(clock.now - start - 0.1) < 1e-9
