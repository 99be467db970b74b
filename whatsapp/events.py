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
class Pricing:
    """A status's `pricing` (per-message pricing, on one of delivered/read): what WhatsApp charges for the message.

    `type` is "regular" (billable), "free_customer_service" or
    "free_entry_point"; `category` is Meta's pricing category (marketing,
    utility, authentication, authentication_international, service, ...);
    `pricing_model` "PMP" (per message; "CBP" before July 2025); `billable`
    is deprecated by Meta (None when absent): `type` decides.
    """

    category: str
    type: str
    pricing_model: str = ""
    billable: bool | None = None

    @property
    def is_billable(self) -> bool:
        return self.type == "regular"

    @classmethod
    def from_raw(cls, raw) -> Pricing | None:
        """None when absent or without a category; a missing type is read from the deprecated `billable`."""
        if not isinstance(raw, dict) or not raw.get("category"):
            return None
        billable = raw.get("billable") if isinstance(raw.get("billable"), bool) else None
        kind = str(raw.get("type") or "").lower()
        if not kind and billable is not None:
            kind = "regular" if billable else "free"  # a body from before per-message pricing
        return cls(
            category=str(raw["category"]).lower()[:40],
            type=kind[:40],
            pricing_model=str(raw.get("pricing_model") or "")[:20],
            billable=billable,
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
    pricing: Pricing | None = None
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
