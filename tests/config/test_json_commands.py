"""Commands asked for --json print one JSON object on stdout; their logs go to stderr."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.campaigns.helpers import START, database_url, running_campaign

ROOT = Path(__file__).resolve().parents[2]


def test_send_batch_json_stdout_is_only_json(transactional_db):
    running_campaign(2)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url(),
        "SECRET_KEY": "test-only-subprocess-key-0123456789-0123456789",
        "LOG_LEVEL": "INFO",
        "WHATSAPP_BACKEND": "whatsapp.backends.console.ConsoleBackend",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "send_batch", "--json", "--as-of", START.isoformat()],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["sent"] == 2
    assert "whatsapp.backends.console" in result.stderr  # the sends' log lines, kept off stdout
