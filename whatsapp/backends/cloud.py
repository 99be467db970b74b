"""The Meta WhatsApp Cloud API over `requests` (anymail `base_requests.py`).

One pooled `Session` per process, explicit connect/read timeouts, no retries
inside the client: whether and when to retry is the caller's decision, made
from `WhatsAppError.kind`. The access token goes only into the Authorization
header; it is never logged nor put in an exception.
"""

from __future__ import annotations

import logging
import os
import threading
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError

from whatsapp.backends.base import BaseBackend, SendResult, template_payload
from whatsapp.errors import ErrorKind, WhatsAppError

logger = logging.getLogger(__name__)

TEMPLATE_FIELDS = "name,language,category,status,components,quality_score,id"
MAX_TEMPLATE_PAGES = 1000


class CloudAPIBackend(BaseBackend):
    def __init__(self):
        self.base_url = settings.WHATSAPP_API_BASE_URL.rstrip("/")
        self.version = settings.WHATSAPP_API_VERSION
        self.phone_number_id = settings.WHATSAPP_PHONE_NUMBER_ID
        self.business_account_id = settings.WHATSAPP_BUSINESS_ACCOUNT_ID
        self.timeout = (settings.WHATSAPP_CONNECT_TIMEOUT, settings.WHATSAPP_READ_TIMEOUT)
        self.pool_size = max(int(settings.WHATSAPP_SEND_THREADS), 10)
        self._token = settings.WHATSAPP_ACCESS_TOKEN
        self._lock = threading.Lock()
        self._session: requests.Session | None = None
        self._session_pid: int | None = None

    # --- the pooled session ------------------------------------------------
    @property
    def session(self) -> requests.Session:
        """One Session per process: a forked worker must not share its parent's sockets."""
        pid = os.getpid()
        session = self._session
        if session is not None and self._session_pid == pid:
            return session
        with self._lock:
            if self._session is None or self._session_pid != pid:
                session = requests.Session()
                # max_retries=0: urllib3 never retries; a POST that may have gone out is never re-sent here.
                adapter = HTTPAdapter(pool_connections=4, pool_maxsize=self.pool_size, max_retries=0)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                session.headers.update({"Authorization": f"Bearer {self._token}"})
                self._session, self._session_pid = session, pid
            return self._session

    def close(self) -> None:
        with self._lock:
            if self._session is not None and self._session_pid == os.getpid():
                self._session.close()
            self._session = None

    # --- the API -----------------------------------------------------------
    def send_template(
        self, to: str, template_name: str, language: str, components: list[dict], tracker: str | None = None
    ) -> SendResult:
        url = f"{self.base_url}/{self.version}/{self.phone_number_id}/messages"
        body = self._request("POST", url, json=template_payload(to, template_name, language, components, tracker))
        try:
            message = body["messages"][0]
            return SendResult(message_id=str(message["id"]), message_status=message.get("message_status"))
        except (KeyError, IndexError, TypeError) as exc:
            # Accepted (2xx) but unreadable: the message may well have gone out.
            raise WhatsAppError(
                "2xx answer without a message id", kind=ErrorKind.UNKNOWN_OUTCOME, title="Unreadable answer"
            ) from exc

    def list_templates(self) -> list[dict]:
        url = f"{self.base_url}/{self.version}/{self.business_account_id}/message_templates"
        params: dict | None = {"fields": TEMPLATE_FIELDS, "limit": 100}
        templates: list[dict] = []
        for _page in range(MAX_TEMPLATE_PAGES):
            body = self._request("GET", url, params=params)
            templates.extend(body.get("data") or [])
            next_url = (body.get("paging") or {}).get("next")
            if not next_url:
                return templates
            self._check_same_origin(next_url)
            url, params = next_url, None
        raise WhatsAppError(f"more than {MAX_TEMPLATE_PAGES} pages of templates", kind=ErrorKind.PERMANENT)

    # --- plumbing ------------------------------------------------------------
    def _check_same_origin(self, url: str) -> None:
        # paging.next is an absolute URL: never send our bearer token to another host.
        ours, theirs = urlsplit(self.base_url), urlsplit(url)
        if (ours.scheme, ours.netloc) != (theirs.scheme, theirs.netloc):
            raise WhatsAppError(f"paging.next points to another host ({theirs.netloc})", kind=ErrorKind.STOP_CAMPAIGN)

    def _request(self, method: str, url: str, **kwargs) -> dict:
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.exceptions.ConnectTimeout as exc:
            raise WhatsAppError(f"connect timeout: {exc}", title="Connect timeout", kind=ErrorKind.TRANSIENT) from exc
        except requests.exceptions.ReadTimeout as exc:
            raise WhatsAppError(
                "no answer within the read timeout; the request was sent and may have been accepted",
                title="Read timeout",
                kind=ErrorKind.UNKNOWN_OUTCOME,
            ) from exc
        except requests.exceptions.ConnectionError as exc:
            # MaxRetryError wraps failures to connect (refused, DNS): nothing was sent.
            # Anything else (reset, aborted) happened after the request went out.
            before_sending = bool(exc.args) and isinstance(exc.args[0], MaxRetryError)
            cause = type(exc.args[0]).__name__ if exc.args else type(exc).__name__
            raise WhatsAppError(
                f"connection {'failed before sending' if before_sending else 'lost after sending'}: {cause}",
                title="Connection error",
                kind=ErrorKind.TRANSIENT if before_sending else ErrorKind.UNKNOWN_OUTCOME,
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise WhatsAppError(f"request failed: {type(exc).__name__}", kind=ErrorKind.TRANSIENT) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if 200 <= response.status_code < 300 and isinstance(body, dict):
            return body
        if 200 <= response.status_code < 300:
            raise WhatsAppError(
                "2xx answer that is not JSON", kind=ErrorKind.UNKNOWN_OUTCOME, http_status=response.status_code
            )
        error = WhatsAppError.from_response_body(body, response.status_code)
        logger.info("whatsapp %s %s -> HTTP %s %s", method, urlsplit(url).path, response.status_code, error.reason)
        raise error
