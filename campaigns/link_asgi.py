"""The ASGI link server: the tracked link's taps at a campaign's pace, recorded in batches
(docs/architecture.md, "Engagement").

    gunicorn -c python:config.gunicorn_links config.asgi:application   (docker-compose.yml: links)

When a campaign lands, its recipients tap within minutes, thousands a second.
A synchronous worker answers one tap at a time, each in its own transaction;
here each worker process answers every tap that arrives, queues it, and one
task (`ClickWriter`) records all the taps queued while its last statement ran
in one statement and one transaction (`links._CLICKS_SQL`, the view's own
statement, which takes a batch), on its own connection. Each tap is answered
only once the transaction holding it has committed: a 302 is a recorded click,
and the counters equal a recount at every commit. Link previews and bots are
read the same way (`links._DESTINATIONS_SQL`), never counted.

The same decisions as the WSGI path (`campaigns.link_http`): a plain tap is
answered here, anything else (another method, a disallowed host, http where
https is required, a refused token, a recipient that is gone) by Django's own
ASGI handler. On a database other than PostgreSQL a tap runs the view's
function in a thread, unbatched.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.utils import timezone

from campaigns.link_http import plain_tap, redirect_headers, redirect_location
from campaigns.links import PLAN_CACHE_MODE, ClickResult, is_bot, recipient_click_record, taps_results, taps_statement

logger = logging.getLogger("django.request")


@dataclasses.dataclass
class _Tap:
    recipient_id: int
    at: dt.datetime
    counted: bool
    answer: asyncio.Future


class ClickWriter:
    """One per worker process: taps queue here and one task records them, a batch per statement.

    The batch is whatever queued while the last statement ran (at most MAX_BATCH): one tap when taps are few,
    hundreds when a campaign lands. A deadlock between two workers' batches (they update the same rows in
    different orders) rolls one back whole and it runs again; any other error answers its batch's taps 500 and
    the next batch opens a new connection if this one is broken.
    """

    MAX_BATCH = 500
    RETRIES = 3

    def __init__(self):
        self._queue: asyncio.Queue[_Tap] | None = None
        self._task: asyncio.Task | None = None
        self._connection = None

    async def tap(self, recipient_id: int, at: dt.datetime, *, counted: bool) -> ClickResult | None:
        """The tap's result once the transaction that recorded it (a person's) or read it (a preview) committed."""
        if self._task is None or self._task.done():
            self._queue = asyncio.Queue()
            self._task = asyncio.get_running_loop().create_task(self._run())
        answer = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Tap(recipient_id, at, counted, answer))
        return await answer

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            for counted in (True, False):
                taps = [tap for tap in batch if tap.counted == counted]
                if taps:
                    await self._record(taps, counted=counted)

    async def _record(self, taps: list[_Tap], *, counted: bool) -> None:
        import psycopg

        sql, params = taps_statement([(tap.recipient_id, tap.at) for tap in taps], counted=counted)
        for attempt in range(1, self.RETRIES + 1):
            try:
                connection = await self._connect()
                cursor = await connection.execute(sql, params, prepare=settings.LINK_PREPARED_STATEMENTS)
                rows = await cursor.fetchall()
                break
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
                if attempt == self.RETRIES:
                    return self._fail(taps)
            except Exception:
                return self._fail(taps)
        for tap, result in zip(taps, taps_results(rows, len(taps), counted=counted), strict=True):
            if not tap.answer.done():  # a client that went away
                tap.answer.set_result(result)

    def _fail(self, taps: list[_Tap]) -> None:
        logger.exception("Tracked-link taps not recorded: %d", len(taps))
        if self._connection is not None and self._connection.broken:
            self._connection = None
        error = RuntimeError("the taps' statement failed")
        for tap in taps:
            if not tap.answer.done():
                tap.answer.set_exception(error)

    async def _connect(self):
        """The writer's own connection, with Django's connection settings; autocommit: each statement commits."""
        import psycopg

        if self._connection is None or self._connection.closed:
            params = connections["default"].get_connection_params()
            for django_only in ("cursor_factory", "context", "prepare_threshold", "server_side_binding"):
                params.pop(django_only, None)
            connection = await psycopg.AsyncConnection.connect(**params, autocommit=True)
            if settings.LINK_PREPARED_STATEMENTS:
                await connection.execute(PLAN_CACHE_MODE)
            self._connection = connection
        return self._connection


class LinkRedirectASGI:
    """An ASGI application: plain taps of /r/<token> answered here, every other request by Django's `app`."""

    def __init__(self, app):
        self.app = app
        self.writer = ClickWriter()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        get = _header_getter(scope)
        method = scope["method"]
        server = ":".join(str(part) for part in scope.get("server") or ("", ""))
        tap = plain_tap(method=method, path=scope["path"], get=get, scheme=scope.get("scheme", "http"), server=server)
        if tap is None:
            return await self.app(scope, receive, send)
        try:
            result = await self._tap(tap.recipient_id, method=method, user_agent=get("HTTP_USER_AGENT"))
        except Exception:
            logger.exception("Internal Server Error: %s", scope["path"], extra={"status_code": 500})
            return await _answer(send, 500, b"Server Error (500)")
        if result is None or not result.destination:
            return await self.app(scope, receive, send)  # nothing recorded: Django's 404, as the view answers
        location = redirect_location(result.destination)
        if location is None:
            return await _answer(send, 400, b"Bad Request (400)")
        encoded = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in
                   redirect_headers(location, secure=tap.secure)]  # fmt: skip
        await send({"type": "http.response.start", "status": 302, "headers": encoded})
        await send({"type": "http.response.body", "body": b""})

    async def _tap(self, recipient_id: int, *, method: str, user_agent: str) -> ClickResult | None:
        counted = not is_bot(method=method, user_agent=user_agent)
        at = timezone.now()
        if connections["default"].vendor == "postgresql":
            return await self.writer.tap(recipient_id, at, counted=counted)
        return await sync_to_async(recipient_click_record)(recipient_id, at=at, counted=counted)

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.writer.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _header_getter(scope):
    """`get(name)`: the request's header by its WSGI name (HTTP_HOST) or '', as Django's ASGI handler names them;
    the headers are read on the first call (only taps of /r/ make one)."""
    headers = None

    def get(name: str) -> str:
        nonlocal headers
        if headers is None:
            headers = {}
            for key, value in scope.get("headers", ()):
                headers.setdefault("HTTP_" + key.decode("latin-1").upper().replace("-", "_"), value.decode("latin-1"))
        return headers.get(name, "")

    return get


async def _answer(send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
