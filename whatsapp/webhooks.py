"""The signed WhatsApp webhook (anymail `webhooks/base.py`): validate, store, answer; a task normalises and signals.

Meta wants a fast 200 and retries otherwise, so the POST only checks the body
(size, signature, JSON shape), stores it (Promise 6) and answers; a Celery
task enqueued on commit processes it (whatsapp.services.webhook_event_process),
and a periodic sweep processes bodies whose task was lost.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from whatsapp.errors import WebhookValidationError
from whatsapp.parsing import load_payload
from whatsapp.services import webhook_event_enqueue, webhook_event_record

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"


def sign(body: bytes, secret: str) -> str:
    """The X-Hub-Signature-256 value Meta sends: sha256=HMAC_SHA256(app secret, raw body)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def validate_size(request: HttpRequest) -> bytes:
    """The raw body, refused with 413 over WHATSAPP_WEBHOOK_MAX_BYTES (declared length first, then the real one).

    A chunked body has no Content-Length, and Django reads a request's body
    only up to Content-Length (none: an empty body). A server that decodes
    chunked bodies says the input ends by itself (`wsgi.input_terminated`,
    gunicorn does): then we read it ourselves, at most one byte over the limit.
    A chunked body on a WSGI server that cannot end it is refused (411), not
    read as empty. Under ASGI Django holds the whole body: read up to the limit.
    """
    limit = settings.WHATSAPP_WEBHOOK_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError as exc:
        raise WebhookValidationError("invalid Content-Length", status=400) from exc
    if declared > limit:
        raise WebhookValidationError(f"body of {declared} bytes is over the {limit} byte limit", status=413)
    chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    if request.META.get("CONTENT_LENGTH"):
        body = request.body
    elif "wsgi.input" not in request.META:
        body = request.read(limit + 1)  # ASGI: the server handed Django the whole decoded body
    elif request.META.get("wsgi.input_terminated"):
        body = request.META["wsgi.input"].read(limit + 1)
    elif chunked:
        raise WebhookValidationError("a chunked body needs a server that decodes it (gunicorn)", status=411)
    else:
        body = request.body
    if len(body) > limit:
        raise WebhookValidationError(f"body of {len(body)} bytes is over the {limit} byte limit", status=413)
    return body


def validate_signature(request: HttpRequest, body: bytes) -> None:
    provided = request.headers.get(SIGNATURE_HEADER)
    if not provided:
        raise WebhookValidationError(f"missing {SIGNATURE_HEADER}", status=401)
    secret = settings.WHATSAPP_APP_SECRET
    if not secret:
        logger.error("whatsapp webhook refused: WHATSAPP_APP_SECRET is not set, no signature can be verified")
        raise WebhookValidationError("signature cannot be verified", status=403)
    if not hmac.compare_digest(provided.strip().encode(), sign(body, secret).encode()):
        raise WebhookValidationError("bad signature", status=403)


@method_decorator(csrf_exempt, name="dispatch")
class WhatsAppWebhookView(View):
    """GET: Meta's subscription check. POST: signed notifications, answered 200 once the body is stored."""

    http_method_names = ["get", "post"]

    def get(self, request: HttpRequest) -> HttpResponse:
        token = settings.WHATSAPP_VERIFY_TOKEN
        if (
            token
            and request.GET.get("hub.mode") == "subscribe"
            and constant_time_compare(request.GET.get("hub.verify_token", ""), token)
        ):
            return HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain")
        return HttpResponse("forbidden", status=403, content_type="text/plain")

    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            body = validate_size(request)
            validate_signature(request, body)
            # Bad JSON (or nesting no real body has) is refused like any bad input: 400, nothing stored
            # (Promise 7). Checked here, before storing, so a stored body always parses for its task.
            load_payload(body)
        except WebhookValidationError as exc:
            logger.warning("whatsapp webhook refused (%s): %s", exc.status, exc)
            return HttpResponse(str(exc), status=exc.status, content_type="text/plain")
        webhook_event = webhook_event_record(body=body, signature=request.headers[SIGNATURE_HEADER], now=timezone.now())
        webhook_event_enqueue(webhook_event=webhook_event)
        return HttpResponse("ok", content_type="text/plain")
