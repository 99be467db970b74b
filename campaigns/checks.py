"""System checks: tell the operator what the campaigns' admin needs before a page fails to work."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Warning, register

# Result backends a web process cannot read a worker's job state from.
UNSHARED_RESULT_BACKENDS = ("rpc://", "disabled")


@register("campaigns")
def check_result_backend(app_configs=None, **kwargs):
    """The activation progress page reads the job's state from Celery's result backend, from any web process."""
    backend = (getattr(settings, "CELERY_RESULT_BACKEND", "") or "").strip()
    if backend and not backend.startswith(UNSHARED_RESULT_BACKENDS):
        return []
    return [
        Warning(
            f"CELERY_RESULT_BACKEND={backend!r}: the admin's activation and top-up progress pages cannot read "
            "a job's progress or outcome (they stay 'waiting for a worker').",
            hint="Use Redis (the default with a redis:// broker), file:// (the default with the filesystem broker) "
            "or another backend every process can read; see .env.example.",
            id="campaigns.W001",
        )
    ]
