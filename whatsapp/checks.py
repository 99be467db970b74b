"""System checks: tell the operator what is missing before the first send fails."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.utils.module_loading import import_string

CLOUD_REQUIRED = {
    "WHATSAPP_ACCESS_TOKEN": "the Cloud API cannot authenticate any send",
    "WHATSAPP_PHONE_NUMBER_ID": "there is no sender number to post messages to",
    "WHATSAPP_APP_SECRET": "webhook signatures cannot be verified, so every status webhook is refused",
    "WHATSAPP_VERIFY_TOKEN": "Meta cannot verify the webhook subscription (GET hub.verify_token)",
}


GENERATE = 'generate one with python -c "import secrets; print(secrets.token_urlsafe(32))"'
SECRET_SETTINGS = {
    "SECRET_KEY": GENERATE,
    "WHATSAPP_APP_SECRET": "use your Meta app's secret (App Dashboard > App settings > Basic)",
    "WHATSAPP_VERIFY_TOKEN": f"{GENERATE}, and type the same into Meta's webhook settings",
    "WHATSAPP_ACCESS_TOKEN": "use a system user's access token (Business Manager > System users)",
}
# Secret values published in this repository: the demo (dev.py) and the
# sandbox stack docker-compose.yml once defaulted to, the test settings and
# the benchmarks. With them anyone can sign a webhook (app secret), pass the
# subscription check (verify token) or forge sessions (SECRET_KEY).
PUBLIC_SECRET_VALUES = frozenset(
    {
        *("sandbox-app-secret", "sandbox-verify-token", "sandbox-access-token"),
        *("test-app-secret", "test-verify-token", "test-access-token"),
        "test-only-secret-key-not-for-production-use-0123456789",
        "test-only-subprocess-key-0123456789-0123456789",
        *("bench-app-secret", "bench-verify-token", "bench-secret", "bench-verify", "bench-token"),
        "bench-secret-key-0123456789-bench-secret-key-0123456789",
    }
)
# Django's prefix for generated throw-away keys, also this project's DEBUG-only key (config/settings.py).
INSECURE_PREFIX = "django-insecure-"


def _is_public(value: str) -> bool:
    return value in PUBLIC_SECRET_VALUES or value.startswith(INSECURE_PREFIX)


@register("whatsapp", Tags.security, deploy=True)
def check_secrets_are_not_public(app_configs=None, **kwargs):
    """`check --deploy` fails when a secret is one of the demo's, the sandbox's, the tests' or the benchmarks'.

    An empty secret with the Cloud backend is whatsapp.E002 (every check run);
    with another backend an empty app secret refuses every webhook, which is safe.
    """
    problems = []
    for name, how in SECRET_SETTINGS.items():
        if _is_public(str(getattr(settings, name, "") or "")):
            problems.append(
                Error(
                    f"{name} is a value published with this project (demo, sandbox, tests or benchmarks): "
                    "anyone who read the repository knows it.",
                    hint=f"Set {name} in the environment to a secret of your own: {how} (see .env.example).",
                    id="whatsapp.E003",
                )
            )
    return problems


@register("whatsapp")
def check_whatsapp_settings(app_configs=None, **kwargs):
    problems = []
    path = getattr(settings, "WHATSAPP_BACKEND", "")
    try:
        backend_class = import_string(path)
    except ImportError as exc:
        return [
            Error(
                f"WHATSAPP_BACKEND={path!r} cannot be imported ({exc}).",
                hint="Use whatsapp.backends.cloud.CloudAPIBackend, .console.ConsoleBackend or .locmem.LocmemBackend.",
                id="whatsapp.E001",
            )
        ]
    from whatsapp.backends.cloud import CloudAPIBackend

    if issubclass(backend_class, CloudAPIBackend):
        for name, consequence in CLOUD_REQUIRED.items():
            if not getattr(settings, name, ""):
                problems.append(
                    Error(
                        f"{name} is not set but WHATSAPP_BACKEND is the Cloud API: {consequence}.",
                        hint=f"Set {name} in the environment (see .env.example; Meta App Dashboard > WhatsApp).",
                        id="whatsapp.E002",
                    )
                )
        if not getattr(settings, "WHATSAPP_BUSINESS_ACCOUNT_ID", ""):
            problems.append(
                Warning(
                    "WHATSAPP_BUSINESS_ACCOUNT_ID is not set: sync_templates cannot list the account's templates.",
                    hint="Set WHATSAPP_BUSINESS_ACCOUNT_ID (the WABA id) in the environment.",
                    id="whatsapp.W001",
                )
            )
    return problems


@register("whatsapp")
def check_keywords(app_configs=None, **kwargs):
    """A keyword in both lists would only ever opt out; one that normalises to nothing never matches."""
    from whatsapp.keywords import normalise_keyword

    problems = []
    lists = {name: getattr(settings, name, []) for name in ("WHATSAPP_OPT_OUT_KEYWORDS", "WHATSAPP_OPT_IN_KEYWORDS")}
    both = {normalise_keyword(word) for word in lists["WHATSAPP_OPT_OUT_KEYWORDS"]} & {
        normalise_keyword(word) for word in lists["WHATSAPP_OPT_IN_KEYWORDS"]
    } - {""}
    if both:
        problems.append(
            Error(
                f"{', '.join(sorted(both))} is both an opt-out and an opt-in keyword (compared after normalisation).",
                hint="Remove it from WHATSAPP_OPT_OUT_KEYWORDS or WHATSAPP_OPT_IN_KEYWORDS.",
                id="whatsapp.E004",
            )
        )
    for name, words in lists.items():
        empty = [word for word in words if not normalise_keyword(word)]
        if empty:
            problems.append(
                Warning(
                    f"{name} has {empty!r}, which is only punctuation or symbols once normalised: it never matches.",
                    hint="Keywords are compared without case, accents, punctuation or symbols (whatsapp/keywords.py).",
                    id="whatsapp.W002",
                )
            )
    return problems
