"""drf-spectacular's description of the API key authentication (a Bearer token)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key: `python manage.py create_api_key USERNAME`, or the admin's API keys page.",
        }


PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"description": "field -> messages, as the services report them"},
    },
    "required": ["type", "title", "status", "detail", "instance"],
}
ERRORS = {
    "400": "Bad request: see `errors`.",
    "401": "No key, or an unknown or revoked one.",
    "403": "The key's user lacks the permission.",
    "404": "Not found.",
    "405": "Method not allowed.",
    "406": "Not acceptable.",
    "413": "The request body is too large.",
    "409": "Conflict: the resource's state does not allow this, or the same Idempotency-Key is still running.",
    "415": "Unsupported media type.",
    "422": "Cannot be carried out as it is (see `errors`), or an Idempotency-Key reused for another request.",
    "429": "Throttled: retry after `Retry-After` seconds.",
}
IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": 255},
    "description": "Send the same key again to get the first answer back; the request is carried out once.",
}


def add_problems(result, generator, request, public):
    """Every operation may answer the problems above (application/problem+json); every POST takes Idempotency-Key."""
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM
    ref = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path in result.get("paths", {}).values():
        for method, operation in path.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for code, text in ERRORS.items():
                operation["responses"].setdefault(code, {"description": text, "content": ref})
            if method == "post":
                operation.setdefault("parameters", []).append(IDEMPOTENCY_HEADER)
    return result
