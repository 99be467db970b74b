"""The campaign dashboard page (admin): one selector call, three server-side SVG charts, one template.

Wired in CampaignAdmin.get_urls as `admin:campaigns_campaign_dashboard`
(`<id>/dashboard/`) behind admin_site.admin_view; anyone who may view the
campaign may see it.
"""

from __future__ import annotations

from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from campaigns import actions, charts
from campaigns.models import Campaign
from campaigns.selectors import CampaignDashboard, campaign_dashboard

LIVE = (Campaign.Status.RUNNING, Campaign.Status.SCHEDULED)

# Admin theme variables first (light and dark), the default theme's value as the fallback.
COLORS = {
    "planned": "var(--body-quiet-color, #666)",
    "total": "var(--body-quiet-color, #666)",
    "sent": "var(--secondary, #417690)",
    "delivered": "var(--primary, #79aec8)",
    "read": "var(--dash-read, #5b9f47)",
    "failed": "var(--error-fg, #ba2121)",
    "clickers": "var(--dash-clicked, #b7791f)",
    "replied": "var(--dash-replied, #805ad5)",
    "converted": "var(--dash-converted, #2f855a)",
}


def dashboard_charts(dashboard: CampaignDashboard) -> dict[str, SafeString]:
    """The three charts of the page, drawn from the selector's figures."""
    activity = dashboard.activity
    daily = charts.bar_chart(
        chart_id="chart-daily",
        label=_("Sent, delivered, read and failed per day"),
        days=[d.day for d in activity],
        series=[
            charts.Series(key, label, [getattr(d, key) for d in activity], COLORS[key])
            for key, label in (
                ("sent", _("Sent")),
                ("delivered", _("Delivered")),
                ("read", _("Read")),
                ("failed", _("Failed")),
            )
        ],
    )
    progress = dashboard.progress
    today = dashboard.today
    line = charts.line_chart(
        chart_id="chart-progress",
        label=_("Cumulative sent against the plan"),
        days=[p.day for p in progress],
        series=[
            charts.Series("planned", _("Planned (cumulative)"), [p.planned for p in progress], COLORS["planned"]),
            charts.Series("sent", _("Sent (cumulative)"), [p.sent for p in progress], COLORS["sent"]),
        ],
        marker=(today, _("today")),
    )
    funnel = charts.funnel_chart(
        chart_id="chart-funnel",
        label=_("Recipients, sent, delivered, read"),
        steps=[charts.Step(s.key, s.label, s.count, COLORS[s.key]) for s in dashboard.funnel],
    )
    return {"daily": daily, "progress": line, "funnel": funnel}


def campaign_dashboard_view(request, object_id: str, *, model_admin) -> TemplateResponse:
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    opts = model_admin.model._meta
    campaign = model_admin.get_object(request, unquote(object_id))
    if campaign is None:
        return model_admin._get_obj_does_not_exist_redirect(request, opts, object_id)
    if not model_admin.has_view_permission(request, campaign):
        raise PermissionDenied
    dashboard = campaign_dashboard(campaign=campaign, now=timezone.now())
    context = {
        **model_admin.admin_site.each_context(request),
        "title": _("Dashboard: %(campaign)s") % {"campaign": campaign},
        "subtitle": None,
        "opts": opts,
        "original": campaign,
        "has_view_permission": True,
        "dashboard": dashboard,
        "stats": dashboard.stats,
        "charts": dashboard_charts(dashboard),
        # Polled by refresh.js while the campaign can still change by itself.
        "live": dashboard.stats["status"] in LIVE or dashboard.stats["queued"] > 0,
        "lifecycle": actions.buttons(model_admin=model_admin, request=request, campaign=campaign),
        "show_estimate": dashboard.stats["status"] not in (Campaign.Status.COMPLETED, Campaign.Status.CANCELLED),
    }
    return TemplateResponse(request, "admin/campaigns/campaign/dashboard.html", context)
