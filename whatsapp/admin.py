"""Admin for templates (sync from the account) and stored webhook bodies (replay). Actions call services."""

import contextlib

from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db.models import Count
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from audiences.admin_phones import MaskedPhonesMixin
from audiences.phones import InvalidPhoneNumber, mask_phones_in_json, mask_phones_in_text, normalize_phone
from whatsapp.errors import WhatsAppError
from whatsapp.models import MessageTemplate, PlatformAlert, Sender, WebhookEvent, WebhookEventKey
from whatsapp.services import templates_sync, webhook_event_replay


class AccountSyncMixin:
    """A changelist whose `sync_action` works on the whole account: its button runs it with nothing selected."""

    sync_action = ""

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_sync": self.has_change_permission(request)}
        if request.method == "POST" and request.POST.get("action") == self.sync_action:
            post = request.POST.copy()
            if not post.getlist(admin.helpers.ACTION_CHECKBOX_NAME):
                post.setlist(admin.helpers.ACTION_CHECKBOX_NAME, [""])
                post["select_across"] = "1"
                request.POST = post
        return super().changelist_view(request, extra_context)


@admin.register(MessageTemplate)
class MessageTemplateAdmin(AccountSyncMixin, admin.ModelAdmin):
    list_display = ["name", "language", "category", "status", "quality", "parameters", "synced_at"]
    list_filter = ["status", "category", "language"]
    search_fields = ["name"]
    readonly_fields = ["name", "language", "category", "status", "components", "quality", "external_id", "synced_at",
                       "preview", "status_event", "status_detail", "status_changed_at", "previous_quality",
                       "quality_changed_at", "previous_category", "category_changed_at"]  # fmt: skip
    actions = ["sync_templates"]
    sync_action = "sync_templates"
    change_list_template = "admin/whatsapp/messagetemplate/change_list.html"

    @admin.display(description=_("parameters (header / body)"))
    def parameters(self, template: MessageTemplate) -> str:
        return f"{template.header_parameter_count()} / {template.body_parameter_count()}"

    @admin.display(description=_("preview"))
    def preview(self, template: MessageTemplate) -> str:
        body = [f"{{{{{n}}}}}" for n in range(1, template.body_parameter_count() + 1)]
        header = [f"{{{{{n}}}}}" for n in range(1, template.header_parameter_count() + 1)]
        return format_html("<pre>{}</pre>", template.render_preview(body, header))

    def has_add_permission(self, request) -> bool:
        return False  # templates come from the WhatsApp account, by sync

    @admin.action(description=_("Sync templates from the WhatsApp account"), permissions=["change"])
    def sync_templates(self, request, queryset=None):
        try:
            result = templates_sync(now=timezone.now())
        except WhatsAppError as exc:
            self.message_user(
                request, gettext("Template sync failed: %(reason)s") % {"reason": exc.reason}, messages.ERROR
            )
            return
        # The sync works on the whole account: one history entry on the templates' model, not per template.
        LogEntry.objects.create(
            user_id=request.user.pk,
            content_type=ContentType.objects.get_for_model(MessageTemplate),
            object_repr="Template sync",
            action_flag=CHANGE,
            change_message=f"Synced templates from the WhatsApp account: {result}",
        )
        self.message_user(request, gettext("Templates synced: %(result)s.") % {"result": result}, messages.SUCCESS)


