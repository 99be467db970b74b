"""The tracked link's fast paths (docs/architecture.md, "Engagement"): the WSGI middleware on the web server and
the ASGI link server that records taps in batches.

Both answer what the view answers and record what the view records; whatever
they do not answer themselves reaches Django unchanged. The batch statement
keeps the counters equal to a recount whatever a batch holds (repeats, several
days, previews). The link server is run as it is deployed: gunicorn's ASGI
worker, two worker processes, real HTTP, and one worker killed under load.
Transactional tests: the fast paths open and close database connections as a
server does, and the link server's writer has its own connection.
"""

import asyncio
import datetime as dt
import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection
from django.test import RequestFactory
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from campaigns.links import _fetch_all, recipient_token, taps_results, taps_statement
from campaigns.models import Click, Recipient
from tests.campaigns.helpers import assert_counters_match_recount, database_url
from tests.campaigns.test_engagement import (
    DESTINATION,
    PERSON,
    assert_days_match_recount,
    delivered_campaign,
    recipients,
)

ROOT = Path(__file__).resolve().parents[2]
PREVIEW = "WhatsApp/2.24.12.78 A"
VARYING = {"vary", "content-language"}  # the view's LocaleMiddleware headers: a redirect has no language


# --- The WSGI path ----------------------------------------------------------------------------------------------


def wsgi_get(path: str, *, method: str = "GET", user_agent: str = PERSON, **environ) -> tuple[int, dict]:
    """A request through the middleware, then Django, as config/wsgi.py composes them (built per request: Django's
    middlewares read the settings a test overrides when they are built): its status and headers."""
    from django.core.wsgi import get_wsgi_application

    from campaigns.link_wsgi import LinkRedirectMiddleware

    application = LinkRedirectMiddleware(get_wsgi_application())

    request = RequestFactory().generic(method, path, headers={"user-agent": user_agent})
    environ = {**request.environ, "wsgi.input": request.environ["wsgi.input"], **environ}
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = int(status.split()[0]), {k.lower(): v for k, v in headers}

    body = application(environ, start_response)
    b"".join(body)
    body.close()
    return answer["status"], answer["headers"]


@pytest.mark.django_db(transaction=True)
def test_the_wsgi_path_records_and_answers_as_the_view_does(client):
    campaign = delivered_campaign(2)
    first, second = recipients(campaign)

    status, headers = wsgi_get(f"/r/{recipient_token(first.pk)}")
    view = client.get(f"/r/{recipient_token(second.pk)}", headers={"user-agent": PERSON})

    assert status == view.status_code == 302
    assert headers["location"].startswith("https://shop.example/sale?utm_source=whatsapp")
    expected = {k.lower(): v for k, v in view.headers.items() if k.lower() not in VARYING}
    assert {k: v for k, v in headers.items() if k != "location"} == {
        k: v for k, v in expected.items() if k != "location"
    }
    assert Click.objects.filter(campaign=campaign).count() == 2
    assert_counters_match_recount(campaign)


@pytest.mark.django_db(transaction=True)
def test_the_wsgi_path_hands_django_what_it_does_not_answer_and_records_nothing(settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    campaign = delivered_campaign(1)
    (recipient,) = recipients(campaign)
    token = recipient_token(recipient.pk)

    assert wsgi_get(f"/r/{token[:-1]}{'A' if token[-1] != 'A' else 'B'}")[0] == 404  # refused: Django's 404
    assert wsgi_get(f"/r/{recipient_token(10**9)}")[0] == 404  # well signed, no such recipient
    assert wsgi_get(f"/r/{token}", method="POST")[0] in (403, 405)  # Django's CSRF check, then the view's 405
    assert wsgi_get(f"/r/{token}", HTTP_HOST="evil.example")[0] == 400
    assert wsgi_get(f"/r/{token}", user_agent=PREVIEW)[0] == 302  # a preview is redirected, not counted
    assert wsgi_get(f"/r/{token}", method="HEAD")[0] == 302
    settings.ALLOWED_HOSTS = ["links.example"]
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    status, headers = wsgi_get(f"/r/{token}", HTTP_HOST="links.example")
    assert (status, headers["location"]) == (301, f"https://links.example/r/{token}")
    assert Click.objects.count() == 0

    status, headers = wsgi_get(f"/r/{token}", HTTP_HOST="links.example", HTTP_X_FORWARDED_PROTO="https")
    assert status == 302 and headers["strict-transport-security"].startswith("max-age=3600")
    assert Click.objects.count() == 1
    assert_counters_match_recount(campaign)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_after_the_database_connection_dies_one_tap_fails_unrecorded_and_the_next_reconnects():
    campaign = delivered_campaign(1)
    (recipient,) = recipients(campaign)
    path = f"/r/{recipient_token(recipient.pk)}"
    assert wsgi_get(path)[0] == 302
    pid = connection.connection.info.backend_pid
    with connection.cursor():  # the statement's prepared once per connection
        assert _prepared_on(pid) >= 1
    with _other_connection() as killer:
        killer.execute("SELECT pg_terminate_backend(%s)", [pid])

    assert wsgi_get(path)[0] == 500  # the dead connection: logged, answered 500, nothing recorded
    assert wsgi_get(path)[0] == 302  # a new connection

    assert Click.objects.filter(recipient=recipient).count() == 2
    assert_counters_match_recount(campaign)


def _other_connection():
    import psycopg

    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"], autocommit=True
    )


