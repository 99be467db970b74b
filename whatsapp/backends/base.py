"""The one interface every WhatsApp backend implements (anymail `backends/base.py`)."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class SendResult:
    message_id: str  # the wamid
    message_status: str | None  # "accepted", "held_for_quality_assessment", ... or None


class BaseBackend(ABC):
    """Send templates and list the account's templates.

    Implementations are shared by all threads of a process (see `get_backend()`)
    and must be safe to call concurrently. Failures raise `WhatsAppError`; a
    request that went out without an answer raises it with kind UNKNOWN_OUTCOME.
    `sender` is the phone number id to send from (None: the configured one).
    """

    @abstractmethod
    def send_template(
        self,
        to: str,
        template_name: str,
        language: str,
        components: list[dict],
        tracker: str | None = None,
        *,
        sender: str | None = None,
    ) -> SendResult:
        """Send one template message; the answer's message id and status, or WhatsAppError."""

    async def asend_template(
        self,
        to: str,
        template_name: str,
        language: str,
        components: list[dict],
        tracker: str | None = None,
        *,
        sender: str | None = None,
    ) -> SendResult:
        """send_template for the asynchronous sender; backends with an asynchronous client override it."""
        return await asyncio.to_thread(
            self.send_template, to, template_name, language, components, tracker, sender=sender
        )

    @abstractmethod
    def list_templates(self) -> list[dict]:
        """Every template of the business account, as the Graph API returns them (all pages)."""

    def phone_number_info(self, phone_number_id: str, fields: str) -> dict | None:
        """`GET /<PHONE_NUMBER_ID>?fields=...` as the Graph API answers it; None: this backend cannot ask Meta.

        The messaging limit's sync (whatsapp/tiers.py) reads
        `whatsapp_business_manager_messaging_limit` and `quality_rating` with it.
        """
        return None

    def close(self) -> None:  # noqa: B027 (optional hook: most backends hold nothing to release)
        """Release pooled resources (connections). Safe to call more than once."""


def template_payload(
    to: str, template_name: str, language: str, components: list[dict], tracker: str | None = None
) -> dict:
    """The Cloud API's documented template message body."""
    payload = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to.removeprefix("+"),
        "type": "template",
        "template": {"name": template_name, "language": {"code": language}, "components": list(components or [])},
    }
    if tracker:
        payload["biz_opaque_callback_data"] = tracker
    return payload
