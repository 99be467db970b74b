"""Log formatting: one line per event on stdout, never a secret."""

import logging

from django.conf import settings

SECRET_SETTINGS = ("SECRET_KEY", "WHATSAPP_ACCESS_TOKEN", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN")
REDACTED = "[redacted]"


class RedactSecretsFilter(logging.Filter):
    """Replace the value of every secret setting in a record with [redacted]."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = [value for name in SECRET_SETTINGS if len(value := str(getattr(settings, name, "") or "")) >= 4]
        if secrets:
            message = record.getMessage()
            redacted = message
            for secret in secrets:
                redacted = redacted.replace(secret, REDACTED)
            if redacted != message:
                record.msg, record.args = redacted, None
        return True


class OneLineFormatter(logging.Formatter):
    """Fold multi-line messages and tracebacks into one line per event."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\r", "").replace("\n", " \\n ")


class ClientErrorWithoutTraceback(logging.Filter):
    """A 4xx that Django logs (a 403: "Forbidden (Permission denied)") is one line without its traceback.

    A viewer opening a page they may not see is not a server error: the
    traceback says nothing an operator needs, and who asked for what does.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if status is not None and status < 500 and record.exc_info:
            record.exc_info = record.exc_text = None
            user = getattr(getattr(record, "request", None), "user", None)
            if user is not None and user.is_authenticated:
                record.msg, record.args = f"{record.getMessage()} (user {user.get_username()})", None
        return True
