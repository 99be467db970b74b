"""The WhatsApp error table (docs/architecture.md, "Errors"): the one place a code becomes a decision.

Errors are decided by `code` (and `error_data.details`), never by title.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from django.utils.translation import gettext, gettext_noop


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
_PAUSED = gettext_noop("A send refused with this code pauses the campaign (the recipient goes back to pending).")
_RETRIED = gettext_noop("Retried automatically with back-off; recipients failed with it ran out of attempts.")


@dataclass(frozen=True)
class _Entry:
    """A row of the table in English (extracted by makemessages), translated when error_help() reads it."""

    meaning: str
    action: str
    prefix: str = ""

    def translated(self) -> ErrorHelp:
        action = gettext(self.action)
        return ErrorHelp(gettext(self.meaning), f"{gettext(self.prefix)} {action}" if self.prefix else action)


def _entry(meaning: str, action: str, *, prefix: str = "") -> _Entry:
    return _Entry(meaning, action, prefix)


_HELP: dict[int, _Entry] = {
    # Authorization.
    0: _entry(
        gettext_noop(
            "AuthException: WhatsApp could not authenticate the app (token expired or invalidated, or access removed)."
        ),
        gettext_noop("Generate a new access token, set WHATSAPP_ACCESS_TOKEN, restart the workers, resume."),
        prefix=_PAUSED,
    ),
    3: _entry(
        gettext_noop("API method: a capability or permission the endpoint needs is missing from the app."),
        gettext_noop("Check the token in Meta's Access Token Debugger (whatsapp_business_messaging), fix it, resume."),
        prefix=_PAUSED,
    ),
    10: _entry(
        gettext_noop("Permission denied: the permission was not granted or has been removed."),
        gettext_noop("Check the token in Meta's Access Token Debugger, grant the missing permission, resume."),
        prefix=_PAUSED,
    ),
    190: _entry(
        gettext_noop("Access token has expired."),
        gettext_noop(
            "Generate a new access token (a system-user token need not expire), set "
            "WHATSAPP_ACCESS_TOKEN, restart the workers, resume."
        ),
        prefix=_PAUSED,
    ),
    # Throttling.
    4: _entry(
        gettext_noop("API too many calls: the app reached its Graph API call rate limit."),
        gettext_noop("If it persists, lower WHATSAPP_MAX_MPS."),
        prefix=_RETRIED,
    ),
    80007: _entry(
        gettext_noop("Rate limit issues: the WhatsApp Business Account reached its rate limit."),
        gettext_noop("If it persists, lower WHATSAPP_MAX_MPS."),
        prefix=_RETRIED,
    ),
    130429: _entry(
        gettext_noop("Rate limit hit: the Cloud API message throughput of the business phone number was reached."),
        gettext_noop("If it persists, lower WHATSAPP_MAX_MPS; retry failed recipients later."),
        prefix=_RETRIED,
    ),
    131056: _entry(
        gettext_noop(
            "Pair rate limit hit: too many messages from the business number to the same recipient in a short time."
        ),
        gettext_noop("Other recipients are not affected; retry failed recipients later."),
        prefix=_RETRIED,
    ),
    131048: _entry(
        gettext_noop(
            "Spam rate limit hit: sending from this number is restricted because too many earlier "
            "messages were blocked or flagged as spam."
        ),
        gettext_noop(
            "Check the number's quality rating in WhatsApp Manager, review the template and the "
            "audience (only people who opted in), and resume later at a lower daily cap."
        ),
        prefix=_PAUSED,
    ),
    # Integrity and account.
    368: _entry(
        gettext_noop(
            "Temporarily blocked for policy violations: the WhatsApp Business Account was restricted or disabled."
        ),
        gettext_noop("Read the policy-enforcement notice in WhatsApp Manager, resolve or appeal it, then resume."),
        prefix=_PAUSED,
    ),
    131031: _entry(
        gettext_noop(
            "Account has been locked: the WhatsApp Business Account was restricted or disabled for a "
            "policy violation, or data in the request could not be verified (e.g. a wrong two-step "
            "verification PIN)."
        ),
        gettext_noop("Check the account in WhatsApp Manager and Business Support Home, resolve it, then resume."),
        prefix=_PAUSED,
    ),
    131042: _entry(
        gettext_noop("Business eligibility payment issue: a problem with the account's payment method or billing."),
        gettext_noop("Fix the payment method in WhatsApp Manager (billing), then resume."),
        prefix=_PAUSED,
    ),
    # Per recipient.
    131026: _entry(
        gettext_noop(
            "Message undeliverable: the number is not on WhatsApp, has not accepted the current Terms "
            "of Service, or uses an outdated WhatsApp version."
        ),
        gettext_noop(
            "Not retried. Verify the number, or remove it from the audience and reach the person another way."
        ),
    ),
    131047: _entry(
        gettext_noop(
            "Re-engagement message: more than 24 hours have passed since the recipient last replied, so "
            "only a template message can be sent."
        ),
        gettext_noop(
            "Not retried. Send an approved template (check that the campaign's template is approved and "
            "synced), or wait until the person writes to you."
        ),
    ),
    131049: _entry(
        gettext_noop(
            "Meta chose not to deliver, to maintain healthy ecosystem engagement: the recipient reached "
            "the per-user limit of marketing messages (from all businesses)."
        ),
        gettext_noop(
            "A send refused with it is retried no sooner than 24 hours later; a failed status is final. "
            "Retry failed recipients after a day or more, and send marketing less often to the same "
            "people."
        ),
    ),
    131050: _entry(
        gettext_noop(
            "User stopped marketing messages: the recipient chose to stop receiving marketing messages "
            "from your business."
        ),
        gettext_noop(
            "Not retried: the contact was unsubscribed automatically. Only a new opt-in from the person resumes it."
        ),
    ),
    130472: _entry(
        gettext_noop("User's number is part of an experiment: Meta does not deliver marketing templates to this user."),
        gettext_noop(
            "Not retried (a resend fails the same way). Reach the person outside WhatsApp, or ask them to write first."
        ),
    ),
    131021: _entry(
        gettext_noop("Recipient cannot be sender: the message was addressed to the business's own phone number."),
        gettext_noop("Not retried. Remove the business number from the audience."),
    ),
    131030: _entry(
        gettext_noop(
            "Recipient phone number not in allowed list: a test business number only sends to the "
            "numbers on its allowed list."
        ),
        gettext_noop(
            "Not retried. Add the number to the allowed list in the app dashboard, or send from a production number."
        ),
    ),
    137000: _entry(
        gettext_noop(
            "Identity key hash mismatch: the recipient's identity key changed (identity-change check enabled)."
        ),
        gettext_noop("Not retried. Confirm the person's identity before sending to this number again."),
    ),
    131000: _entry(
        gettext_noop("Something went wrong: an unknown error on WhatsApp's side."),
        gettext_noop("If many recipients fail this way, check the WhatsApp Business Platform status page."),
        prefix=_RETRIED,
    ),
    131016: _entry(
        gettext_noop("Service unavailable: WhatsApp is temporarily unavailable."),
        gettext_noop("Check the WhatsApp Business Platform status page; retry failed recipients once it is back."),
        prefix=_RETRIED,
    ),
    131057: _entry(
        gettext_noop("Business account in maintenance mode (e.g. a throughput upgrade in progress)."),
        gettext_noop("Retry failed recipients once the maintenance is over."),
        prefix=_RETRIED,
    ),
    # Templates.
    132000: _entry(
        gettext_noop("Number of parameters does not match the expected number of params of the template."),
        gettext_noop("Resync templates, make the campaign's body/header parameters match the template, resume."),
        prefix=_PAUSED,
    ),
    132001: _entry(
        gettext_noop("Template does not exist: no template of this name in this language, or it is not approved."),
        gettext_noop(
            "Resync templates and check the name, language and status in WhatsApp Manager; choose an "
            "approved template, then resume."
        ),
        prefix=_PAUSED,
    ),
    132012: _entry(
        gettext_noop(
            "Parameter format mismatch: a parameter does not have the format the template expects (e.g. "
            "a media header sent without its media)."
        ),
        gettext_noop("Fix the parameters or the header media URL to match the template, then resume."),
        prefix=_PAUSED,
    ),
    132015: _entry(
        gettext_noop("Template is paused because of low quality, so it cannot be sent."),
        gettext_noop(
            "Improve the template in WhatsApp Manager (or pick another approved one), resync templates, resume."
        ),
        prefix=_PAUSED,
    ),
    132016: _entry(
        gettext_noop("Template is disabled: it was paused too many times for low quality and is permanently disabled."),
        gettext_noop("Create a new template, get it approved, resync templates and switch the campaign to it."),
        prefix=_PAUSED,
    ),
}

_API_PERMISSION = _entry(
    gettext_noop("API permission: a permission was not granted or has been removed (codes 200-299)."),
    gettext_noop("Check the token in Meta's Access Token Debugger, grant the missing permission, resume."),
    prefix=_PAUSED,
)

# Codes not in the table: what this application does with their kind.
_BY_KIND: dict[ErrorKind, _Entry] = {
    ErrorKind.TRANSIENT: _entry(
        gettext_noop("A temporary error reported by WhatsApp."),
        gettext_noop("Retry failed recipients later."),
        prefix=_RETRIED,
    ),
    ErrorKind.LATER: _entry(
        gettext_noop("WhatsApp refused the message for now."),
        gettext_noop(
            "A refused send is retried no sooner than 24 hours later; retry failed recipients after a day or more."
        ),
    ),
    ErrorKind.STOP_CAMPAIGN: _entry(
        gettext_noop("An account, permission or template problem: every send would fail the same way."),
        gettext_noop("Read the failure reason, fix the cause, then resume."),
        prefix=_PAUSED,
    ),
    ErrorKind.PERMANENT: _entry(
        gettext_noop("WhatsApp refused the message for this recipient (a code this application has no entry for)."),
        gettext_noop('Not retried. Read the failure reason; use "Retry failed recipients" once the cause is fixed.'),
    ),
    ErrorKind.OPT_OUT: _entry(
        gettext_noop("The recipient opted out of your messages."),
        gettext_noop("Not retried: the contact was unsubscribed automatically."),
    ),
    ErrorKind.UNKNOWN_OUTCOME: _entry(
        gettext_noop("No answer after the request went out: the message may or may not have reached the person."),
        gettext_noop('Never resent automatically. Review, then use "Resend unknown" if a duplicate is acceptable.'),
    ),
}

_NO_CODE = _entry(
    gettext_noop("WhatsApp reported a failure without an error code."),
    gettext_noop('Not retried. Read the failure reason; use "Retry failed recipients" once the cause is fixed.'),
)


def error_help(code: int | None) -> ErrorHelp:
    """The meaning of an error code and the operator's next step: from the table, else from the code's kind."""
    code = parse_code(code)
    if code is None:
        entry = _NO_CODE
    elif code in _HELP:
        entry = _HELP[code]
    elif 200 <= code < 300:
        entry = _API_PERMISSION
    else:
        entry = _BY_KIND[classify(code)]
    return entry.translated()


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
