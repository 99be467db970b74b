"""Operators run campaigns from here: every action is one service call reported with message_user."""

from __future__ import annotations

from functools import partial

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST

from campaigns import exports, jobs, preview, services
from campaigns.dashboard import campaign_dashboard_view
from campaigns.models import Campaign, Recipient
from campaigns.selectors import campaign_failures, campaign_stats, quota_today
from whatsapp.models import MessageTemplate

COUNTERS = ("total", "pending", "queued", "sent", "delivered", "read", "failed", "skipped", "unknown", "cancelled")


class SendTestForm(forms.Form):
    phone = forms.CharField(max_length=32, help_text="E.164, e.g. +14155550123. It counts against the daily limit.")


def _each(modeladmin, request, queryset, service, done: str, **kwargs) -> None:
    """Run a service per selected campaign, reporting each success or refusal.

    `done` says what was done and its result ("Activated: ..."), formatted
    with the service's `outcome` and the `campaign`; each success is written
    to the campaign's admin history. A refusal changed nothing, so it is
    reported to the operator but not recorded.
    """
    now = timezone.now()
    for campaign in queryset:
        try:
            outcome = service(campaign=campaign, now=now, **kwargs)
        except ValidationError as exc:
            modeladmin.message_user(request, f"{campaign}: {'; '.join(exc.messages)}", messages.ERROR)
        else:
            message = done.format(outcome=outcome, campaign=campaign)
            modeladmin.log_change(request, campaign, message)
            modeladmin.message_user(request, f"{campaign}: {message}", messages.SUCCESS)


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    change_form_template = "admin/campaigns/campaign/change_form.html"
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ("name", "status", "priority", "progress", "start_at", "estimated_completion_date", "pause_reason")
    list_filter = ("status",)
    search_fields = ("name",)
    readonly_fields = ("status", "pause_reason", "estimated_completion_date", *COUNTERS, "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "template", "header_parameters", "parameters", "header_media_url", "audience")}),
        ("Schedule", {"fields": ("priority", "start_at", "end_at", "daily_cap", "sender")}),
        ("State", {"fields": ("status", "pause_reason", "estimated_completion_date")}),
        ("Counters", {"classes": ("collapse",), "fields": COUNTERS}),
    )
    actions = (
        "activate",
        "pause",
        "resume",
        "cancel",
        "top_up",
        "retry_failed",
        "resend_unknown",
        "send_test",
        "clone",
    )

    @admin.display(description="progress")
    def progress(self, campaign: Campaign) -> str:
        percent = 100 * campaign.sent / campaign.total if campaign.total else 0
        return f"{campaign.sent} of {campaign.total} ({percent:.1f}%)"

    def has_activate_permission(self, request) -> bool:
        """Activating (and topping up) sends to real people: only "Campaign managers" may."""
        return request.user.has_perm("campaigns.activate_campaign")

    def has_export_permission(self, request) -> bool:
        """Exports carry phone numbers: viewers see the figures, not the phones."""
        return request.user.has_perm("campaigns.export_recipients")

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:object_id>/export/failures.csv", view(self.export_failures_view),
                 name="campaigns_campaign_export_failures"),
            path("<int:object_id>/export/recipients.csv", view(self.export_recipients_view),
                 name="campaigns_campaign_export_recipients"),
            path("<int:object_id>/clone/", view(self.clone_view), name="campaigns_campaign_clone"),
            path("<path:object_id>/dashboard/", view(partial(campaign_dashboard_view, model_admin=self)),
                 name="campaigns_campaign_dashboard"),
            path("<path:object_id>/job/<str:task_id>/", view(partial(jobs.campaign_job_view, model_admin=self)),
                 name="campaigns_campaign_job"),
            path("preview/", view(partial(preview.campaign_preview_view, model_admin=self)),
                 name="campaigns_campaign_preview"),
            *super().get_urls(),
        ]  # fmt: skip

    def export_failures_view(self, request, object_id):
        return exports.export_view(self, request, object_id, export=exports.FAILURES)

    def export_recipients_view(self, request, object_id):
        return exports.export_view(self, request, object_id, export=exports.RECIPIENTS)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "template":
            kwargs["queryset"] = MessageTemplate.objects.approved()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        campaign = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if campaign is not None:
            extra_context.update(
                stats=campaign_stats(campaign=campaign),
                quota=quota_today(now=timezone.now(), campaign=campaign),
                failures=campaign_failures(campaign=campaign),
                has_export_permission=self.has_export_permission(request),
                preview=preview.campaign_preview(campaign=campaign),
            )
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description="Activate (validate, then add the audience in the background)", permissions=["activate"])
    def activate(self, request, queryset):
        return jobs.start_jobs(self, request, queryset, start=jobs.campaign_activate_later, what="Activation")

    @admin.action(description="Pause", permissions=["change"])
    def pause(self, request, queryset):
        reason = f"Paused by {request.user} from the admin"
        _each(self, request, queryset, services.campaign_pause, "Paused", reason=reason)

    @admin.action(description="Resume", permissions=["change"])
    def resume(self, request, queryset):
        _each(self, request, queryset, services.campaign_resume, "Resumed: {campaign.status}")

    @admin.action(description="Cancel (pending recipients are cancelled)", permissions=["change"])
    def cancel(self, request, queryset):
        if request.POST.get("post") == "yes":
            _each(self, request, queryset, services.campaign_cancel, "Cancelled: {outcome:,} pending recipients")
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Cancel campaigns?",
            "campaigns": queryset,
            "queryset": queryset,
            "action": "cancel",
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/campaigns/campaign/cancel_confirmation.html", context)

    @admin.action(description="Top up (add new audience matches in the background)", permissions=["activate"])
    def top_up(self, request, queryset):
        return jobs.start_jobs(self, request, queryset, start=jobs.campaign_top_up_later, what="Top-up")

    @admin.action(description="Retry failed recipients", permissions=["change"])
    def retry_failed(self, request, queryset):
        _each(self, request, queryset, services.campaign_retry_failed, "Retried: {outcome:,} failed requeued")

    @admin.action(description="Resend unknown (they may already have the message)", permissions=["change"])
    def resend_unknown(self, request, queryset):
        _each(self, request, queryset, services.campaign_resend_unknown, "Resent: {outcome:,} unknown requeued")

    @admin.action(description="Send a test message to a phone", permissions=["change"])
    def send_test(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one campaign to test.", messages.WARNING)
            return None
        campaign = queryset.get()
        form = SendTestForm(request.POST if "phone" in request.POST else None)
        if form.is_valid():
            try:
                message_id = services.campaign_send_test(
                    campaign=campaign, phone=form.cleaned_data["phone"], now=timezone.now()
                )
            except ValidationError as exc:
                form.add_error("phone", exc.messages)
            else:
                self.log_change(request, campaign, f"Sent a test to {form.cleaned_data['phone']}: message {message_id}")
                self.message_user(request, f"Test message sent: {message_id}", messages.SUCCESS)
                return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"Send a test of {campaign}",
            "campaign": campaign,
            "form": form,
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/campaigns/campaign/send_test.html", context)

    @admin.action(description="Clone as a new draft", permissions=["add"])
    def clone(self, request, queryset):
        for campaign in queryset:
            self._clone(request, campaign)

    @method_decorator(require_POST)
    def clone_view(self, request, object_id):
        """The change page's "Clone" button: a new draft, then its change page."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        campaign = self.get_object(request, str(object_id))
        if campaign is None:
            raise Http404(f"No campaign {object_id}.")
        copy = self._clone(request, campaign)
        return redirect(reverse("admin:campaigns_campaign_change", args=[copy.pk]))

    def _clone(self, request, campaign: Campaign) -> Campaign:
        copy = services.campaign_clone(campaign=campaign, now=timezone.now())
        self.log_addition(request, copy, f"Cloned from {campaign} (#{campaign.pk})")
        self.message_user(request, f"{campaign}: cloned as the draft {copy}.", messages.SUCCESS)
        return copy


@admin.register(Recipient)
class RecipientAdmin(admin.ModelAdmin):
    list_display = ("phone", "campaign", "status", "position", "attempts", "estimated_send_date", "error_code")
    list_filter = ("status", "campaign", "error_code")
    search_fields = ("=phone",)
    raw_id_fields = ("campaign", "contact")
    list_select_related = ("campaign",)
    show_full_result_count = False
    ordering = ("campaign", "position")
    readonly_fields = [f.name for f in Recipient._meta.fields if f.name != "id"]

    def has_add_permission(self, request):
        return False
