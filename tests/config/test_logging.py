import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import urlopen

import pytest
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


# --- the webhook's verify token never reaches a log ----------------------------
# Meta's subscription check is GET /whatsapp/webhook/?hub.mode=subscribe&hub.verify_token=...;
# runserver and gunicorn log every request line. Real servers, real requests, their whole output read.

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "verify-" + secrets.token_hex(12)
GUESS = "guessed-" + secrets.token_hex(12)  # a wrong (or old) token is somebody's secret too


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def server_env(tmp_path, **extra) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("WHATSAPP_", "DJANGO_", "DATABASE_", "CELERY_", "SECRET_", "DEBUG"))
    }
    return {
        **env,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "VAR_DIR": str(tmp_path / "var"),
        "SECRET_KEY": "test-only-log-key-" + secrets.token_hex(16),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "WHATSAPP_VERIFY_TOKEN": TOKEN,
        "WHATSAPP_APP_SECRET": "app-secret-" + secrets.token_hex(8),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def subscription_checks(command: list[str], env: dict, port: int, output: Path) -> str:
    """Start the server, make Meta's check with the right token and with a wrong one, stop it; its whole output."""
    with output.open("wb") as sink:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while not listening(port):
                assert server.poll() is None, output.read_text()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
            answers = []
            for token in (TOKEN, GUESS):
                query = urlencode({"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "4242"})
                try:
                    with urlopen(f"http://127.0.0.1:{port}/whatsapp/webhook/?{query}", timeout=10) as response:  # noqa: S310
                        answers.append((response.status, response.read()))
                except HTTPError as exc:
                    answers.append((exc.code, exc.read()))
            assert answers == [(200, b"4242"), (403, b"forbidden")]
            # A server logs a request line after answering it: wait for both lines before stopping it.
            deadline = time.monotonic() + 10
            while output.read_text().count("hub.verify_token=") < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    return output.read_text()


def assert_tokens_redacted(log: str) -> None:
    assert TOKEN not in log
    assert GUESS not in log
    assert log.count("hub.verify_token=[redacted]") == 2  # both request lines were logged, redacted


@pytest.mark.parametrize("debug", ["true", "false"])
def test_runserver_never_logs_the_verify_token(tmp_path, debug):
    port = free_port()
    command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--skip-checks"]
    env = server_env(tmp_path, DEBUG=debug, DJANGO_SETTINGS_MODULE="config.settings")
    log = subscription_checks(command, env, port, tmp_path / "runserver.log")
    assert_tokens_redacted(log)
    assert log.count("Forbidden: /whatsapp/webhook/") == 1  # the request-error log, once (not Django's own handler too)


def test_gunicorn_access_log_never_shows_the_verify_token(tmp_path):
    port = free_port()
    command = [
        *(sys.executable, "-m", "gunicorn", "-c", "python:config.gunicorn"),
        *("--bind", f"127.0.0.1:{port}", "--workers", "1", "config.wsgi:application"),
    ]
    env = server_env(tmp_path, DEBUG="false", DJANGO_SETTINGS_MODULE="config.settings")
    log = subscription_checks(command, env, port, tmp_path / "gunicorn.log")
    assert_tokens_redacted(log)
    assert (
        'GET /whatsapp/webhook/?hub.mode=subscribe&hub.verify_token=[redacted]&hub.challenge=4242 HTTP/1.1" 200' in log
    )


@pytest.mark.parametrize(
    "line",
    [
        "GET /whatsapp/webhook/?hub.mode=subscribe&hub.verify_token=s3cr3t&hub.challenge=1 HTTP/1.1",
        "GET /whatsapp/webhook/?hub%2Everify_token=s3cr3t HTTP/1.1",
        "<WSGIRequest: GET '/whatsapp/webhook/?HUB.VERIFY_TOKEN=s3cr3t'>",
        "calling https://graph.facebook.com/v23.0/me?access_token=s3cr3t#frag",
    ],
)
def test_secret_query_values_are_redacted_in_any_log_record(line):
    record = make_record("%s", line)
    RedactSecretsFilter().filter(record)
    assert "s3cr3t" not in record.getMessage()
    assert "[redacted]" in record.getMessage()