def _prepared_on(pid: int) -> int:
    """Our prepared statements on the backend `pid` (a backend shows only its own: read from its connection)."""
    with connection.connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%%campaigns_click%%'")
        return cursor.fetchone()[0] if connection.connection.info.backend_pid == pid else 0


# --- The batch statement ----------------------------------------------------------------------------------------

TAP = st.tuples(
    st.integers(min_value=0, max_value=3),  # which recipient
    st.integers(min_value=0, max_value=3 * 24 * 60),  # minutes after the delivery: across local days
    st.booleans(),  # a person (True) or a preview
)


@pytest.mark.postgres
@hyp_settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(TAP, min_size=1, max_size=12), min_size=1, max_size=4))
def test_batches_of_taps_keep_the_counters_equal_to_a_recount(db, batches):
    from tests.campaigns.test_engagement import DELIVERED_AT

    campaign = delivered_campaign(4)
    people = recipients(campaign)
    taps = 0
    for batch in batches:
        for counted in (True, False):
            part = [
                (people[i].pk, DELIVERED_AT + dt.timedelta(minutes=m)) for i, m, person in batch if person == counted
            ]
            if not part:
                continue
            sql, params = taps_statement(part, counted=counted)
            results = taps_results(_fetch_all(sql, params), len(part), counted=counted)
            assert all(r is not None and r.destination.startswith("https://shop.example/") for r in results)
            taps += len(part) if counted else 0

    assert Click.objects.filter(campaign=campaign).count() == taps
    clicks = {r.pk: r.clicks for r in Recipient.objects.filter(campaign=campaign)}
    assert sum(clicks.values()) == taps
    assert_counters_match_recount(campaign)
    assert_days_match_recount(campaign)


# --- The ASGI link server ---------------------------------------------------------------------------------------


