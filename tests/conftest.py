"""Fixtures shared by the whole suite.

- `live_celery_worker`: a real Celery worker (in a thread) consuming from the
  configured broker: kombu's filesystem transport on the embedded run, Redis
  in CI's second pass.
- `live_server` comes from pytest-django: a real HTTP server on a free port.
- `cloud_sandbox`: the WhatsApp Cloud API sandbox over real HTTP, the
  CloudAPIBackend pointed at it, its signed webhooks posted to `live_server`.
- `manager_client` / `viewer_client`: logged in as a staff user of the
  "Campaign managers" / "Campaign viewers" group (the roles' migration).
- Markers `postgres` and `redis` skip, with the reason, where the service the
  test is about is not configured. CI's PostgreSQL pass fails on any skip.
- Webhook bodies are processed by a Celery task enqueued on commit: every test
  runs that task in the request's thread, as soon as the request commits
  (`webhook_task_in_the_request`), unless marked `webhook_async`.
"""

import socket
from urllib.parse import urlparse

import pytest
from django.conf import settings


def redis_reachable() -> bool:
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return False
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=2):
            return True
    except OSError:
        return False


def pytest_collection_modifyitems(config, items):
    needs_postgres = pytest.mark.skip(
        reason="needs PostgreSQL: run with DATABASE_URL=postgres://... (CI's second pass does)"
    )
    needs_redis = pytest.mark.skip(
        reason="needs Redis: run with CELERY_BROKER_URL=redis://... reachable (CI's second pass does)"
    )
    has_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    has_redis = redis_reachable()
    for item in items:
        if "postgres" in item.keywords and not has_postgres:
            item.add_marker(needs_postgres)
        if "redis" in item.keywords and not has_redis:
            item.add_marker(needs_redis)


@pytest.fixture(autouse=True)
def webhook_task_in_the_request(request, monkeypatch):
    """The webhook's processing task runs where it is enqueued (after the request's commit), not on a worker.

    A POST answers before processing; a worker processes the body moments
    later. Tests that POST and then look at recipients, contacts or the stored
    event get that moment at once, through Celery's own eager `apply()`, and
    see a processing error raised. Only this task: the others keep their
    broker. Tests of the asynchronous path itself are marked `webhook_async`.
    """
    if "webhook_async" in request.keywords:
        return
    from whatsapp.tasks import webhook_process_task

    def run_now(*args, **kwargs):
        return webhook_process_task.apply(args, kwargs, throw=True)

    monkeypatch.setattr(webhook_process_task, "delay", run_now)


@pytest.fixture
def manager_client(client, db):
    from tests.factories.users import MANAGERS, UserFactory

    client.force_login(UserFactory(username="manager", groups=[MANAGERS]))
    return client


@pytest.fixture
def viewer_client(client, db):
    from tests.factories.users import VIEWERS, UserFactory

    client.force_login(UserFactory(username="viewer", groups=[VIEWERS]))
    return client


@pytest.fixture
def live_celery_worker(transactional_db):
    """A real Celery worker thread on the configured broker and result backend.

    Tests using it must commit what the worker reads: it depends on
    `transactional_db`, so rows are visible to the worker's own connection.
    """
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    app.loader.import_default_modules()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30, loglevel="WARNING") as worker:
        yield worker


@pytest.fixture
def cloud_sandbox(request, live_server, settings):
    """Send for real (CloudAPIBackend, HTTP) to a sandbox whose status webhooks reach the live server.

    Sandbox options (failure rate, read rate, seed ...) come from
    `@pytest.mark.sandbox(...)` on the test.
    """
    from whatsapp.backends import reset_backend
    from whatsapp.sandbox import SandboxServer

    marker = request.node.get_closest_marker("sandbox")
    # Link taps (click_rate) open the app's tracked links on the live server.
    options = {"latency_ms": 5, "link_base_url": live_server.url, **(marker.kwargs if marker else {})}
    with SandboxServer(
        webhook_url=f"{live_server.url}/whatsapp/webhook/", app_secret=settings.WHATSAPP_APP_SECRET, **options
    ) as server:
        settings.WHATSAPP_BACKEND = "whatsapp.backends.cloud.CloudAPIBackend"
        settings.WHATSAPP_API_BASE_URL = server.url
        settings.WHATSAPP_PHONE_NUMBER_ID = server.phone_number_id
        settings.WHATSAPP_BUSINESS_ACCOUNT_ID = server.waba_id
        settings.WHATSAPP_SEND_THREADS = 4
        reset_backend()
        yield server
    reset_backend()


@pytest.fixture(autouse=True)
def english_after_each_test():
    """The language back to the default after each test: a request with Accept-Language leaves its language active
    in the thread (LocaleMiddleware activates it and nothing deactivates it in tests), and the next test would read
    Spanish where it expects the default."""
    yield
    from django.utils import translation

    translation.deactivate()
