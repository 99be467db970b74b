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


# --- Platform events: the account, its templates and its numbers (docs/architecture.md, "Platform events") ---
# Field names as Meta's webhook references give them (developers.facebook.com/documentation/business-messaging/
# whatsapp/webhooks/reference/<field>). Every value is kept as sent (upper-cased, cut to a sane length): an
# unknown one is data, never a reason to refuse the body.


@dataclass(frozen=True)
class TemplateStatusEvent:
    """`message_template_status_update`: a template approved, paused, disabled, rejected, flagged, reinstated ...

    `title` is `other_info.title` (FIRST_PAUSE, SECOND_PAUSE, UNPAUSE, ...),
    `description` its `other_info.description`: Meta's own words.
    """

    event: str
    template_id: str
    template_name: str
    template_language: str
    reason: str = ""
    category: str = ""
    title: str = ""
    description: str = ""
    disable_date: str = ""
    timestamp: datetime | None = None
    raw: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    event_type = "template_status"

    @property
    def words(self) -> str:
        """Meta's words, for the operator: the reason and the other_info, as sent."""
        parts = [self.event]
        if self.reason and self.reason.upper() != "NONE":
            parts.append(f"reason {self.reason}")
        if self.title:
            parts.append(self.title)
        if self.description:
            parts.append(self.description)
        return " - ".join(parts)


@dataclass(frozen=True)
class TemplateQualityEvent:
    """`message_template_quality_update`: previous_quality_score -> new_quality_score (GREEN, YELLOW, RED, UNKNOWN)."""

    template_id: str
    template_name: str
    template_language: str
    previous: str
    new: str
    timestamp: datetime | None = None
    raw: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    event_type = "template_quality"


@dataclass(frozen=True)
class TemplateCategoryEvent:
    """`template_category_update`: previous_category -> new_category (done), or correct_category (announced)."""

    template_id: str
    template_name: str
    template_language: str
    previous: str
    new: str
    correct: str = ""  # an impending change: the category it will get (category_update_timestamp says when)
    timestamp: datetime | None = None
    raw: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    event_type = "template_category"


@dataclass(frozen=True)
class Restriction:
    """One of `restriction_info[]`: a restriction_type and when it expires (None: not given or unreadable)."""

    type: str
    expiration: datetime | None


@dataclass(frozen=True)
class AccountEvent:
    """`account_update`: ACCOUNT_RESTRICTION, ACCOUNT_VIOLATION, DISABLED_UPDATE, ... with Meta's details."""

    event: str
    restrictions: tuple[Restriction, ...] = ()
    violation_type: str = ""  # violation_info.violation_type
    ban_state: str = ""  # ban_info.waba_ban_state (DISABLE, REINSTATE, SCHEDULE_FOR_DISABLE)
    ban_date: str = ""
    account_id: str = ""  # the entry's id: the WhatsApp Business Account
    timestamp: datetime | None = None
    raw: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    event_type = "account"

    @property
    def words(self) -> str:
        parts = [self.event]
        parts += [
            f"{r.type} until {r.expiration:%Y-%m-%d %H:%M} UTC" if r.expiration else r.type for r in self.restrictions
        ]
        if self.violation_type:
            parts.append(f"violation {self.violation_type}")
        if self.ban_state:
            parts.append(f"ban state {self.ban_state}" + (f" ({self.ban_date})" if self.ban_date else ""))
        return " - ".join(parts)


@dataclass(frozen=True)
class LimitEvent:
    """The messaging limit announced by `business_capability_update` or `phone_number_quality_update`.

    `tier` is a TIER_* name (whatsapp/tiers.py) or "" when none could be
    read; `raw_limit` is what came. `event` is phone_number_quality_update's
    event (UPGRADE, DOWNGRADE, FLAGGED, UNFLAGGED, ONBOARDING, THROUGHPUT_UPGRADE);
    "" for business_capability_update. `display_phone_number` says which
    number it concerns (phone_number_quality_update only).
    """

    field_name: str
    tier: str
    raw_limit: str = ""
    event: str = ""
    old_tier: str = ""
    display_phone_number: str = ""
    account_id: str = ""
    timestamp: datetime | None = None
    raw: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    event_type = "limit"


PlatformEvent = TemplateStatusEvent | TemplateQualityEvent | TemplateCategoryEvent | AccountEvent | LimitEvent