async def asgi_get(app, path: str, *, user_agent: str = PERSON, method: str = "GET", host: str = "testserver"):
    """One request to the ASGI application: its status and headers."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", host.encode()), (b"user-agent", user_agent.encode())],
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }  # fmt: skip
    sent = []
    answered = asyncio.Event()
    requests = iter([{"type": "http.request", "body": b"", "more_body": False}])

    async def receive():
        request = next(requests, None)
        if request is None:  # after the request: the client goes once it has its answer
            await answered.wait()
            return {"type": "http.disconnect"}
        return request

    async def send(message):
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            answered.set()

    await app(scope, receive, send)
    start = sent[0]
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}


@pytest.mark.django_db(transaction=True)
def test_the_link_server_records_a_tap_on_either_database():
    """On PostgreSQL through the batching writer; elsewhere the view's own function, in a thread."""
    from campaigns.link_asgi import LinkRedirectASGI
    from config.asgi import django_application

    campaign = delivered_campaign(1)
    (recipient,) = recipients(campaign)
    app = LinkRedirectASGI(django_application)

    async def run():
        try:
            return [
                await asgi_get(app, f"/r/{recipient_token(recipient.pk)}", user_agent=ua) for ua in (PERSON, PREVIEW)
            ]
        finally:
            await app.writer.close()

    (person, preview) = asyncio.run(run())
    assert person[0] == preview[0] == 302
    assert person[1]["location"] == preview[1]["location"]
    assert Click.objects.filter(recipient=recipient).count() == 1
    assert_counters_match_recount(campaign)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_link_server_answers_concurrent_taps_once_each_committed(client):
    from campaigns.link_asgi import LinkRedirectASGI
    from config.asgi import django_application

    campaign = delivered_campaign(5)
    people = recipients(campaign)
    view = client.get(f"/r/{recipient_token(people[0].pk)}", headers={"user-agent": PERSON})
    app = LinkRedirectASGI(django_application)
    taps = [recipient_token(r.pk) for r in people] * 6  # six taps each, all at once
    previews = [recipient_token(r.pk) for r in people[:2]]

    async def crowd():
        answers = await asyncio.gather(
            *[asgi_get(app, f"/r/{t}") for t in taps], *[asgi_get(app, f"/r/{t}", user_agent=PREVIEW) for t in previews]
        )
        await app.writer.close()
        return answers

    answers = asyncio.run(crowd())

    assert [status for status, _ in answers] == [302] * (len(taps) + len(previews))
    expected = {k.lower(): v for k, v in view.headers.items() if k.lower() not in VARYING | {"location"}}
    assert {k: v for k, v in answers[0][1].items() if k != "location"} == expected
    assert Click.objects.filter(campaign=campaign).count() == len(taps) + 1  # and the view's tap
    campaign.refresh_from_db()
    assert (campaign.clicked, campaign.clickers) == (31, 5)
    assert_counters_match_recount(campaign)
    assert_days_match_recount(campaign)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_link_server_hands_django_the_rest_and_survives_its_connection_dying(settings):
    from campaigns.link_asgi import LinkRedirectASGI
    from config.asgi import django_application

    settings.ALLOWED_HOSTS = ["testserver"]
    campaign = delivered_campaign(1, link_url=DESTINATION)
    (recipient,) = recipients(campaign)
    token = recipient_token(recipient.pk)
    app = LinkRedirectASGI(django_application)
    killer = _other_connection()

    async def run():
        answers = [
            await asgi_get(app, f"/r/{token[:-1]}{'A' if token[-1] != 'A' else 'B'}"),  # refused: Django's 404
            await asgi_get(app, f"/r/{recipient_token(10**9)}"),  # no such recipient: Django's 404
            await asgi_get(app, f"/r/{token}", host="evil.example"),  # Django's 400
            await asgi_get(app, f"/r/{token}"),  # recorded: the writer's connection opens
        ]
        pid = app.writer._connection.info.backend_pid
        killer.execute("SELECT pg_terminate_backend(%s)", [pid])
        answers.append(await asgi_get(app, f"/r/{token}"))  # the dead connection: 500, nothing recorded
        answers.append(await asgi_get(app, f"/r/{token}"))  # a new connection
        return [status for status, _ in answers]

    async def closed(coroutine):
        try:
            return await coroutine
        finally:
            await app.writer.close()

    try:
        assert asyncio.run(closed(run())) == [404, 404, 400, 302, 500, 302]
    finally:
        killer.close()
    assert Click.objects.filter(recipient=recipient).count() == 2
    assert_counters_match_recount(campaign)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def worker_pids(arbiter: int) -> list[int]:
    """The arbiter's worker processes (its children), from /proc."""
    children = Path(f"/proc/{arbiter}/task/{arbiter}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_link_server_workers_under_load_lose_a_killed_workers_answers_but_never_count_twice():
    campaign = delivered_campaign(20)
    tokens = [recipient_token(r.pk) for r in recipients(campaign)]
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": "memory://",
        "LOG_LEVEL": "CRITICAL",
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen(
        [str(gunicorn), "-k", "asgi", "config.asgi:application", "--workers", "2", "--bind", f"127.0.0.1:{port}",
         "--log-level", "critical"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    answers: dict[int, int] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def tap(n: int) -> int:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", f"/r/{tokens[n % len(tokens)]}", headers={"User-Agent": PERSON})
            status = conn.getresponse().status
            conn.close()
            return status
        except OSError:
            return 0  # no answer: the worker died with the request

    def client(offset: int) -> None:
        n = offset
        while not stop.is_set():
            status = tap(n)
            with lock:
                answers[status] = answers.get(status, 0) + 1
            n += 8

    try:
        deadline = time.monotonic() + 30
        while len(worker_pids(server.pid)) < 2 or tap(0) != 302:
            assert time.monotonic() < deadline and server.poll() is None, "the link server did not start"
            time.sleep(0.1)
        answers[302] = 1
        clients = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        for thread in clients:
            thread.start()
        time.sleep(2)
        os.kill(worker_pids(server.pid)[0], signal.SIGKILL)  # the arbiter starts another
        time.sleep(3)
        stop.set()
        for thread in clients:
            thread.join()
    finally:
        server.terminate()
        server.wait(timeout=30)

    clicks = Click.objects.filter(campaign=campaign).count()
    assert answers[302] > 100
    assert set(answers) <= {302, 0, 500}
    # Every 302 is a recorded click; a tap the killed worker took with it may be recorded without its answer.
    assert answers[302] <= clicks <= answers[302] + answers.get(0, 0) + answers.get(500, 0)
    assert_counters_match_recount(campaign)
    assert_days_match_recount(campaign)
