"""Public views of the campaigns app: the tracked link's redirect (docs/architecture.md, "Engagement").

No login and no session: whoever has the link may follow it. A token that is
not one of ours (guessed, altered, truncated) is a 404 decided without a
query, and records nothing.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.views.decorators.http import require_safe

from campaigns.links import REDIRECT_HEADERS, link_tap


@require_safe
def link_redirect(request: HttpRequest, token: str) -> HttpResponseRedirect:
    """302 to the campaign's destination; a person's tap (not a link preview, a bot or a HEAD) counts as a click.

    Taps are answered ahead of Django by `campaigns.link_wsgi` in production; this view answers what that path
    hands on (and every request in the tests' client): both call `link_tap`.
    """
    destination = link_tap(token=token, method=request.method, user_agent=request.META.get("HTTP_USER_AGENT", ""))
    if destination is None:
        raise Http404("unknown link")
    response = HttpResponseRedirect(destination)
    for header, value in REDIRECT_HEADERS:
        response[header] = value
    return response
