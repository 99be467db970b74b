"""The WhatsApp error table (docs/architecture.md, "Errors"): the one place a code becomes a decision.

Errors are decided by `code` (and `error_data.details`), never by title.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
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


@dataclass(frozen=True)
class ErrorHelp:
    """What an error code means and what the operator should do, for the dashboard's failures table."""

    meaning: str
    action: str


# Meanings follow Meta's Cloud API error-code reference (its titles and details, shortened). Actions say what
# this application already does with the code (its ErrorKind) and what is left to the operator. Codes of the
# sets above that are missing here get the help of their kind.
_PAUSED = "A send refused with this code pauses the campaign (the recipient goes back to pending). "
_RETRIED = "Retried automatically with back-off; recipients failed with it ran out of attempts. "
_HELP: dict[int, ErrorHelp] = {
    # Authorization.
    0: ErrorHelp(
        "AuthException: WhatsApp could not authenticate the app (token expired or invalidated, or access removed).",
        _PAUSED + "Generate a new access token, set WHATSAPP_ACCESS_TOKEN, restart the workers, resume.",
    ),
    3: ErrorHelp(
        "API method: a capability or permission the endpoint needs is missing from the app.",
        _PAUSED + "Check the token in Meta's Access Token Debugger (whatsapp_business_messaging), fix it, resume.",
    ),
    10: ErrorHelp(
        "Permission denied: the permission was not granted or has been removed.",
        _PAUSED + "Check the token in Meta's Access Token Debugger, grant the missing permission, resume.",
    ),
    190: ErrorHelp(
        "Access token has expired.",
        _PAUSED + "Generate a new access token (a system-user token need not expire), set WHATSAPP_ACCESS_TOKEN, "
        "restart the workers, resume.",
    ),
    # Throttling.
    4: ErrorHelp(
        "API too many calls: the app reached its Graph API call rate limit.",
        _RETRIED + "If it persists, lower WHATSAPP_MAX_MPS.",
    ),
    80007: ErrorHelp(
        "Rate limit issues: the WhatsApp Business Account reached its rate limit.",
        _RETRIED + "If it persists, lower WHATSAPP_MAX_MPS.",
    ),
    130429: ErrorHelp(
        "Rate limit hit: the Cloud API message throughput of the business phone number was reached.",
        _RETRIED + "If it persists, lower WHATSAPP_MAX_MPS; retry failed recipients later.",
    ),
    131056: ErrorHelp(
        "Pair rate limit hit: too many messages from the business number to the same recipient in a short time.",
        _RETRIED + "Other recipients are not affected; retry failed recipients later.",
    ),
    131048: ErrorHelp(
        "Spam rate limit hit: sending from this number is restricted because too many earlier messages were "
        "blocked or flagged as spam.",
        _PAUSED + "Check the number's quality rating in WhatsApp Manager, review the template and the audience "
        "(only people who opted in), and resume later at a lower daily cap.",
    ),
    # Integrity and account.
    368: ErrorHelp(
        "Temporarily blocked for policy violations: the WhatsApp Business Account was restricted or disabled.",
        _PAUSED + "Read the policy-enforcement notice in WhatsApp Manager, resolve or appeal it, then resume.",
    ),
    131031: ErrorHelp(
        "Account has been locked: the WhatsApp Business Account was restricted or disabled for a policy "
        "violation, or data in the request could not be verified (e.g. a wrong two-step verification PIN).",
        _PAUSED + "Check the account in WhatsApp Manager and Business Support Home, resolve it, then resume.",
    ),
    131042: ErrorHelp(
        "Business eligibility payment issue: a problem with the account's payment method or billing.",
        _PAUSED + "Fix the payment method in WhatsApp Manager (billing), then resume.",
    ),
    # Per recipient.
    131026: ErrorHelp(
        "Message undeliverable: the number is not on WhatsApp, has not accepted the current Terms of Service, "
        "or uses an outdated WhatsApp version.",
        "Not retried. Verify the number, or remove it from the audience and reach the person another way.",
    ),
    131047: ErrorHelp(
        "Re-engagement message: more than 24 hours have passed since the recipient last replied, so only a "
        "template message can be sent.",
        "Not retried. Send an approved template (check that the campaign's template is approved and synced), "
        "or wait until the person writes to you.",
    ),
    131049: ErrorHelp(
        "Meta chose not to deliver, to maintain healthy ecosystem engagement: the recipient reached the per-user "
        "limit of marketing messages (from all businesses).",
        "A send refused with it is retried no sooner than 24 hours later; a failed status is final. Retry failed "
        "recipients after a day or more, and send marketing less often to the same people.",
    ),
    131050: ErrorHelp(
        "User stopped marketing messages: the recipient chose to stop receiving marketing messages from your business.",
        "Not retried: the contact was unsubscribed automatically. Only a new opt-in from the person resumes it.",
    ),
    130472: ErrorHelp(
        "User's number is part of an experiment: Meta does not deliver marketing templates to this user.",
        "Not retried (a resend fails the same way). Reach the person outside WhatsApp, or ask them to write first.",
    ),
    131021: ErrorHelp(
        "Recipient cannot be sender: the message was addressed to the business's own phone number.",
        "Not retried. Remove the business number from the audience.",
    ),
    131030: ErrorHelp(
        "Recipient phone number not in allowed list: a test business number only sends to the numbers on its "
        "allowed list.",
        "Not retried. Add the number to the allowed list in the app dashboard, or send from a production number.",
    ),
    137000: ErrorHelp(
        "Identity key hash mismatch: the recipient's identity key changed (identity-change check enabled).",
        "Not retried. Confirm the person's identity before sending to this number again.",
    ),
    131000: ErrorHelp(
        "Something went wrong: an unknown error on WhatsApp's side.",
        _RETRIED + "If many recipients fail this way, check the WhatsApp Business Platform status page.",
    ),
    131016: ErrorHelp(
        "Service unavailable: WhatsApp is temporarily unavailable.",
        _RETRIED + "Check the WhatsApp Business Platform status page; retry failed recipients once it is back.",
    ),
    131057: ErrorHelp(
        "Business account in maintenance mode (e.g. a throughput upgrade in progress).",
        _RETRIED + "Retry failed recipients once the maintenance is over.",
    ),
    # Templates.
    132000: ErrorHelp(
        "Number of parameters does not match the expected number of params of the template.",
        _PAUSED + "Resync templates, make the campaign's body/header parameters match the template, resume.",
    ),
    132001: ErrorHelp(
        "Template does not exist: no template of this name in this language, or it is not approved.",
        _PAUSED + "Resync templates and check the name, language and status in WhatsApp Manager; choose an "
        "approved template, then resume.",
    ),
    132012: ErrorHelp(
        "Parameter format mismatch: a parameter does not have the format the template expects (e.g. a media "
        "header sent without its media).",
        _PAUSED + "Fix the parameters or the header media URL to match the template, then resume.",
    ),
    132015: ErrorHelp(
        "Template is paused because of low quality, so it cannot be sent.",
        _PAUSED + "Improve the template in WhatsApp Manager (or pick another approved one), resync templates, resume.",
    ),
    132016: ErrorHelp(
        "Template is disabled: it was paused too many times for low quality and is permanently disabled.",
        _PAUSED + "Create a new template, get it approved, resync templates and switch the campaign to it.",
    ),
}

