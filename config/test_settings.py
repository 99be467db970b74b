"""Settings for the test suite: the environment's database and broker, locmem WhatsApp."""

import os
from pathlib import Path

# The suite's own broker folder, so a message left by a local run never reaches a test worker.
os.environ.setdefault("VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test"))
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-use-0123456789")
os.environ.setdefault("WHATSAPP_APP_SECRET", "test-app-secret")
os.environ.setdefault("WHATSAPP_VERIFY_TOKEN", "test-verify-token")
os.environ.setdefault("WHATSAPP_ACCESS_TOKEN", "test-access-token")
os.environ.setdefault("WHATSAPP_PHONE_NUMBER_ID", "100000000000001")
os.environ.setdefault("WHATSAPP_BUSINESS_ACCOUNT_ID", "200000000000002")

from config.settings import *  # noqa: E402,F403

DEBUG = False
ALLOWED_HOSTS = ["*"]
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHATSAPP_BACKEND = "whatsapp.backends.locmem.LocmemBackend"
SEND_FAN_OUT = False  # a test that fans out says so
# The factories make US numbers and MARKETING templates: the suite sends them; tests of the pre-flight's
# skipping turn it on (tests/campaigns/test_preflight.py).
PREFLIGHT_SKIP_US_MARKETING = False

VAR_DIR.mkdir(parents=True, exist_ok=True)  # noqa: F405
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not memory: live servers, worker threads and subprocesses must
    # all see the same test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}  # noqa: F405
