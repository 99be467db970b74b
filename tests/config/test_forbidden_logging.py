"""A viewer refused a page (403) leaves one log line, with who and what, and no traceback, DEBUG or not."""

import io
import logging

import pytest
from django.urls import reverse

from tests.factories.campaigns import CampaignFactory


def stream_handlers(logger: logging.Logger):
    """Every stream handler the settings gave a record of `logger`, as logging walks up the hierarchy."""
    while logger is not None:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and not type(handler).__module__.startswith("_pytest"):
                yield handler
        logger = logger.parent if logger.propagate else None


@pytest.fixture
def log_output():
    output = io.StringIO()
    handlers = list(stream_handlers(logging.getLogger("django.request")))
    streams = [handler.setStream(output) for handler in handlers]
    yield output
    for handler, stream in zip(handlers, streams, strict=True):
        handler.setStream(stream)


@pytest.mark.parametrize("debug", [False, True])
def test_a_forbidden_admin_page_logs_one_line(viewer_client, log_output, settings, debug):
    settings.DEBUG = debug
    campaign = CampaignFactory()
    url = reverse("admin:campaigns_campaign_export_failures", args=[campaign.pk])

    assert viewer_client.get(url).status_code == 403

    lines = log_output.getvalue().splitlines()
    assert lines == [lines[0]]
    assert f"Forbidden (Permission denied): {url} (user viewer)" in lines[0]
    assert "WARNING" in lines[0] and "Traceback" not in lines[0]


def test_a_server_error_keeps_its_traceback(log_output):
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("django.request").error("Internal Server Error", exc_info=True, extra={"status_code": 500})
    assert "Traceback" in log_output.getvalue() and "ValueError: boom" in log_output.getvalue()
