"""Normalised webhook events (anymail style): small plain classes with documented fields.

Receivers of `whatsapp.signals` get one of these as `event`. `raw` is the
exact piece of the webhook body the event came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from whatsapp.errors import ErrorKind, classify, format_reason, parse_code


@dataclass(frozen=True)
class ErrorInfo:
    """One entry of a webhook's `errors[]`."""

    code: int | None  # None when absent or not a code we can read (see raw_code)
    title: str = ""
    message: str = ""
    details: str = ""  # error_data.details
    raw_code: str = ""  # the code as sent, when it could not be read as one (2**40, "abc"): kept for the operator

    @property
    def reason(self) -> str:
        return format_reason(self.code if self.code is not None else self.raw_code or None, self.title, self.message,
                             self.details)  # fmt: skip

    @property
    def kind(self) -> ErrorKind:
        return classify(self.code)

    @classmethod
    def from_raw(cls, raw: dict) -> ErrorInfo:
        code = parse_code(raw.get("code"))
        raw_code = "" if code is not None or raw.get("code") is None else str(raw.get("code"))[:100]
        error_data = raw.get("error_data") if isinstance(raw.get("error_data"), dict) else {}
        return cls(
            code=code,
            title=str(raw.get("title") or ""),
            message=str(raw.get("message") or ""),
            details=str(error_data.get("details") or ""),
            raw_code=raw_code,
        )


@dataclass(frozen=True)
class StatusEvent:
    """A status of a message we sent: sent, delivered, read or failed."""

    message_id: str
    status: str
    timestamp: datetime
    recipient: str  # recipient_id as WhatsApp sends it (no "+"), or "" when absent
    tracker: str | None  # biz_opaque_callback_data we sent, or None
    errors: list[ErrorInfo] = field(default_factory=list)
    raw: dict = field(default_factory=dict)
    phone_number_id: str = ""
    conversation: dict | None = None
    pricing: dict | None = None
    notes: tuple[str, ...] = ()  # what parsing did not take as sent (a timestamp out of range, an unreadable code)

    event_type = "status"

    @property
    def error(self) -> ErrorInfo | None:
        return self.errors[0] if self.errors else None


@dataclass(frozen=True)
class MessageEvent:
    """An inbound message from a user.

    `type` is WhatsApp's message type ("text", "button", "interactive", ...).
    `text` is what the user typed or the title of the button they pressed;
    `payload` is a quick-reply button's payload (or an interactive reply's id).
    `sender` is `from` (wa_id, no "+"); it may be "" for a user known only by
    `user_id` (then `user_id` is set).
    """

    message_id: str
    sender: str
    timestamp: datetime
    type: str
    text: str = ""
    payload: str = ""
    user_id: str = ""
    profile_name: str = ""
    context_message_id: str = ""  # the message this one replies to
    raw: dict = field(default_factory=dict)
    phone_number_id: str = ""
    notes: tuple[str, ...] = ()

    event_type = "message"


@dataclass(frozen=True)
class PreferenceEvent:
    """A `user_preferences` change: marketing messages stopped ("stop") or resumed ("resume")."""

    wa_id: str
    category: str  # "marketing_messages"
    value: str  # "stop" | "resume"
    timestamp: datetime
    detail: str = ""
    user_id: str = ""
    raw: dict = field(default_factory=dict)
    phone_number_id: str = ""
    notes: tuple[str, ...] = ()

    event_type = "preference"

    @property
    def is_stop(self) -> bool:
        return self.value.lower() == "stop"

    @property
    def is_resume(self) -> bool:
        return self.value.lower() == "resume"