@admin.register(WebhookEvent)
class WebhookEventAdmin(MaskedPhonesMixin, admin.ModelAdmin):
    list_display = ["id", "received_at", "status", "carries", "event_count", "processed_at", "replay_count",
                    "short_error", "has_notes"]  # fmt: skip
    list_filter = ["status"]
    date_hierarchy = "received_at"
    readonly_fields = ["received_at", "status", "carries", "processed_at", "event_count", "replay_count", "signature",
                       "error", "notes", "body_text"]  # fmt: skip
    search_fields = ["keys__value"]  # see get_search_results
    search_help_text = _("A phone number (any format) or a message id (wamid....), exactly.")
    exclude = ["body"]
    actions = ["replay"]
    # The users' numbers in the body (wa_id, from, recipient_id ...) and in error messages.
    masked_fields = {"body_text": "masked_body_text", "error": "masked_error", "short_error": "masked_short_error"}

    @admin.display(description=_("error"))
    def short_error(self, event: WebhookEvent) -> str:
        return event.error.splitlines()[0][:120] if event.error else ""

    @admin.display(description=_("notes"), boolean=True)
    def has_notes(self, event: WebhookEvent) -> bool:
        """Something in the body was not taken as sent (a time out of range, a code kept as text...)."""
        return bool(event.notes)

    @admin.display(description=_("error"))
    def masked_short_error(self, event: WebhookEvent) -> str:
        return mask_phones_in_text(self.short_error(event))

    @admin.display(description=_("error"))
    def masked_error(self, event: WebhookEvent) -> str:
        return mask_phones_in_text(event.error)

    @admin.display(description=_("body as received"))
    def body_text(self, event: WebhookEvent) -> str:
        return format_html("<pre style='white-space: pre-wrap'>{}</pre>", event.text)

    @admin.display(description=_("body as received (phone numbers masked)"))
    def masked_body_text(self, event: WebhookEvent) -> str:
        return format_html("<pre style='white-space: pre-wrap'>{}</pre>", mask_phones_in_json(event.text))

    def get_search_results(self, request, queryset, search_term):
        """The bodies that mention this number or message id: one indexed lookup of their keys (whatsapp/search.py)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        with contextlib.suppress(InvalidPhoneNumber):  # not a number: a message id
            term = normalize_phone(term)
        return queryset.filter(pk__in=WebhookEventKey.objects.filter(value=term).values("webhook_event_id")), False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # the stored body is evidence: never edited

    def has_replay_permission(self, request) -> bool:
        """Replaying re-applies statuses and opt-outs: it needs the change permission, though nobody edits a body."""
        return request.user.has_perm("whatsapp.change_webhookevent")

    @admin.action(description=_("Replay the selected webhooks (re-run parsing and signals)"), permissions=["replay"])
    def replay(self, request, queryset):
        if request.POST.get("post") != "yes":
            return self._replay_confirmation(request, queryset)
        ok = failed = 0
        for event in queryset.order_by("received_at", "id"):
            if webhook_event_replay(webhook_event=event):
                ok += 1
                self.log_change(request, event, f"Replayed: processed, {event.event_count} event(s)")
            else:
                failed += 1
                self.log_change(request, event, f"Replayed: failed again ({self.short_error(event)})")
        self.message_user(request, gettext("Replayed %(count)s webhook(s).") % {"count": ok}, messages.SUCCESS)
        if failed:
            self.message_user(
                request,
                gettext("%(count)s webhook(s) failed again; see their error.") % {"count": failed},
                messages.ERROR,
            )

    def _replay_confirmation(self, request, queryset):
        """Like delete_selected: what will be replayed, and what replaying does, before it is done."""
        count = queryset.count()
        context = {
            **self.admin_site.each_context(request),
            "title": _("Replay webhooks?"),
            "opts": self.model._meta,
            "count": count,
            "by_status": dict(queryset.order_by().values_list("status").annotate(n=Count("id"))),
            "sample": queryset.order_by("received_at", "id")[:50],
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "masked": self.masks_phones(request),
        }
        return TemplateResponse(request, "admin/whatsapp/webhookevent/replay_confirmation.html", context)


@admin.register(Sender)
class SenderAdmin(AccountSyncMixin, admin.ModelAdmin):
    """The business account's sender numbers: managers view and change them (sync the limit), viewers view them."""

    list_display = ("phone_number_id", "display_phone_number", "business_account_id", "throughput_mps",
                    "messaging_tier", "quality_rating", "tier_source", "tier_at")  # fmt: skip
    search_fields = ("phone_number_id", "display_phone_number")
    readonly_fields = ("messaging_tier", "quality_rating", "tier_source", "tier_at")
    actions = ["sync_messaging_limit"]
    sync_action = "sync_messaging_limit"
    change_list_template = "admin/whatsapp/sender/change_list.html"

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if request.user.is_superuser:
            return fields
        # The account's identifiers are configuration (superusers, like the WHATSAPP_* settings): a manager may
        # change a number's rate and sync its limit, not which WhatsApp number or account it is.
        return (*fields, "phone_number_id", "display_phone_number", "business_account_id")

    @admin.action(description=_("Sync the messaging limit from WhatsApp"))
    def sync_messaging_limit(self, request, queryset=None):
        """The admin button: the same service as `manage.py sync_messaging_limit` and its periodic task."""
        from whatsapp.tiers import messaging_limit, messaging_limit_sync

        now = timezone.now()
        try:
            result = messaging_limit_sync(now=now)
        except WhatsAppError as exc:
            self.message_user(
                request, gettext("Messaging limit sync failed: %(reason)s") % {"reason": exc.reason}, messages.ERROR
            )
            return
        limit = messaging_limit(now)
        self.message_user(
            request,
            gettext("Messaging limit sync: %(result)s. Limit in force: %(value)s (%(source)s).")
            % {"result": result, "value": limit.value, "source": limit.source},
            messages.SUCCESS,
        )


@admin.register(PlatformAlert)
class PlatformAlertAdmin(admin.ModelAdmin):
    """What Meta's platform did (templates, the account, the limit): raised by whatsapp.platform.alert_raise."""

    list_display = ("raised_at", "severity", "kind", "message", "blocks_sending", "until", "resolved_at")
    list_filter = ("severity", "kind", "blocks_sending", ("resolved_at", admin.EmptyFieldListFilter))
    search_fields = ("message", "words", "subject")
    readonly_fields = ("kind", "severity", "message", "words", "subject", "blocks_sending", "until", "raised_at",
                       "resolved_at")  # fmt: skip
    actions = ["resolve"]

    def has_add_permission(self, request) -> bool:
        return False  # raised by the platform's events, never by hand

    @admin.action(description=_("Resolve (an account block: sending resumes)"), permissions=["change"])
    def resolve(self, request, queryset):
        resolved = queryset.filter(resolved_at__isnull=True).update(resolved_at=timezone.now())
        self.message_user(request, gettext("%(n)s alert(s) resolved.") % {"n": resolved}, messages.SUCCESS)
