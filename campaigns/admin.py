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
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from audiences.admin_phones import MaskedPhonesMixin
from audiences.phones import InvalidPhoneNumber, mask_phones_in_text, normalize_phone
from campaigns import actions, exports, jobs, preview, services
from campaigns.dashboard import campaign_dashboard_view
from campaigns.forms import CampaignForm
from campaigns.models import Campaign, Conversion, MarketCode, Rate, RateCard, Recipient, TestSend
from campaigns.orders import OrdersFileError, orders_import
from campaigns.selectors import campaign_failures, campaign_stats, quota_today
from whatsapp.models import MessageTemplate

STORED_PARAMETERS = ("header_parameters", "parameters", "button_parameters")
COUNTERS = (
    *("total", "pending", "queued", "sent", "delivered", "read", "failed", "skipped", "unknown", "cancelled"),
    *("clicked", "clickers", "replied", "converted"),
)


class SendTestForm(forms.Form):
    phone = forms.CharField(
        max_length=32,
        label=gettext_lazy("Phone"),
        help_text=gettext_lazy("E.164, e.g. +14155550123. It counts against the daily limit."),
    )


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
    form = CampaignForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ("name", "status", "priority", "progress", "start_at", "estimated_completion", "pause_reason")
    list_filter = ("status",)
    search_fields = ("name",)
    readonly_fields = (
        "status",
        "pause_reason",
        "estimated_completion",
        "cloned_from",
        "cost_estimated",
        "cost_actual",
        "billable",
        *COUNTERS,
        "created_at",
        "updated_at",
    )
    # The template's placeholders are fields of CampaignForm, drawn by change_form.html beside the preview.
    fieldsets = (
        (None, {"fields": ("name", "template", "audience", "header_media_url", "link_url")}),
        (gettext_lazy("Schedule"), {"fields": ("priority", "start_at", "end_at", "daily_cap", "sender", "budget")}),
        (gettext_lazy("State"), {"fields": ("status", "pause_reason", "estimated_completion")}),
        (gettext_lazy("Cost"), {"fields": ("cost_estimated", "cost_actual", "billable")}),
        (gettext_lazy("Counters"), {"classes": ("collapse",), "fields": COUNTERS}),
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

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None and obj.cloned_from_id:
            fieldsets.insert(2, (_("Clone"), {"fields": ("cloned_from", "skip_reached_by_source")}))
        if obj is not None and not self.has_change_permission(request, obj):
            # Read-only: no form draws the placeholders, so show what is stored.
            fieldsets[0] = (None, {"fields": (*fieldsets[0][1]["fields"], *STORED_PARAMETERS)})
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if obj is not None and not self.has_change_permission(request, obj):
            return (*readonly, *STORED_PARAMETERS)
        return readonly

    @admin.display(description=gettext_lazy("progress (sent = accepted by WhatsApp, not failed since)"))
    def progress(self, campaign: Campaign) -> str:
        percent = 100 * campaign.sent / campaign.total if campaign.total else 0
        return _("%(sent)s of %(total)s sent (%(percent).1f%%)") % {
            "sent": campaign.sent,
            "total": campaign.total,
            "percent": percent,
        }

    @admin.display(description=gettext_lazy("estimated completion"), ordering="estimated_completion_date")
    def estimated_completion(self, campaign: Campaign):
        """An estimate only while the campaign can still send: none for a completed or cancelled one."""
        if campaign.status in (Campaign.Status.COMPLETED, Campaign.Status.CANCELLED):
            return "-"
        return campaign.estimated_completion_date or "-"

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
            path("<int:object_id>/export/", view(self.export_options_view), name="campaigns_campaign_export"),
            path("<int:object_id>/clone/", view(self.clone_view), name="campaigns_campaign_clone"),
            path("<path:object_id>/dashboard/", view(partial(campaign_dashboard_view, model_admin=self)),
                 name="campaigns_campaign_dashboard"),
            path("<path:object_id>/job/<str:task_id>/", view(partial(jobs.campaign_job_view, model_admin=self)),
                 name="campaigns_campaign_job"),
            path("preview/", view(partial(preview.campaign_preview_view, model_admin=self)),
                 name="campaigns_campaign_preview"),
            path("placeholders/", view(partial(preview.campaign_placeholders_view, model_admin=self)),
                 name="campaigns_campaign_placeholders"),
            path("<path:object_id>/lifecycle/<str:action>/",
                 view(partial(actions.campaign_lifecycle_view, model_admin=self)),
                 name="campaigns_campaign_lifecycle"),
            *super().get_urls(),
        ]  # fmt: skip

    def export_failures_view(self, request, object_id):
        return exports.export_view(self, request, object_id, export=exports.FAILURES)

    def export_recipients_view(self, request, object_id):
        return exports.export_view(self, request, object_id, export=exports.RECIPIENTS)

    def export_options_view(self, request, object_id):
        return exports.export_options_view(self, request, object_id)

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
                lifecycle=actions.buttons(model_admin=self, request=request, campaign=campaign),
                activation_problems=(
                    services.campaign_problems(campaign=campaign, now=timezone.now())
                    if campaign.status == Campaign.Status.DRAFT
                    else []
                ),
                test_sends=TestSend.objects.filter(campaign=campaign)[:20],
                show_estimate=campaign.status not in (Campaign.Status.COMPLETED, Campaign.Status.CANCELLED),
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if obj.status != Campaign.Status.DRAFT:
            return
        problems = services.campaign_problems(campaign=obj, now=timezone.now())
        if problems:
            self.message_user(
                request,
                _("Saved as a draft, but activation would refuse it: %(problems)s") % {"problems": " ".join(problems)},
                messages.WARNING,
            )

    def _confirm_then(self, request, queryset, name: str, run):
        """A list action that is dangerous: its confirmation page with each campaign's numbers, then `run`."""
        if request.POST.get("confirm") == "yes":
            return run()
        now = timezone.now()
        entries = [(c, actions.plan_for(name, campaign=c, now=now)) for c in queryset]
        hidden = [("action", name)] + [(admin.helpers.ACTION_CHECKBOX_NAME, c.pk) for c in queryset]
        changelist = reverse("admin:campaigns_campaign_changelist")
        return actions.confirmation_page(
            request, model_admin=self, action=actions.BY_NAME[name], entries=entries,
            form_action=changelist, back_url=changelist, hidden=hidden,
        )  # fmt: skip

    @admin.action(
        description=gettext_lazy("Activate (validate, then add the audience in the background)"),
        permissions=["activate"],
    )
    def activate(self, request, queryset):
        return self._confirm_then(
            request,
            queryset,
            "activate",
            lambda: jobs.start_jobs(
                self, request, queryset, start=actions.activate_later(request), what=_("Activation")
            ),
        )

    @admin.action(description=gettext_lazy("Pause"), permissions=["change"])
    def pause(self, request, queryset):
        reason = _("Paused by %(user)s from the admin") % {"user": request.user}
        _each(self, request, queryset, services.campaign_pause, _("Paused"), reason=reason)

    @admin.action(description=gettext_lazy("Resume"), permissions=["change"])
    def resume(self, request, queryset):
        _each(self, request, queryset, services.campaign_resume, _("Resumed: {campaign.status}"))

    @admin.action(description=gettext_lazy("Cancel (pending recipients are cancelled)"), permissions=["change"])
    def cancel(self, request, queryset):
        if request.POST.get("post") == "yes":
            _each(self, request, queryset, services.campaign_cancel, _("Cancelled: {outcome:,} pending recipients"))
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Cancel campaigns?"),
            "campaigns": queryset,
            "queryset": queryset,
            "action": "cancel",
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/campaigns/campaign/cancel_confirmation.html", context)

    @admin.action(
        description=gettext_lazy("Top up (add new audience matches in the background)"), permissions=["activate"]
    )
    def top_up(self, request, queryset):
        return self._confirm_then(
            request,
            queryset,
            "top_up",
            lambda: jobs.start_jobs(self, request, queryset, start=jobs.campaign_top_up_later, what=_("Top-up")),
        )

    @admin.action(description=gettext_lazy("Retry failed recipients (those a resend can fix)"), permissions=["change"])
    def retry_failed(self, request, queryset):
        def run():
            now = timezone.now()
            for campaign in queryset:
                actions.run(request, model_admin=self, action="retry_failed", campaign=campaign, now=now)

        return self._confirm_then(request, queryset, "retry_failed", run)

    @admin.action(
        description=gettext_lazy("Resend unknown (they may already have the message)"), permissions=["change"]
    )
    def resend_unknown(self, request, queryset):
        return self._confirm_then(
            request,
            queryset,
            "resend_unknown",
            lambda: _each(
                self, request, queryset, services.campaign_resend_unknown, _("Resent: {outcome:,} unknown requeued")
            ),
        )

    @admin.action(description=gettext_lazy("Send a test message to a phone"), permissions=["change"])
    def send_test(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Select exactly one campaign to test."), messages.WARNING)
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
                self.message_user(request, _("Test message sent: %(id)s") % {"id": message_id}, messages.SUCCESS)
                return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Send a test of %(campaign)s") % {"campaign": campaign},
            "campaign": campaign,
            "form": form,
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/campaigns/campaign/send_test.html", context)

    @admin.action(description=gettext_lazy("Clone as a new draft"), permissions=["add"])
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
        self.message_user(
            request,
            _("%(campaign)s: cloned as the draft %(copy)s.") % {"campaign": campaign, "copy": copy},
            messages.SUCCESS,
        )
        return copy


@admin.register(Recipient)
class RecipientAdmin(MaskedPhonesMixin, admin.ModelAdmin):
    list_display = (
        *("phone", "campaign", "status", "position", "attempts", "estimated_send_date", "error_code"),
        *("clicks", "replied_at", "reply_payload", "converted_at"),
    )
    list_filter = ("status", "campaign", "error_code")
    search_fields = ("=phone",)
    raw_id_fields = ("campaign", "contact")
    list_select_related = ("campaign",)
    show_full_result_count = False
    ordering = ("campaign", "position")
    readonly_fields = [f.name for f in Recipient._meta.fields if f.name != "id"]
    # WhatsApp's error texts may quote the number they failed for.
    masked_fields = {
        "phone": "masked_phone",
        "error_reason": "masked_error_reason",
        "error_details": "masked_error_details",
    }

    @admin.display(description=gettext_lazy("error reason"))
    def masked_error_reason(self, recipient: Recipient) -> str:
        return mask_phones_in_text(recipient.error_reason)

    @admin.display(description=gettext_lazy("error details"))
    def masked_error_details(self, recipient: Recipient) -> str:
        return mask_phones_in_text(recipient.error_details)

    def has_add_permission(self, request):
        return False

    def get_search_results(self, request, queryset, search_term):
        try:
            # Whatever the format typed, an exact lookup of the E.164 number (the phone index).
            return queryset.filter(phone=normalize_phone(search_term)), False
        except InvalidPhoneNumber:
            return super().get_search_results(request, queryset, search_term)


class CardRowsInline(admin.TabularInline):
    """A rate card's rows, read-only like the card: seen by whoever may see the card, never added or deleted."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("campaigns.view_ratecard")


class RateInline(CardRowsInline):
    model = Rate
    fields = ("market", "category", "price")


class MarketCodeInline(CardRowsInline):
    model = MarketCode
    fields = ("calling_code", "country", "market")
    classes = ("collapse",)


@admin.register(RateCard)
class RateCardAdmin(admin.ModelAdmin):
    """The rate cards' history, read-only: a new price list is imported (`import_rate_card`), never edited."""

    list_display = ("effective_from", "currency", "source", "markets_source", "imported_at")
    readonly_fields = ("effective_from", "currency", "source", "markets_source", "imported_at")
    inlines = (RateInline, MarketCodeInline)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class OrdersUploadForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("Orders (CSV)"))


