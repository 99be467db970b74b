"""Errors as RFC 9457 problem details (`application/problem+json`), whatever raised them.

Every refusal the services raise keeps its meaning: a Django ValidationError
(a service's field errors) is 400 with `errors`; a campaign in the wrong state
(CampaignStateError, RetryRefused) is 409; a campaign that cannot be activated
as it is (CampaignValidationError) is 422 with the reasons in `errors`.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from audiences.filetypes import ImportFileError
from audiences.phones import InvalidPhoneNumber
from campaigns.retry import RetryRefused
from campaigns.services import CampaignStateError, CampaignValidationError

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "/api/v1/problems/"  # a problem's `type` URI: /api/v1/problems/<code>


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The resource is not in a state that allows this."
    default_code = "conflict"


class TooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


class Unprocessable(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The request is well-formed but cannot be carried out."
    default_code = "unprocessable"


def _messages(error: DjangoValidationError):
    if hasattr(error, "error_dict"):
        return {field: [str(m) for m in errors] for field, errors in error.message_dict.items()}
    return {"non_field_errors": [str(m) for m in error.messages]}


def _as_api_exception(exc: Exception) -> Exception:
    if isinstance(exc, CampaignValidationError):
        return Unprocessable(_messages(exc))
    if isinstance(exc, CampaignStateError):
        return Conflict("; ".join(exc.messages))
    if isinstance(exc, RetryRefused):
        return Conflict(str(exc))
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(_messages(exc))
    if isinstance(exc, ProtectedError | RestrictedError):
        names = sorted({str(obj._meta.verbose_name_plural) for obj in exc.protected_objects if hasattr(obj, "_meta")})
        return Conflict(_("Still in use by %(what)s: it cannot be deleted.") % {"what": ", ".join(names) or "others"})
    if isinstance(exc, ImportFileError | InvalidPhoneNumber):  # a file, or a phone, the import cannot read
        return exceptions.ValidationError({"non_field_errors": [str(exc)]})
    if isinstance(exc, RequestDataTooBig):
        return TooLarge()
    if isinstance(exc, SuspiciousOperation):  # too many fields, a bad multipart body ...
        return exceptions.ParseError(str(exc))
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, PermissionDenied):
        return exceptions.PermissionDenied()
    return exc


def _flatten(detail):
    if isinstance(detail, list):
        return [str(item) if not isinstance(item, dict | list) else _flatten(item) for item in detail]
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    return [str(detail)]


def problem_response(*, status_code: int, title: str, detail: str, instance: str, code: str, errors=None, headers=None):
    body = {
        "type": f"{TYPE_BASE}{code}",
        "title": title,
        "status": status_code,
        "detail": detail,
        "instance": instance,
    }
    if errors:
        body["errors"] = errors
    return Response(body, status=status_code, headers=headers, content_type=PROBLEM_JSON)


def problem_exception_handler(exc, context):
    """DRF's handler, then its answer reshaped as a problem; anything else stays a 500 (logged by Django)."""
    exc = _as_api_exception(exc)
    response = exception_handler(exc, context)
    if response is None:
        return None
    request = context.get("request")
    detail = exc.detail if isinstance(exc, exceptions.APIException) else response.data
    errors = None
    if isinstance(detail, dict):
        errors = _flatten(detail)
        text = _("The request has errors: see `errors`.")
    elif isinstance(detail, list):
        errors = {"non_field_errors": _flatten(detail)}
        text = "; ".join(str(d) for d in detail)
    else:
        text = str(detail)
    code = exc.default_code if isinstance(exc, exceptions.APIException) else "error"
    headers = {key: value for key, value in response.items() if key in ("WWW-Authenticate", "Retry-After", "Allow")}
    return problem_response(
        status_code=response.status_code,
        title=str(exc.default_detail) if isinstance(exc, exceptions.APIException) else code,
        detail=text,
        instance=request.get_full_path() if request is not None else "",
        code=code,
        errors=errors,
        headers=headers,
    )


@csrf_exempt  # a POST to an unknown URL is a 404 problem too, not the CSRF page
def not_found(request, *args, **kwargs):
    """Any /api/v1/ URL that matches no endpoint: a 404 problem, not Django's HTML page."""
    from django.http import JsonResponse

    body = {
        "type": f"{TYPE_BASE}not_found",
        "title": "Not found.",
        "status": 404,
        "detail": _("No endpoint at this URL."),
        "instance": request.get_full_path(),
    }
    return JsonResponse(body, status=404, content_type=PROBLEM_JSON)
