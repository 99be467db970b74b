"""An in-memory backend for tests (anymail's `test` backend): an outbox and scriptable errors."""

from __future__ import annotations

import itertools
import threading
from collections import deque

from whatsapp.backends.base import BaseBackend, SendResult
from whatsapp.errors import WhatsAppError


def _key(phone: str) -> str:
    return phone.removeprefix("+")


class LocmemBackend(BaseBackend):
    """Records every send in the class-level `outbox`; thread-safe.

    Script failures with `script_errors({phone: WhatsAppError})` (every send to
    that phone raises it until `reset()`) or `queue_errors(error, None, ...)`
    (the next sends, in order, raise the queued error; `None` lets one through).
    `templates` is what `list_templates()` returns.
    """

    outbox: list[dict] = []
    templates: list[dict] = []
    phone_numbers: dict[str, dict] = {}  # phone number id -> what phone_number_info() answers
    _errors_by_phone: dict[str, WhatsAppError] = {}
    _error_queue: deque[WhatsAppError | None] = deque()
    _lock = threading.Lock()
    _ids = itertools.count(1)

    @classmethod
    def reset(cls) -> None:
        with cls._lock:
            cls.outbox.clear()
            cls.templates.clear()
            cls.phone_numbers.clear()
            cls._errors_by_phone.clear()
            cls._error_queue.clear()

    @classmethod
    def script_errors(cls, errors: dict[str, WhatsAppError]) -> None:
        with cls._lock:
            cls._errors_by_phone.update({_key(phone): error for phone, error in errors.items()})

    @classmethod
    def queue_errors(cls, *errors: WhatsAppError | None) -> None:
        with cls._lock:
            cls._error_queue.extend(errors)

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
        with self._lock:
            error = self._errors_by_phone.get(_key(to))
            if error is None and self._error_queue:
                error = self._error_queue.popleft()
            if error is not None:
                raise error
            message_id = f"wamid.locmem.{next(self._ids):012d}"
            self.outbox.append(
                {
                    "to": to,
                    "template_name": template_name,
                    "language": language,
                    "components": components,
                    "tracker": tracker,
                    "message_id": message_id,
                    **({"sender": sender} if sender else {}),
                }
            )
        return SendResult(message_id=message_id, message_status="accepted")

    def list_templates(self) -> list[dict]:
        with self._lock:
            return [dict(template) for template in self.templates]

    def phone_number_info(self, phone_number_id: str, fields: str) -> dict | None:
        with self._lock:
            info = self.phone_numbers.get(phone_number_id)
            return {"id": phone_number_id, **info} if info is not None else None
