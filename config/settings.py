"""Settings, read once from the environment (django-environ).

Every variable is documented in `.env.example`. The defaults give a working
local install with no servers (SQLite, a filesystem Celery broker, the console
WhatsApp backend); `DATABASE_URL`, `CELERY_BROKER_URL` and `WHATSAPP_BACKEND`
switch to the production stack without a code change.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

# Runtime files of the embedded run: the filesystem broker, task results,
# collected static files. Never committed.
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))

# --- Core -------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment (see .env.example); "
            "only DEBUG=True runs with a throw-away development key."
        )
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"  # noqa: S105 (DEBUG only)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_TZ = True
# English by default; the admin follows the browser's Accept-Language among
# the languages shipped in locale/ (README, "Languages").
LANGUAGE_CODE = "en-us"
USE_I18N = True
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]

INSTALLED_APPS = [
    "config.apps.AdminConfig",  # django.contrib.admin with our site (config/admin.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc served from our static files, no CDN
    "audiences",
    "whatsapp",
    "campaigns",
    "outbound",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After sessions (it reads the session's language), before common (i18n URLs).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # web, worker and beat share one file: WAL and immediate transactions keep
    # them from failing with "database is locked" under a normal load.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # The covering indexes (INCLUDE) serve PostgreSQL; SQLite builds them on their key columns, which is enough here.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Static files -----------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]  # the site's own files (its icon); apps keep theirs in <app>/static/
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Security (production values unless DEBUG) ------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Celery -----------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://localhost//")
CELERY_BROKER_DIR = VAR_DIR / "celery" / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's filesystem transport: a queue that needs no server, shared by
    # every process on this machine through one folder.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "out"),
        "data_folder_out": str(CELERY_BROKER_DIR / "out"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
    _default_result_backend = f"file://{VAR_DIR / 'celery' / 'results'}"
else:
    _default_result_backend = CELERY_BROKER_URL
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=_default_result_backend)
CELERY_RESULT_EXPIRES = 3600
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
# A redelivered send batch must find its rows already claimed, not re-run a
# half-done send: the send task is never acks_late (docs/architecture.md, "The send batch").
CELERY_TASK_ACKS_LATE = False
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=25 * 60)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Send chunks have their own queue, so workers can be dedicated to sending (`-Q send`) or not; a plain
# `celery -A config worker` consumes every queue declared here.
CELERY_TASK_DEFAULT_QUEUE = "celery"
# Outbound event deliveries have their own queue too: retries to a slow or dead endpoint (up to
# OUTBOUND_TIMEOUT each) never wait in front of the send batch or webhook processing, and
# `-Q outbound` can give them workers of their own.
CELERY_TASK_QUEUES = {"celery": {}, "send": {}, "outbound": {}}
CELERY_TASK_ROUTES = {"campaigns.send_chunk": {"queue": "send"}, "outbound.*": {"queue": "outbound"}}
DJANGO_CELERY_BEAT_TZ_AWARE = True

# --- WhatsApp ---------------------------------------------------------------
WHATSAPP_BACKEND = env.str("WHATSAPP_BACKEND", default="whatsapp.backends.console.ConsoleBackend")
WHATSAPP_API_BASE_URL = env.str("WHATSAPP_API_BASE_URL", default="https://graph.facebook.com")
WHATSAPP_API_VERSION = env.str("WHATSAPP_API_VERSION", default="v23.0")
WHATSAPP_PHONE_NUMBER_ID = env.str("WHATSAPP_PHONE_NUMBER_ID", default="")
WHATSAPP_BUSINESS_ACCOUNT_ID = env.str("WHATSAPP_BUSINESS_ACCOUNT_ID", default="")
WHATSAPP_ACCESS_TOKEN = env.str("WHATSAPP_ACCESS_TOKEN", default="")
WHATSAPP_APP_SECRET = env.str("WHATSAPP_APP_SECRET", default="")
WHATSAPP_VERIFY_TOKEN = env.str("WHATSAPP_VERIFY_TOKEN", default="")
# The messaging limit comes from Meta (whatsapp/tiers.py: the sync and the capability webhooks). This setting is
# optional: a ceiling below Meta's tier, and the only source with no credentials (the embedded demo). Unset and
# nothing known from Meta: 250, a new business portfolio's limit.
# Empty is unset (docker-compose passes it through empty).
WHATSAPP_DAILY_LIMIT = int(env.str("WHATSAPP_DAILY_LIMIT", default="").strip() or -1)
WHATSAPP_DAILY_LIMIT = None if WHATSAPP_DAILY_LIMIT < 0 else WHATSAPP_DAILY_LIMIT
# A template Meta reinstates (REINSTATED, or APPROVED with UNPAUSE) resumes the campaigns the product paused for it.
# Off: they stay paused and Today says they can resume (campaigns/platform.py).
WHATSAPP_RESUME_AFTER_REINSTATE = env.bool("WHATSAPP_RESUME_AFTER_REINSTATE", default=False)
WHATSAPP_MAX_MPS = env.float("WHATSAPP_MAX_MPS", default=80)
# The limiter sends at the number's throughput less this fraction (campaigns/throttle.py sender_limiter): Meta
# counts sends as they arrive, and a busy worker's late sends arrive bunched with the next ones (up to 13% over the
# limiter's rate in a one-second window on a loaded 2-core machine, tests/campaigns/test_fan_out.py). 0 on
# dedicated machines sends at the full throughput.
WHATSAPP_RATE_MARGIN = env.float("WHATSAPP_RATE_MARGIN", default=0.1)
# In flight at once = throughput x API latency: 32 keeps 80/s at up to 400 ms a call.
WHATSAPP_SEND_THREADS = env.int("WHATSAPP_SEND_THREADS", default=32)
# Requests in flight per sending process, at most (the asynchronous sender keeps rate x latency, doubled).
WHATSAPP_MAX_IN_FLIGHT = env.int("WHATSAPP_MAX_IN_FLIGHT", default=256)
WHATSAPP_CONNECT_TIMEOUT = env.float("WHATSAPP_CONNECT_TIMEOUT", default=5)
WHATSAPP_READ_TIMEOUT = env.float("WHATSAPP_READ_TIMEOUT", default=20)
WHATSAPP_WEBHOOK_MAX_BYTES = env.int("WHATSAPP_WEBHOOK_MAX_BYTES", default=4 * 1024 * 1024)
# A whole inbound message equal to one of these, after normalisation (case,
# accents, punctuation, invisible characters: whatsapp/keywords.py), opts the
# number out / back in. Whole messages only, so short words that are ordinary
# inside a sentence (BAJA, ALTO, PARE, SAIR) act only when sent alone. Never a
# bare YES or NO: a reply to a question must not change a subscription.
WHATSAPP_OPT_OUT_KEYWORDS = env.list(
    "WHATSAPP_OPT_OUT_KEYWORDS",
    default=[
        # English (also what most markets type, and the marketing button's text)
        *("STOP", "STOP ALL", "STOPALL", "STOP PROMOTIONS", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPT OUT"),
        *("PARAR", "BAJA", "DAR DE BAJA", "ALTO", "CANCELAR", "DESUSCRIBIR"),  # Spanish
        *("PARE", "SAIR", "DESCADASTRAR", "DESINSCREVER"),  # Portuguese (PARAR, CANCELAR above)
        *("ARRÊT", "ARRETER", "DÉSABONNER", "DÉSINSCRIRE"),  # French
        *("STOPP", "ABMELDEN", "ABBESTELLEN"),  # German
        *("DISISCRIVI", "DISISCRIVIMI"),  # Italian
        *("STOPPEN", "AFMELDEN"),  # Dutch
        "BERHENTI",  # Indonesian
        *("СТОП", "ОТПИСАТЬСЯ"),  # Russian
    ],
)
WHATSAPP_OPT_IN_KEYWORDS = env.list(
    "WHATSAPP_OPT_IN_KEYWORDS",
    default=[
        *("START", "SUBSCRIBE", "UNSTOP"),  # English
        *("ALTA", "DAR DE ALTA", "INICIAR"),  # Spanish, Portuguese
        *("ANMELDEN", "AANMELDEN"),  # German, Dutch
        "MULAI",  # Indonesian
        "СТАРТ",  # Russian
    ],
)
# Django's own request-body cap must never refuse a legitimate webhook batch
# before the webhook view applies WHATSAPP_WEBHOOK_MAX_BYTES (413).
DATA_UPLOAD_MAX_MEMORY_SIZE = max(WHATSAPP_WEBHOOK_MAX_BYTES + 1, 2621440)

# --- Audiences and campaigns -------------------------------------------------
PHONE_DEFAULT_REGION = env.str("PHONE_DEFAULT_REGION", default="US")
CONTACT_DEFAULT_LANGUAGE = env.str("CONTACT_DEFAULT_LANGUAGE", default="en_US")
SEND_WINDOW_START = env.str("SEND_WINDOW_START", default="09:00")
SEND_WINDOW_END = env.str("SEND_WINDOW_END", default="20:00")
SEND_MAX_ATTEMPTS = env.int("SEND_MAX_ATTEMPTS", default=5)
SEND_CLAIM_LEASE_MINUTES = env.float("SEND_CLAIM_LEASE_MINUTES", default=10)
# Scaling out (docs/architecture.md, "Fan-out"): the batch hands claimed chunks to send tasks on the
# `send` queue. On by default with a Redis broker (workers on any number of machines); off on the
# embedded stack, whose one worker sends in its own process the same way.
_redis_broker = CELERY_BROKER_URL.startswith(("redis://", "rediss://"))
SEND_FAN_OUT = env.bool("SEND_FAN_OUT", default=_redis_broker)
SEND_CHUNK_SIZE = env.int("SEND_CHUNK_SIZE", default=500)
SEND_FAN_OUT_BACKLOG = env.int("SEND_FAN_OUT_BACKLOG", default=4)  # chunks waiting for a worker, at most
# The per-number rate limit shared by every process (campaigns/throttle.py); empty: in-process only.
SEND_RATE_LIMIT_URL = env.str("SEND_RATE_LIMIT_URL", default=CELERY_BROKER_URL if _redis_broker else "")
CAMPAIGN_FAILURE_ALERT_RATE = env.float("CAMPAIGN_FAILURE_ALERT_RATE", default=0.05)
# At most CAMPAIGN_FREQUENCY_CAP marketing messages per phone, across campaigns, in CAMPAIGN_FREQUENCY_CAP_DAYS
# calendar days (TIME_ZONE); the rest wait for a later day, never dropped (campaigns/frequency.py). 0: off.
CAMPAIGN_FREQUENCY_CAP = env.int("CAMPAIGN_FREQUENCY_CAP", default=0)
CAMPAIGN_FREQUENCY_CAP_DAYS = env.int("CAMPAIGN_FREQUENCY_CAP_DAYS", default=7)
# Pre-flight at activation (docs/architecture.md, "Cost and pre-flight"): Meta does not deliver marketing
# templates to US (+1) numbers, so activation skips them (with the reason) unless this is turned off;
# numbers that failed for good (or were held, 131049) in the last PREFLIGHT_FAILED_DAYS days are reported.
PREFLIGHT_SKIP_US_MARKETING = env.bool("PREFLIGHT_SKIP_US_MARKETING", default=True)
PREFLIGHT_FAILED_DAYS = env.int("PREFLIGHT_FAILED_DAYS", default=30)
# The currency of every cost and budget; import_rate_card takes only rate cards in it (Meta publishes one per currency).
COST_CURRENCY = env.str("COST_CURRENCY", default="USD").upper()

# --- Outbound events (docs/architecture.md, "Outbound events") ---------------
# A short timeout per POST: a receiver answers first and works after.
OUTBOUND_CONNECT_TIMEOUT = env.float("OUTBOUND_CONNECT_TIMEOUT", default=3)
OUTBOUND_TIMEOUT = env.float("OUTBOUND_TIMEOUT", default=10)
# Retries on network errors, timeouts, 408, 429 and 5xx: base x 4^(n-1), capped, with jitter;
# 10 attempts span about a day and a half. Then the delivery is failed (re-sendable from the admin).
OUTBOUND_MAX_ATTEMPTS = env.int("OUTBOUND_MAX_ATTEMPTS", default=10)
OUTBOUND_RETRY_BASE_SECONDS = env.float("OUTBOUND_RETRY_BASE_SECONDS", default=10)
OUTBOUND_RETRY_MAX_SECONDS = env.float("OUTBOUND_RETRY_MAX_SECONDS", default=6 * 3600)

# --- Engagement (docs/architecture.md, "Engagement") -------------------------
# The public base of tracked links: {{link}} in a message is LINK_BASE_URL + "/r/<token>"; the template's URL
# button must be approved as LINK_BASE_URL + "/r/{{1}}".
LINK_BASE_URL = env.str("LINK_BASE_URL", default="http://localhost:8000").rstrip("/")
# A fetch whose User-Agent matches this (case-insensitive) is a link preview or a bot: redirected, never counted.
LINK_BOT_USER_AGENTS = env.str(
    "LINK_BOT_USER_AGENTS",
    default=r"whatsapp/|facebookexternalhit|facebot|meta-externalagent|bot\b|bot/|crawler|spider|preview|"
    r"slurp|embedly|skypeuripreview|bingpreview|python-requests|curl/|wget/|go-http-client",
)
# The redirect's two statements are prepared once per database connection (campaigns/links.py, _fetch_one); turn
# this off behind a pooler that cannot keep prepared statements (PgBouncer in transaction mode before 1.21).
LINK_PREPARED_STATEMENTS = env.bool("LINK_PREPARED_STATEMENTS", default=True)
# An order is attributed to the campaign that last reached its phone within this many days before it.
CONVERSION_ATTRIBUTION_DAYS = env.float("CONVERSION_ATTRIBUTION_DAYS", default=7)
# An inbound message without context.id counts as a reply to the campaign message delivered to that phone
# within this many hours before it (the customer-service window); 0: only replies with context.id count.
REPLY_ATTRIBUTION_HOURS = env.float("REPLY_ATTRIBUTION_HOURS", default=24)

# --- Logging: one line per event on stdout, secrets redacted -----------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# stdout for the long-running processes; manage.py sends a command's logs to
# stderr when it was asked for --json, so scripts can parse its stdout.
LOG_STREAM = env.str("LOG_STREAM", default="stdout")
if LOG_STREAM not in ("stdout", "stderr"):
    raise ImproperlyConfigured(f"LOG_STREAM must be stdout or stderr, not {LOG_STREAM!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "config.logging.RedactSecretsFilter"},
        "client_error": {"()": "config.logging.ClientErrorWithoutTraceback"},
    },
    "formatters": {
        "line": {
            "()": "config.logging.OneLineFormatter",
            "format": "%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s",
        }
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": f"ext://sys.{LOG_STREAM}",
            "formatter": "line",
            "filters": ["redact"],
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        # runserver's request lines carry query strings (the webhook's verify
        # token): through the redacting handler, not Django's default one.
        "django.server": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        # Only the root's redacting handler: Django's own console/mail handlers would print every record
        # a second time, tracebacks and unredacted query strings included.
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.request": {"filters": ["client_error"]},
        "django.db.backends": {"level": "INFO"},
        "celery": {"level": LOG_LEVEL},
    },
}

# --- HTTP API (/api/v1/, docs/architecture.md "API") ----------------------------
# Requests per API key (or per session user) and period: "N/second|minute|hour|day".
API_THROTTLE_RATE = env.str("API_THROTTLE_RATE", default="1200/minute")
# How long an Idempotency-Key's first answer is kept and replayed.
API_IDEMPOTENCY_HOURS = env.int("API_IDEMPOTENCY_HOURS", default=24)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",  # the browsable API, logged in to the admin
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.ModelPermissions"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.IdCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.ApiKeyThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": API_THROTTLE_RATE},
    "EXCEPTION_HANDLER": "api.problems.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "WhatsApp campaign manager API",
    "DESCRIPTION": "Contacts, audiences, templates and campaigns over HTTP; the same services as the admin.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "api.schema.add_problems"],
    "ENUM_NAME_OVERRIDES": {
        "CampaignStatusEnum": "campaigns.models.Campaign.Status",
        "RecipientStatusEnum": "campaigns.models.Recipient.Status",
        "SubscriptionEnum": "audiences.models.Contact.Subscription",
    },
}
