"""Log formatting: one line per event on stdout, never a secret.

Two kinds of secret reach log lines: the values of the secret settings (in
any message), and secrets a client puts in a URL: Meta's webhook subscription
check sends the verify token in the query string
(GET /whatsapp/webhook/?hub.verify_token=...), and request lines are logged by
runserver (`django.server`) and gunicorn's access log (config/gunicorn.py).
Both are replaced by [redacted], whatever the value: a wrong or old token is
somebody's secret too.
"""

import logging
import re

from django.conf import settings

SECRET_SETTINGS = ("SECRET_KEY", "WHATSAPP_ACCESS_TOKEN", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN")
REDACTED = "[redacted]"
# Query parameters whose value is a secret; also matched percent-encoded ("hub%2Everify_token").
SECRET_QUERY_PARAMETER = re.compile(r"((?:hub(?:\.|%2e)verify_token|access_token)=)[^&\s\"'#]*", re.IGNORECASE)


def redact_query(text: str) -> str:
    """`text` with the value of every secret query parameter replaced by [redacted]."""
    return SECRET_QUERY_PARAMETER.sub(rf"\g<1>{REDACTED}", text)


class RedactSecretsFilter(logging.Filter):
    """Replace secret query values and the value of every secret setting in a record with [redacted]."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = [value for name in SECRET_SETTINGS if len(value := str(getattr(settings, name, "") or "")) >= 4]
        message = record.getMessage()
        redacted = redact_query(message)
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
