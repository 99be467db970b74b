"""Settings come from the environment; a missing secret fails clearly."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PRINT_SETTINGS = (
    "import json, django; from django.conf import settings; django.setup();"
    "print(json.dumps({'engine': settings.DATABASES['default']['ENGINE'],"
    " 'broker': settings.CELERY_BROKER_URL, 'result': settings.CELERY_RESULT_BACKEND,"
    " 'backend': settings.WHATSAPP_BACKEND, 'limit': settings.WHATSAPP_DAILY_LIMIT,"
    " 'scheduler': settings.CELERY_BEAT_SCHEDULER}))"
)


def run_settings(**environment: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY")}
    clean.update(DJANGO_SETTINGS_MODULE="config.settings", **environment)
    return subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def test_defaults_need_no_server():
    result = run_settings(DEBUG="true")
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["broker"].startswith("filesystem://")
    assert values["result"].startswith("file://")
    assert values["limit"] is None  # optional: the limit comes from Meta (whatsapp/tiers.py), else 250
    assert values["scheduler"] == "django_celery_beat.schedulers:DatabaseScheduler"


def test_production_stack_is_only_environment():
    result = run_settings(
        SECRET_KEY="x" * 50,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/campaigns",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        WHATSAPP_BACKEND="whatsapp.backends.cloud.CloudAPIBackend",
        WHATSAPP_DAILY_LIMIT="2000",
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["engine"] == "django.db.backends.postgresql"
    assert values["broker"] == values["result"] == "redis://127.0.0.1:6379/0"
    assert values["backend"] == "whatsapp.backends.cloud.CloudAPIBackend"
    assert values["limit"] == 2000


def test_an_empty_daily_limit_is_unset_as_docker_compose_passes_it():
    result = run_settings(DEBUG="true", WHATSAPP_DAILY_LIMIT="")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["limit"] is None


def test_missing_secret_key_outside_debug_fails_clearly():
    result = run_settings(DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