_API_PERMISSION = ErrorHelp(
    "API permission: a permission was not granted or has been removed (codes 200-299).",
    _PAUSED + "Check the token in Meta's Access Token Debugger, grant the missing permission, resume.",
)

# Codes not in the table: what this application does with their kind.
_BY_KIND: dict[ErrorKind, ErrorHelp] = {
    ErrorKind.TRANSIENT: ErrorHelp(
        "A temporary error reported by WhatsApp.", _RETRIED + "Retry failed recipients later."
    ),
    ErrorKind.LATER: ErrorHelp(
        "WhatsApp refused the message for now.",
        "A refused send is retried no sooner than 24 hours later; retry failed recipients after a day or more.",
    ),
    ErrorKind.STOP_CAMPAIGN: ErrorHelp(
        "An account, permission or template problem: every send would fail the same way.",
        _PAUSED + "Read the failure reason, fix the cause, then resume.",
    ),
    ErrorKind.PERMANENT: ErrorHelp(
        "WhatsApp refused the message for this recipient (a code this application has no entry for).",
        'Not retried. Read the failure reason; use "Retry failed recipients" once the cause is fixed.',
    ),
    ErrorKind.OPT_OUT: ErrorHelp(
        "The recipient opted out of your messages.", "Not retried: the contact was unsubscribed automatically."
    ),
    ErrorKind.UNKNOWN_OUTCOME: ErrorHelp(
        "No answer after the request went out: the message may or may not have reached the person.",
        'Never resent automatically. Review, then use "Resend unknown" if a duplicate is acceptable.',
    ),
}

_NO_CODE = ErrorHelp(
    "WhatsApp reported a failure without an error code.",
    'Not retried. Read the failure reason; use "Retry failed recipients" once the cause is fixed.',
)


def error_help(code: int | None) -> ErrorHelp:
    """The meaning of an error code and the operator's next step: from the table, else from the code's kind."""
    code = parse_code(code)
    if code is None:
        return _NO_CODE
    if code in _HELP:
        return _HELP[code]
    if 200 <= code < 300:
        return _API_PERMISSION
    return _BY_KIND[classify(code)]


# Recipient.error_code and Campaign.pause_error_code are 32-bit integer columns; every WhatsApp code fits.
CODE_MIN, CODE_MAX = -(2**31), 2**31 - 1


def parse_code(value: object) -> int | None:
    """An error code as WhatsApp sends it (a whole number or its digits), or None when there is none to read.

    Codes are data, never trusted: a number outside a 32-bit integer, a
    fraction, a boolean or text reads as None (no code, classified permanent);
    the caller keeps the raw value as text so the operator still sees it.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        value = int(value) if value.is_integer() else None
    elif isinstance(value, str):
        value = int(value.strip()) if re.fullmatch(r"\s*-?\d{1,10}\s*", value) else None
    if not isinstance(value, int) or not CODE_MIN <= value <= CODE_MAX:
        return None
    return value


def format_reason(code: int | str | None, title: str | None, message: str | None, details: str | None) -> str:
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
