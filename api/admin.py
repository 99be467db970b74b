"""API keys in the admin: made (the key shown once), revoked; never edited, never shown again."""

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from api.keys import api_key_create, api_key_revoke
from api.models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "user", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "user__username"]
    fields = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    autocomplete_fields = []
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "name", "user"] if obj is not None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return
        key, raw = api_key_create(user=obj.user, name=obj.name)
        obj.pk, obj.prefix, obj.created_at = key.pk, key.prefix, key.created_at
        obj._state.adding = False
        self.message_user(
            request,
            _("The API key of %(user)s: %(key)s — copy it now, it is never shown again.")
            % {"user": obj.user, "key": raw},
            messages.WARNING,
        )

    @admin.action(description=gettext_lazy("Revoke the selected API keys"), permissions=["change"])
    def revoke(self, request, queryset):
        revoked = 0
        for key in queryset:
            if api_key_revoke(key=key, now=timezone.now()):
                revoked += 1
                self.log_change(request, key, "Revoked")
        self.message_user(request, _("Revoked %(n)s API key(s).") % {"n": revoked}, messages.SUCCESS)
