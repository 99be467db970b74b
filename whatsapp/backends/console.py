"""Logs what it would send, one line per message, and returns a fake wamid (local development)."""

from __future__ import annotations

import json
import logging
import secrets

from whatsapp.backends.base import BaseBackend, SendResult

logger = logging.getLogger(__name__)


class ConsoleBackend(BaseBackend):
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
        message_id = "wamid.console." + secrets.token_urlsafe(18)
        logger.info(
            "whatsapp console send to=%s template=%s language=%s tracker=%s components=%s message_id=%s",
            to,
            template_name,
            language,
            tracker,
            json.dumps(components, separators=(",", ":"), ensure_ascii=False),
            message_id,
        )
        return SendResult(message_id=message_id, message_status="accepted")

    def list_templates(self) -> list[dict]:
        return []
