from pathlib import Path

import pytest

from whatsapp.backends.locmem import LocmemBackend


@pytest.fixture(autouse=True)
def outbox():
    """The locmem backend's outbox, empty for each test."""
    LocmemBackend.reset()
    yield LocmemBackend.outbox
    LocmemBackend.reset()


@pytest.fixture
def eager_celery(monkeypatch):
    """Tasks run in the enqueuing thread, their states and results stored in the result backend as a worker's are.

    Work enqueued with transaction.on_commit still waits for the commit: wrap
    the request in `django_capture_on_commit_callbacks(execute=True)`.
    """
    from campaigns import tasks
    from config.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)
    monkeypatch.setitem(app.conf, "task_store_eager_result", True)
    # A bound task has already copied task_store_eager_result from the configuration.
    for task in (tasks.activate_task, tasks.top_up_task):
        monkeypatch.setattr(task, "store_eager_result", True)
    return app


@pytest.fixture
def http_sandbox(settings):
    """The Cloud API backend sending over HTTP to a sandbox that counts what it accepted."""
    from whatsapp.backends import reset_backend
    from whatsapp.sandbox import SandboxServer

    with SandboxServer(webhook_url=None, app_secret="x") as server:
        settings.WHATSAPP_BACKEND = "whatsapp.backends.cloud.CloudAPIBackend"
        settings.WHATSAPP_API_BASE_URL = server.url
        settings.WHATSAPP_PHONE_NUMBER_ID = server.phone_number_id
        settings.WHATSAPP_SEND_THREADS = 1
        settings.WHATSAPP_MAX_MPS = 0
        reset_backend()
        yield server
    reset_backend()


EXAMPLE_RATES = Path(__file__).resolve().parents[2] / "campaigns" / "ratecards_example"


@pytest.fixture
def rate_card(db):
    """The shipped EXAMPLE rate card (made-up prices), effective from 2026-01-01."""
    import datetime as dt

    from campaigns.ratecards import rate_card_import

    return rate_card_import(
        rates_file=(EXAMPLE_RATES / "example_rate_card.csv").read_bytes(),
        markets_file=(EXAMPLE_RATES / "example_markets.csv").read_bytes(),
        effective_from=dt.date(2026, 1, 1),
        now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        source="example_rate_card.csv",
    )
