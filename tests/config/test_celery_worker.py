"""A real worker consumes from the configured broker and runs our tasks."""

import pytest
from celery.contrib.testing.tasks import ping
from django.conf import settings


def test_worker_round_trip_through_the_configured_broker(live_celery_worker):
    assert ping.delay().get(timeout=30) == "pong"


@pytest.mark.redis
def test_production_stack_runs_tasks_through_redis(live_celery_worker):
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    assert ping.delay().get(timeout=30) == "pong"


def test_send_batch_is_registered_with_the_worker(live_celery_worker):
    assert "campaigns.send_batch" in live_celery_worker.app.tasks
