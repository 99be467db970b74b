"""The admin site: its index opens on Today (campaigns/today.py)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from campaigns.today import today_overview


class CampaignManagerSite(admin.AdminSite):
    site_header = "WhatsApp campaigns"
    site_title = "WhatsApp campaigns"

    def index(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        extra_context = dict(extra_context or {})
        user = request.user
        # Django's own rule for seeing a model: view or change permission.
        if user.has_perm("campaigns.view_campaign") or user.has_perm("campaigns.change_campaign"):
            extra_context["today"] = today_overview(now=timezone.now())
        return super().index(request, extra_context)
