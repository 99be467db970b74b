"""What the tracked link's fast paths decide about a request before and after the tap (docs/architecture.md,
"Engagement"): which requests they answer themselves and the headers of their redirect.

The WSGI path (`campaigns.link_wsgi`, the product's web server) and the ASGI
link server (`campaigns.link_asgi`) answer a request themselves only when it is
a plain tap: a GET or HEAD of /r/<token> with a token's shape, an allowed Host,
over https where SECURE_SSL_REDIRECT asks for it, and a valid HMAC (`plain_tap`). Anything else
goes to Django, which answers it as it always has: 405 for another method, 400
for a disallowed host, 301 to https. Their 302 carries the view's headers
(`links.REDIRECT_HEADERS`) and those Django's SecurityMiddleware and
XFrameOptionsMiddleware would add (`redirect_headers`);
tests/campaigns/test_link_servers.py compares them with the view's.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.encoding import iri_to_uri

from campaigns.links import REDIRECT_HEADERS, token_recipient_id

PREFIX = "/r/"
_TOKEN = re.compile(r"[0-9A-Za-z_-]{1,64}")  # the shape of a token; links.token_recipient_id decides the rest
_SAFE = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class Tap:
    """A request the fast path answers itself: the token's recipient, and whether it came over https."""

    recipient_id: int
    secure: bool


def plain_tap(*, method: str, path: str, get, scheme: str, server: str) -> Tap | None:
    """The tap a request is, when the fast path answers it itself, or None: Django answers it.

    `get(name)` returns a header by its WSGI name (HTTP_HOST) or ''; it is called only for a GET or HEAD of
    /r/<token>, so other requests cost the fast path one comparison. `scheme` and `server` (name:port) are the
    connection's. The token's HMAC is checked last, without a query.
    """
    if method not in _SAFE or not path.startswith(PREFIX):
        return None
    token = path[len(PREFIX) :]
    if not _TOKEN.fullmatch(token):
        return None
    secure = request_secure(get, scheme=scheme)
    if (settings.SECURE_SSL_REDIRECT and not secure) or not host_allowed(request_host(get, server=server)):
        return None
    recipient_id = token_recipient_id(token)
    return None if recipient_id is None else Tap(recipient_id, secure)


def host_allowed(host: str) -> bool:
    """Django's ALLOWED_HOSTS check (HttpRequest.get_host), for the Host (or X-Forwarded-Host) given."""
    domain, _port = split_domain_port(host)
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return bool(domain) and validate_host(domain, allowed)


def request_host(get, *, server: str) -> str:
    """The request's host as Django reads it (HttpRequest._get_raw_host); `get(name)` returns a header by its WSGI
    name (HTTP_HOST) or '', `server` is the server's name and port, for a request without a Host."""
    if settings.USE_X_FORWARDED_HOST and get("HTTP_X_FORWARDED_HOST"):
        return get("HTTP_X_FORWARDED_HOST")
    return get("HTTP_HOST") or server


def request_secure(get, *, scheme: str) -> bool:
    """Whether the request came over https as Django decides it (SECURE_PROXY_SSL_HEADER, then the scheme)."""
    header, value = settings.SECURE_PROXY_SSL_HEADER or (None, None)
    if header and get(header):
        return get(header).split(",", 1)[0].strip() == value
    return scheme == "https"


def security_headers(*, secure: bool) -> list[tuple[str, str]]:
    """The headers Django's SecurityMiddleware and XFrameOptionsMiddleware add to a redirect, from the settings."""
    headers = []
    if secure and settings.SECURE_HSTS_SECONDS:
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            hsts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            hsts += "; preload"
        headers.append(("Strict-Transport-Security", hsts))
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append(("X-Content-Type-Options", "nosniff"))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers.append(("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
    headers.append(("X-Frame-Options", getattr(settings, "X_FRAME_OPTIONS", "DENY").upper()))
    return headers


def redirect_location(destination: str) -> str | None:
    """The Location of a recorded tap's redirect, or None where Django's redirect would refuse it (logged as
    Django logs it; the fast path answers 400 without handing the tap to Django, which would record it again)."""
    location = iri_to_uri(destination)
    if location.startswith(("https://", "http://")) and location.isascii() and location.isprintable():
        return location
    logging.getLogger("django.security.DisallowedRedirect").warning("Unsafe redirect to URL: %s", location)
    return None


def redirect_headers(location: str, *, secure: bool) -> list[tuple[str, str]]:
    """The 302's headers: those of the view's response."""
    return [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Location", location),
        *REDIRECT_HEADERS,
        *security_headers(secure=secure),
        ("Content-Length", "0"),
    ]
