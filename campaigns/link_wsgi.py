"""The tracked link's redirect ahead of Django's request handling, on the product's WSGI server
(docs/architecture.md, "Engagement").

Through Django a tap costs a request object, nine middlewares, the URL
resolver and a response object around its one statement: about half its time.
`LinkRedirectMiddleware` wraps the WSGI application (config/wsgi.py): a plain
tap (`link_http.plain_tap`) is answered by the view's own function
(`links.recipient_tap`) with the view's headers (`link_http.redirect_headers`);
every other request, and a tap whose token is refused or whose recipient is
gone (Django's 404, logged), goes to Django unchanged.

Like Django's handler on request_started and request_finished, it calls
close_old_connections before and after each tap, so the database connection is
reused and closed by the same rules (CONN_MAX_AGE, an error since the last
request); the signals' other receivers (the query log, the caches) have
nothing to do for a tap. An error is logged on django.request and answered
500; it is not handed to Django, which would run the tap again.

For a campaign's crowd of taps, the ASGI link server (`campaigns.link_asgi`)
records them in batches and answers several times as many per second.
"""

from __future__ import annotations

import logging

from django.db import close_old_connections

from campaigns.link_http import plain_tap, redirect_headers, redirect_location
from campaigns.links import recipient_tap

logger = logging.getLogger("django.request")


class LinkRedirectMiddleware:
    """A WSGI middleware: taps of /r/<token> answered by `links.recipient_tap`, every other request by `app`."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        get = lambda name: environ.get(name, "")  # noqa: E731
        method = get("REQUEST_METHOD")
        tap = plain_tap(method=method, path=get("PATH_INFO"), get=get, scheme=environ.get("wsgi.url_scheme", "http"),
                        server=f"{get('SERVER_NAME')}:{get('SERVER_PORT')}")  # fmt: skip
        if tap is None:
            return self.app(environ, start_response)
        close_old_connections()
        try:
            destination = recipient_tap(recipient_id=tap.recipient_id, method=method, user_agent=get("HTTP_USER_AGENT"))
        except Exception:
            logger.exception("Internal Server Error: %s", environ.get("PATH_INFO"), extra={"status_code": 500})
            return _answer(start_response, "500 Internal Server Error", b"Server Error (500)")
        if destination is None:
            # Nothing was recorded (a well-signed id with no row, or its campaign has no destination): Django
            # answers, as the view would (404).
            close_old_connections()
            return self.app(environ, start_response)
        location = redirect_location(destination)
        if location is None:
            return _answer(start_response, "400 Bad Request", b"Bad Request (400)")
        start_response("302 Found", redirect_headers(location, secure=tap.secure))
        return _Finished([])


def _answer(start_response, status: str, body: bytes):
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return _Finished([body])


class _Finished(list):
    """The response body; the server's close() ends the request, as Django's response does."""

    def close(self) -> None:
        close_old_connections()
