"""gunicorn's settings (Dockerfile, docker-compose.yml): `gunicorn -c python:config.gunicorn config.wsgi:application`.

The access log writes every request line, query string included, and Meta's
webhook subscription check puts the verify token there
(GET /whatsapp/webhook/?hub.verify_token=...): RedactingLogger replaces secret
query values with [redacted] in every access-log field and error-log line
(config/logging.py says which). Command-line options override these.
"""

import logging

from gunicorn.glogging import Logger

from config.logging import redact_query

bind = "0.0.0.0:8000"
workers = 3
accesslog = "-"
logger_class = "config.gunicorn.RedactingLogger"


class _RedactQuery(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_query(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class RedactingLogger(Logger):
    """gunicorn's logger, with secret query values redacted from the access log and the error log."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        if not any(isinstance(f, _RedactQuery) for f in self.error_log.filters):
            self.error_log.addFilter(_RedactQuery())

    def atoms(self, resp, req, environ, request_time) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: redact_query(value) if isinstance(value, str) else value for key, value in atoms.items()}
