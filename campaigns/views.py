"""Public views of the campaigns app: the tracked link's redirect (docs/architecture.md, "Engagement").

No login and no session: whoever has the link may follow it. A token that is
not one of ours (guessed, altered, truncated) is a 404 decided without a
query, and records nothing.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.utils import timezone
from django.views.decorators.http import require_safe

from campaigns.links import click_record, is_bot


@require_safe
def link_redirect(request: HttpRequest, token: str) -> HttpResponseRedirect:
    """302 to the campaign's destination; a person's tap (not a link preview, a bot or a HEAD) counts as a click."""
    counted = not is_bot(method=request.method, user_agent=request.META.get("HTTP_USER_AGENT", ""))
    result = click_record(token=token, at=timezone.now(), counted=counted)
    if result is None or not result.destination:
        raise Http404("unknown link")
    response = HttpResponseRedirect(result.destination)
    # Every tap must reach us again (a cached redirect is a click we never see), and the token stays out of
    # the destination's Referer.
    response["Cache-Control"] = "no-store, private"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response
