"""`Idempotency-Key` on POST: a retried request gets the first answer and does nothing twice.

docs/architecture.md, "API": before the view runs, one row (user, key) with
the request's fingerprint is inserted and committed; its UNIQUE constraint
lets only one request with that key run, even concurrently on PostgreSQL.
When the view answers (2xx or 4xx), the answer is stored on the row; a retry
with the same key and the same request gets it back, unchanged (header
`Idempotent-Replayed: true`). The same key with another request is a 422
problem; a retry while the first still runs is a 409 problem. A 5xx, or an
exception, frees the key, so the client may try again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from api.models import IdempotencyRecord
from api.problems import problem_response

HEADER = "Idempotency-Key"
MAX_LENGTH = 255


class Replay(Exception):
    """Raised before the view runs: answer with `response` instead (a replay or a refusal)."""

    def __init__(self, response: Response):
        super().__init__("idempotent replay")
        self.response = response


def fingerprint(request) -> str:
    """SHA-256 of the method, the path and the body; a multipart body by its fields and files' bytes (its boundary
    changes with every retry)."""
    digest = hashlib.sha256()
    digest.update(request.method.encode() + b"\0" + request.get_full_path().encode() + b"\0")
    if (request.content_type or "").startswith("multipart/"):
        for name, value in sorted(request.data.lists()):
            digest.update(name.encode() + b"\0")
            for item in value:
                if hasattr(item, "chunks"):
                    for chunk in item.chunks():
                        digest.update(chunk)
                    item.seek(0)
                else:
                    digest.update(str(item).encode())
                digest.update(b"\0")
    else:
        digest.update((request.content_type or "").encode() + b"\0" + request.body)
    return digest.hexdigest()


def idempotency_claim(*, request, key: str) -> IdempotencyRecord:
    """Insert and commit (user, key), or raise Replay with the first answer or the refusal."""
    now = timezone.now()
    user = request.user
    instance = request.get_full_path()
    if not key or len(key) > MAX_LENGTH:
        raise Replay(
            problem_response(
                status_code=400,
                code="idempotency_key",
                title=_("Bad Idempotency-Key"),
                instance=instance,
                detail=_("An Idempotency-Key has 1 to %(n)s characters.") % {"n": MAX_LENGTH},
            )
        )
    print_ = fingerprint(request)
    expired = now - dt.timedelta(hours=settings.API_IDEMPOTENCY_HOURS)
    # Forget expired answers (every user's: the created_at index finds them), so the table stays small.
    IdempotencyRecord.objects.filter(created_at__lt=expired).delete()
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(user=user, key=key, fingerprint=print_, created_at=now)
    except IntegrityError:
        pass
    first = IdempotencyRecord.objects.filter(user=user, key=key).first()
    if first is None:  # freed meanwhile (the first request failed): the client may retry
        raise Replay(_in_progress(instance))
    if first.fingerprint != print_:
        raise Replay(
            problem_response(
                status_code=422,
                code="idempotency_key_reused",
                title=_("Idempotency-Key reused"),
                instance=instance,
                detail=_("This Idempotency-Key was used for another request; use a new key for a new request."),
            )
        )
    if first.status_code is None:
        raise Replay(_in_progress(instance))
    headers = {"Idempotent-Replayed": "true"}
    if first.location:
        headers["Location"] = first.location
    content_type = "application/problem+json" if first.status_code >= 400 else None
    raise Replay(Response(first.response, status=first.status_code, headers=headers, content_type=content_type))


def _in_progress(instance: str) -> Response:
    return problem_response(
        status_code=409,
        code="idempotency_in_progress",
        title=_("Request in progress"),
        instance=instance,
        detail=_("A request with this Idempotency-Key is still running; retry later."),
        headers={"Retry-After": "1"},
    )


def idempotency_store(*, record: IdempotencyRecord, response: Response) -> None:
    """Keep the answer for retries; a 5xx frees the key instead."""
    if response.status_code >= 500:
        idempotency_release(record=record)
        return
    data = json.loads(JSONRenderer().render(response.data) or b"null")
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        status_code=response.status_code, response=data, location=response.get("Location", "")[:500]
    )


def idempotency_release(*, record: IdempotencyRecord) -> None:
    IdempotencyRecord.objects.filter(pk=record.pk, status_code__isnull=True).delete()
