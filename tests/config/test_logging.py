import logging

from django.conf import settings

from config.logging import OneLineFormatter, RedactSecretsFilter


def make_record(message: str, *args) -> logging.LogRecord:
    return logging.LogRecord("test", logging.INFO, __file__, 1, message, args, None)


def test_secrets_never_reach_the_log():
    record = make_record("calling with token %s and secret %s", settings.WHATSAPP_ACCESS_TOKEN, settings.SECRET_KEY)
    RedactSecretsFilter().filter(record)
    line = record.getMessage()
    assert settings.WHATSAPP_ACCESS_TOKEN not in line
    assert settings.SECRET_KEY not in line
    assert line.count("[redacted]") == 2


def test_one_line_per_event_even_with_a_traceback():
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        import sys

        record = logging.LogRecord("test", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = OneLineFormatter("%(levelname)s %(message)s").format(record)
    assert "\n" not in line
    assert "ValueError" in line
