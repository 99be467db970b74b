"""The WhatsApp error table (DESIGN.md, "Errors"): the one place a code becomes a decision.

Errors are decided by `code` (and `error_data.details`), never by title.
"""

from __future__ import annotations

import re
from enum import StrEnum


class ErrorKind(StrEnum):
    TRANSIENT = "transient"  # back to pending, back off, retry up to max attempts
    LATER = "later"  # retry no sooner than 24 h
    STOP_CAMPAIGN = "stop_campaign"  # pause the campaign, tell the operator
    PERMANENT = "permanent"  # failed for this recipient, never retried
    OPT_OUT = "opt_out"  # failed and the contact unsubscribed
    UNKNOWN_OUTCOME = "unknown_outcome"  # no answer after the request went out: never resent automatically


TRANSIENT_CODES = frozenset({130429, 131056, 4, 80007, 131000, 131016, 131057})
LATER_CODES = frozenset({131049})
STOP_CAMPAIGN_CODES = frozenset(
    {131048, 131031, 368, 131042, 190, 0, 3, 10, 132000, 132001, 132008, 132012, 132015, 132016, 131063, 131064}
    | set(range(200, 300))
)
PERMANENT_CODES = frozenset({131026, 131047, 130472, 131030, 131021, 137000})
OPT_OUT_CODES = frozenset({131050})

_BY_CODE: dict[int, ErrorKind] = {
    **dict.fromkeys(TRANSIENT_CODES, ErrorKind.TRANSIENT),
    **dict.fromkeys(LATER_CODES, ErrorKind.LATER),
    **dict.fromkeys(STOP_CAMPAIGN_CODES, ErrorKind.STOP_CAMPAIGN),
    **dict.fromkeys(PERMANENT_CODES, ErrorKind.PERMANENT),
    **dict.fromkeys(OPT_OUT_CODES, ErrorKind.OPT_OUT),
}


def classify(code: int | None, http_status: int | None = None) -> ErrorKind:
    """What to do about an error: by its code first, then by the HTTP status.

    A known code wins over the HTTP status. An unknown code on a 5xx (or no code
    at all on a 5xx / 429) is transient; anything else unknown is permanent for
    the recipient, so a message we do not understand is never retried blindly.
    """
    kind = _BY_CODE.get(parse_code(code))
    if kind is not None:
        return kind
    if http_status is not None and (http_status >= 500 or http_status == 429):
        return ErrorKind.TRANSIENT
    return ErrorKind.PERMANENT


def parse_code(value: object) -> int | None:
    """An error code as WhatsApp sends it (number or numeric string), or None when there is none to read."""
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def format_reason(code: int | None, title: str | None, message: str | None, details: str | None) -> str:
    """`Error {code}: {title} - {message} ({details})`, the failure reason operators read."""
    return f"Error {code}: {title or ''} - {message or ''} ({details or ''})"


class WhatsAppError(Exception):
    """Any failure talking to WhatsApp: one type, decided by `kind`."""

    def __init__(
        self,
        message: str = "",
        *,
        code: int | None = None,
        title: str | None = None,
        details: str | None = None,
        http_status: int | None = None,
        kind: ErrorKind | None = None,
    ):
        self.code = code
        self.title = title or ""
        self.message = message or ""
        self.details = details or ""
        self.http_status = http_status
        self.kind = ErrorKind(kind) if kind is not None else classify(code, http_status)
        super().__init__(self.reason)

    @property
    def reason(self) -> str:
        return format_reason(self.code, self.title, self.message, self.details)

    @classmethod
    def from_response_body(cls, body: object, http_status: int | None) -> WhatsAppError:
        """Build from a Graph API error body: {"error": {"code", "message", "error_data": {"details"}, ...}}."""
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return cls(f"HTTP {http_status} without a WhatsApp error body", http_status=http_status)
        code = parse_code(error.get("code"))
        error_data = error.get("error_data") if isinstance(error.get("error_data"), dict) else {}
        message = str(error.get("message") or "")
        # The Graph API has no title field on most errors: its message minus the "(#code) " prefix is the title.
        title = error.get("error_user_title") or error.get("title") or re.sub(r"^\(#\d+\)\s*", "", message)
        return cls(
            message,
            code=code,
            title=title,
            details=error_data.get("details") or error.get("error_user_msg") or "",
            http_status=http_status,
        )

    def __repr__(self) -> str:
        return f"WhatsAppError(kind={self.kind!s}, code={self.code}, http_status={self.http_status}, {self.reason!r})"


class WebhookValidationError(Exception):
    """A webhook request we refuse (bad signature, bad JSON, too big): answered with `status`, nothing changes."""

    status = 400

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        if status is not None:
            self.status = status
