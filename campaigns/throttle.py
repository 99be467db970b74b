"""The send rate limit of each sender number, in one place (docs/architecture.md, "Rate limits").

WhatsApp allows a phone number about 80 messages per second by default (up to
1,000 on the higher tiers); over it the API answers 130429. The limit is per
number and must hold for the sum of every process sending from it: Celery's
own `rate_limit` is per worker, so it cannot.

`sender_limiter(number, rate)` gives the number's limiter:
- with Redis (SEND_RATE_LIMIT_URL, by default the Redis broker): GCRA in one
  short Lua script, atomic on the Redis server and timed by the Redis clock,
  so every process on every machine shares one schedule;
- otherwise (the embedded stack: one process sends) an in-process one with the
  same behaviour.

Why GCRA rather than a token bucket in Lua: it keeps one number per sender (the
theoretical arrival time of the next send, TAT) instead of a token count and a
refill time, and a caller *reserves* its slots and sleeps until them, in
arrival order, instead of polling for a token: no busy retries from N workers,
and sends are spaced exactly 1/rate apart (no burst), so no one-second window
holds more than the rate plus one. A reservation not used (its process died)
only leaves a gap. Libraries such as `limits` answer allow/deny and leave the
waiting (and the polling) to the caller; this needs fifteen lines of Lua.

A rate of 0 or less means unlimited. Each number's limiter runs WHATSAPP_RATE_MARGIN
(default 10%) under its rate: sends leave on their slots, but a busy process's
late ones arrive bunched with the next (`sender_limiter`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

from django.conf import settings

logger = logging.getLogger(__name__)

# KEYS[1]: the number's TAT (microseconds of the Redis clock); KEYS[2]: sends reserved per second (a hash).
# ARGV[1]: microseconds between two sends; ARGV[2]: how many sends to reserve.
# Returns the microseconds until the first reserved slot; the others follow ARGV[1] apart.
GCRA_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local interval = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local new_tat = tat + n * interval
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 60000)
local second = math.floor(tat / 1000000)
redis.call('HINCRBY', KEYS[2], second, n)
redis.call('HDEL', KEYS[2], second - 60)
redis.call('EXPIRE', KEYS[2], 120)
return string.format('%.0f', tat - now)
"""

GAUGE_SECONDS = 5  # the current rate is the mean of the last complete seconds


class LocalLimiter:
    """GCRA in this process: the embedded stack's limiter, and the fallback while Redis is unreachable."""

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic):
        self.rate = float(rate)
        self._clock = clock
        self._lock = threading.Lock()
        self._tat = 0.0
        self._per_second: dict[int, int] = {}

    @property
    def unlimited(self) -> bool:
        return self.rate <= 0

    def reserve(self, n: int = 1) -> float:
        """Reserve `n` send slots; seconds until the first (the others follow 1/rate apart)."""
        if self.unlimited:
            return 0.0
        with self._lock:
            now = self._clock()
            tat = max(self._tat, now)
            self._tat = tat + n / self.rate
            second = int(time.time() + tat - now)
            self._per_second[second] = self._per_second.get(second, 0) + n
            self._per_second.pop(second - 60, None)
            return tat - now

    def acquire(self) -> None:
        """Take one slot, sleeping until it comes."""
        wait = self.reserve(1)
        if wait > 0:
            time.sleep(wait)

    def current_rate(self) -> float:
        return _mean_rate(self._per_second)


class RedisLimiter(LocalLimiter):
    """GCRA shared through Redis by every process sending from the number."""

    def __init__(self, rate: float, *, key: str, client):
        super().__init__(rate)
        self.key = key
        self._client = client
        self._script = client.register_script(GCRA_RESERVE)

    def reserve(self, n: int = 1) -> float:
        if self.unlimited:
            return 0.0
        interval = max(1, round(1_000_000 / self.rate))
        try:
            wait = self._script(keys=[f"{self.key}:tat", f"{self.key}:sent"], args=[interval, n])
        except Exception:  # Redis away: this process alone keeps the rate until it is back; logged
            logger.exception("rate limiter %s unreachable: limiting this process only", self.key)
            return super().reserve(n)
        return int(wait) / 1_000_000

    def current_rate(self) -> float:
        try:
            counts = self._client.hgetall(f"{self.key}:sent")
        except Exception:
            logger.exception("rate limiter %s unreachable", self.key)
            return 0.0
        return _mean_rate({int(k): int(v) for k, v in counts.items()})


def _mean_rate(per_second: dict[int, int]) -> float:
    """Sends per second over the last GAUGE_SECONDS complete seconds."""
    this_second = int(time.time())
    return sum(per_second.get(s, 0) for s in range(this_second - GAUGE_SECONDS, this_second)) / GAUGE_SECONDS


_limiters: dict[str, LocalLimiter] = {}
_limiters_lock = threading.Lock()


def sender_limiter(number: str, rate: float) -> LocalLimiter:
    """The limiter of sender `number` (its phone number id) at `rate` messages/s less WHATSAPP_RATE_MARGIN: one
    object per process. Sends leave exactly on their slots, but a busy process sends some late, bunched with the
    next ones, and Meta counts them as they arrive: the margin keeps that bunching under the number's rate."""
    url = settings.SEND_RATE_LIMIT_URL
    with _limiters_lock:
        limiter = _limiters.get(number)
        if limiter is None or getattr(limiter, "_url", None) != url:
            if url:
                import redis

                limiter = RedisLimiter(rate, key=f"whatsapp:rate:{number}", client=redis.Redis.from_url(url))
            else:
                limiter = LocalLimiter(rate)
            limiter._url = url
            _limiters[number] = limiter
        limiter.rate = float(rate) * (1 - settings.WHATSAPP_RATE_MARGIN)  # a changed throughput applies at once
        return limiter


def in_flight_limit(rate: float, *, latency: float) -> int:
    """How many requests to keep in flight: rate x latency, doubled for jitter, within WHATSAPP_MAX_IN_FLIGHT."""
    cap = settings.WHATSAPP_MAX_IN_FLIGHT
    if rate <= 0:
        return cap
    return max(4, min(cap, math.ceil(2 * rate * max(latency, 0.05))))
