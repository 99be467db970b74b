"""The send rate limit (WHATSAPP_MAX_MPS), in one place: a token bucket shared by the send threads.

WhatsApp allows 80 messages per second per phone number by default; over it
the API answers 130429. The bucket holds at most `burst` tokens and refills at
`rate` per second; each send takes one, waiting for it if none is left.
A rate of 0 or less means unlimited.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(
        self,
        rate: float,
        *,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.rate = float(rate)
        self.burst = max(1.0, float(burst))
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._updated = clock()

    @property
    def unlimited(self) -> bool:
        return self.rate <= 0

    def acquire(self) -> None:
        """Take one token, blocking until the rate allows it."""
        if self.unlimited:
            return
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            # Take the token now (the balance may go negative): callers queue up
            # in arrival order and each waits exactly for its own slot.
            self._tokens -= 1.0
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
