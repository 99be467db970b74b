"""Admin for outbound events: endpoints (secret shown to superusers only), events, deliveries and their attempts."""

import json

from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from outbound.models import Attempt, Delivery, Endpoint, Event, EventType
from outbound.services import deliveries_resend, endpoint_ping, endpoint_rotate_secret

SUBSCRIBABLE = [(value, label) for value, label in EventType.choices if value != EventType.PING]


class EndpointForm(forms.ModelForm):
    url = forms.URLField(label=_("URL"), max_length=2000, assume_scheme="https")
    event_types = forms.MultipleChoiceField(
        label=_("event types"), choices=SUBSCRIBABLE, widget=forms.CheckboxSelectMultiple, required=False
    )

    class Meta:
        model = Endpoint
        fields = ["url", "description", "event_types", "active"]


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = ["__str__", "url", "active", "subscribed", "created_at"]
    list_filter = ["active"]
    readonly_fields = ["secret_shown", "created_at", "updated_at"]
    actions = ["send_ping", "rotate_secret"]

    @admin.display(description=_("event types"))
    def subscribed(self, endpoint: Endpoint) -> str:
        return ", ".join(endpoint.event_types)

    @admin.display(description=_("signing secret"))
    def secret_shown(self, endpoint: Endpoint) -> str:
        # Read by superusers only (the request is not passed to a display method: see get_readonly_fields).
        if not endpoint.pk:
            return gettext("Generated when the endpoint is saved.")
        return format_html("<code>{}</code>", endpoint.secret)

    @admin.display(description=_("signing secret"))
    def secret_hidden(self, endpoint: Endpoint) -> str:
        return gettext("whsec_… (only a superuser can see it)") if endpoint.pk else ""

    def get_readonly_fields(self, request, obj=None):
        secret = "secret_shown" if request.user.is_superuser else "secret_hidden"
        return [secret, "created_at", "updated_at"]

    @admin.action(description=_("Send a test event (ping)"), permissions=["change"])
    def send_ping(self, request, queryset):
        now = timezone.now()
        sent = sum(endpoint_ping(endpoint=endpoint, now=now) is not None for endpoint in queryset)
        self.message_user(
            request,
            ngettext("A ping is on its way to %(count)d endpoint: see its delivery.",
                     "A ping is on its way to %(count)d endpoints: see their deliveries.", sent) % {"count": sent},
        )  # fmt: skip

    @admin.action(description=_("Rotate the signing secret"), permissions=["change"])
    def rotate_secret(self, request, queryset):
        for endpoint in queryset:
            endpoint_rotate_secret(endpoint=endpoint)
            self.log_change(request, endpoint, gettext("Rotated the signing secret."))
        self.message_user(
            request,
            gettext("New secrets made: receivers must be given them (a superuser sees them on each endpoint)."),
            messages.WARNING,
        )


class AttemptInline(admin.TabularInline):
    model = Attempt
    fields = ["started_at", "duration_ms", "status_code", "response", "error"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["event_type", "endpoint", "status", "attempts", "last_status_code", "next_attempt_at", "created_at"]
    list_filter = ["status", "event__type", "endpoint"]
    list_select_related = ["event", "endpoint"]
    search_fields = ["=event__id"]
    readonly_fields = ["event", "event_type", "payload", "endpoint", "status", "attempts", "next_attempt_at",
                       "last_status_code", "last_error", "created_at", "finished_at"]  # fmt: skip
    fields = readonly_fields
    inlines = [AttemptInline]
    actions = ["resend"]

    @admin.display(description=_("type"), ordering="event__type")
    def event_type(self, delivery: Delivery) -> str:
        return delivery.event.type

    @admin.display(description=_("data"))
    def payload(self, delivery: Delivery) -> str:
        return format_html("<pre>{}</pre>", json.dumps(delivery.event.data, indent=2, ensure_ascii=False))

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description=_("Send again"), permissions=["change"])
    def resend(self, request, queryset):
        count = deliveries_resend(deliveries=queryset, now=timezone.now())
        self.message_user(
            request,
            ngettext("%(count)d delivery will be sent again.", "%(count)d deliveries will be sent again.", count)
            % {"count": count},
        )


class DeliveryInline(admin.TabularInline):
    model = Delivery
    fields = ["endpoint", "status", "attempts", "last_status_code", "next_attempt_at", "finished_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["type", "created_at", "id"]
    list_filter = ["type"]
    readonly_fields = ["id", "type", "created_at", "data"]
    inlines = [DeliveryInline]

    def has_add_permission(self, request) -> bool:
        return False