@admin.register(Conversion)
class ConversionAdmin(MaskedPhonesMixin, admin.ModelAdmin):
    """Orders reported by the shop (API or CSV upload), each attributed to a campaign's recipient or to none."""

    change_list_template = "admin/campaigns/conversion/change_list.html"
    list_display = ("order_id", "phone", "value", "currency", "at", "campaign", "via", "source")
    list_filter = ("via", "currency", "source", "campaign")
    search_fields = ("=order_id", "=phone")
    list_select_related = ("campaign",)
    readonly_fields = [f.name for f in Conversion._meta.fields if f.name != "id"]

    def has_change_permission(self, request, obj=None):
        return False  # an order is recorded once, as reported

    def add_view(self, request, form_url="", extra_context=None):
        return redirect(reverse("admin:campaigns_conversion_upload"))  # orders go through the service only

    def get_urls(self):
        view = self.admin_site.admin_view
        return [path("upload/", view(self.upload_view), name="campaigns_conversion_upload"), *super().get_urls()]

    def upload_view(self, request):
        """The orders CSV: every good row recorded (once per order id), every bad row reported with its line."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = OrdersUploadForm(request.POST or None, request.FILES or None)
        report = None
        if request.method == "POST" and form.is_valid():
            try:
                report = orders_import(data=form.cleaned_data["file"].read(), now=timezone.now())
            except OrdersFileError as exc:
                form.add_error("file", str(exc))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Upload orders"),
            "form": form,
            "report": report,
        }
        return TemplateResponse(request, "admin/campaigns/conversion/upload.html", context)
