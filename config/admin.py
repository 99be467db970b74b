"""The admin site: its index opens on Today (campaigns/today.py), with a "Send batch now" button."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy
from django_celery_beat.models import PeriodicTask

from campaigns.tasks import SEND_BATCH_TASK, send_batch_task
from campaigns.today import today_overview

SEND_BATCH_PERMISSION = "campaigns.activate_campaign"


class CampaignManagerSite(admin.AdminSite):
    site_header = gettext_lazy("WhatsApp campaigns")
    site_title = gettext_lazy("WhatsApp campaigns")
    # No public site behind the admin: no "View site" link (the site's root redirects here).
    site_url = None

    def index(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        extra_context = dict(extra_context or {})
        user = request.user
        # Django's own rule for seeing a model: view or change permission.
        if user.has_perm("campaigns.view_campaign") or user.has_perm("campaigns.change_campaign"):
            extra_context.update(
                today=today_overview(now=timezone.now()), can_send_batch=user.has_perm(SEND_BATCH_PERMISSION)
            )
        return super().index(request, extra_context)

    def get_urls(self):
        return [
            path("send-batch-now/", self.admin_view(self.send_batch_now), name="send_batch_now"),
            *super().get_urls(),
        ]

    def send_batch_now(self, request: HttpRequest) -> HttpResponse:
        """Queue the send batch (after activating, rather than waiting for beat); a POST by a campaign manager."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(SEND_BATCH_PERMISSION):
            raise PermissionDenied
        send_batch_task.delay_on_commit()
        _log_send_batch(request)
        messages.success(
            request,
            gettext(
                "Send batch queued: a worker sends each running campaign's share of what is left of the limit. "
                "Refresh Today in a moment to see it."
            ),
        )
        return HttpResponseRedirect(reverse("admin:index", current_app=self.name))


def _log_send_batch(request: HttpRequest) -> None:
    """The admin history: on the periodic task that runs the batch (its history shows who ran it by hand)."""
    change_message = "Ran the send batch now from Today."
    tasks = PeriodicTask.objects.filter(task=SEND_BATCH_TASK).order_by("-enabled", "pk")[:1]
    if tasks:
        LogEntry.objects.log_actions(request.user.pk, tasks, CHANGE, change_message, single_object=True)
    else:
        LogEntry.objects.create(
            user_id=request.user.pk, action_flag=CHANGE, object_repr=SEND_BATCH_TASK, change_message=change_message
        )
