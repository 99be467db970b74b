import pytest

from whatsapp.backends.locmem import LocmemBackend


@pytest.fixture(autouse=True)
def outbox():
    """The locmem backend's outbox, empty for each test."""
    LocmemBackend.reset()
    yield LocmemBackend.outbox
    LocmemBackend.reset()


@pytest.fixture
def eager_celery():
    """Tasks run in the enqueuing thread, their states and results stored in the result backend as a worker's are.

    Work enqueued with transaction.on_commit still waits for the commit: wrap
    the request in `django_capture_on_commit_callbacks(execute=True)`.
    """
    from config.celery import app

    eager = {"task_always_eager": True, "task_store_eager_result": True}
    before = {key: app.conf[key] for key in eager}
    app.conf.update(eager)
    yield app
    app.conf.update(before)
