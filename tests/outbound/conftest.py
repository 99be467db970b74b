"""A real HTTP receiver for outbound events, and the two ways deliveries run in these tests.

- `receiver`: a local HTTP server that records every request (headers, raw
  body, arrival time) and answers from a script (status, delay, headers);
  tests wait on it, never sleep.
- `deliver_inline`: the delivery task runs where it is enqueued (on commit),
  through Celery's own `apply()`, with real HTTP; a retry is recorded, not
  run. Tests about retries and workers use `live_celery_worker` instead.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Answer:
    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"


class Receiver:
    """Answers requests from `script` in order (the last answer repeats); records each request."""

    def __init__(self) -> None:
        self.script: list[Answer] = [Answer()]
        self.requests: list[Received] = []
        self._arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._arrived:
                    answer = receiver.script[min(len(receiver.requests), len(receiver.script) - 1)]
                    receiver.requests.append(Received(dict(self.headers.items()), body, time.monotonic()))
                    receiver._arrived.notify_all()
                time.sleep(answer.delay)  # the endpoint's own slowness, not the test waiting
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except OSError:  # the sender timed out and went away
                    pass

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/campaigns"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def answer(self, *answers: Answer) -> None:
        self.script = list(answers)

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.requests) >= count, timeout=timeout):
                raise AssertionError(f"{len(self.requests)} request(s) after {timeout} s, expected {count}")
            return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def deliver_inline(monkeypatch):
    """Run each enqueued delivery at once (real HTTP); retries (a countdown) are recorded in the returned list."""
    from outbound.tasks import deliver_many_task, deliver_task

    retries: list[tuple[int, float]] = []

    def apply_async(args, countdown=None, **kwargs):
        if countdown is not None:
            retries.append((args[0], countdown))
            return None
        return deliver_task.apply(args, throw=True)

    monkeypatch.setattr(deliver_task, "apply_async", apply_async)
    monkeypatch.setattr(
        deliver_many_task, "apply_async", lambda args, **kwargs: deliver_many_task.apply(args, throw=True)
    )
    return retries


def wait_until(condition, timeout: float = 30, interval: float = 0.05):
    """Poll the database until `condition()` is true (what a worker does there has no other signal)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(interval)
    raise AssertionError(f"not true after {timeout} s: {condition.__doc__ or condition}")
