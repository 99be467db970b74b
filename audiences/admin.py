"""Admin: contacts (fast at 1M rows, opt-out/in actions, CSV import with preview, delete = erasure),
the suppression list (read-only), tags, audiences with preview.

The admin parses input and calls services / selectors; it holds no rules of its own.
"""

import time

from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audiences.admin_phones import MaskedPhonesMixin
from audiences.erasure import contact_erase, contacts_erase
from audiences.forms import AudienceForm, ContactImportForm, region_choices
from audiences.indexes import attribute_indexes_follow
from audiences.jobs import (
    import_job,
    import_start,
    import_upload_discard,
    import_upload_store,
    rejected_path,
    upload_path,
)
from audiences.models import Audience, Contact, Suppression, Tag
from audiences.rules import describe_rules, rules_q
from audiences.selectors import attribute_keys, audience_preview, audience_rule_warnings
from audiences.services import contact_save, contacts_set_subscription


class EstimatedCountPaginator(Paginator):
    """An unfiltered list on PostgreSQL counts from the planner's estimate, not COUNT(*) over every row."""

    @cached_property
    def count(self):
        query = getattr(self.object_list, "query", None)
        if connection.vendor == "postgresql" and query is not None and not query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [query.model._meta.db_table]
                )
                row = cursor.fetchone()
            if row and row[0] > 100_000:
                return row[0]
        return super().count


class TagFilter(admin.SimpleListFilter):
    """Contacts with a tag, tested as an audience rule tests it (on PostgreSQL the GIN-indexed tag_ids).

    Django's own filter on `tags` joins the links and so needs DISTINCT: at
    1,000,000 contacts its COUNT(DISTINCT every column) took 280 of the page's
    405 ms for a 10 % tag (bench/contact_admin.py).
    """

    title = "tag"
    parameter_name = "tag"

    def lookups(self, request, model_admin):
        return [(name, name) for name in Tag.objects.values_list("name", flat=True)]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return queryset.filter(rules_q({"include_tags": [self.value()]}))


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]
    list_display = ["name"]


@admin.register(Contact)
class ContactAdmin(MaskedPhonesMixin, admin.ModelAdmin):
    list_display = ["phone", "name", "language", "subscription", "subscription_reason", "created_at"]
    list_filter = ["subscription", TagFilter, "subscription_reason"]
    search_fields = ["phone", "name"]
    search_help_text = gettext_lazy(
        "A phone number in any format (national, +international, WhatsApp's digits) or a name."
    )
    ordering = ["-pk"]
    list_per_page = 100
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    autocomplete_fields = ["tags"]
    readonly_fields = [
        "subscription",
        "subscription_changed_at",
        "subscription_reason",
        "last_inbound_at",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["phone", "name", "first_name", "language", "tags", "attributes"]}),
        (
            gettext_lazy("Subscription (change it with the list's actions)"),
            {"fields": ["subscription", "subscription_changed_at", "subscription_reason", "last_inbound_at"]},
        ),
        (gettext_lazy("History"), {"fields": ["created_at", "updated_at"]}),
    ]
    actions = ["unsubscribe_selected", "resubscribe_selected"]
    delete_confirmation_template = "admin/audiences/contact/erase_confirmation.html"
    delete_selected_confirmation_template = "admin/audiences/contact/erase_selected_confirmation.html"

    # --- saving and deleting go through the services ---------------------------
    def save_model(self, request, obj, form, change):
        # Phone edits move unsent recipients; the subscription follows the phone's suppression.
        saved = contact_save(contact=obj, now=timezone.now())
        if saved.moved or saved.cancelled:
            self.message_user(
                request,
                _(
                    "Phone changed: %(moved)s unsent message(s) will go to the new number; "
                    "%(cancelled)s cancelled where the campaign already had it. "
                    "Messages already sent or in flight keep the old number."
                )
                % {"moved": saved.moved, "cancelled": saved.cancelled},
                messages.INFO,
            )
        if saved.followed:
            if obj.is_subscribed:
                text = _("%(phone)s is not on the suppression list: the contact is now %(subscription)s.")
            else:
                text = _("%(phone)s is on the suppression list: the contact is now %(subscription)s.")
            self.message_user(
                request,
                text % {"phone": obj.phone, "subscription": obj.get_subscription_display()},
                messages.INFO,
            )

    def delete_model(self, request, obj):
        """A delete is an erasure (Promise 11, docs/architecture.md): recipient rows are anonymised, not cascaded."""
        result = contact_erase(contact=obj, now=timezone.now(), by=request.user)
        self.message_user(request, result.summary.capitalize() + ".", messages.INFO)

    def delete_queryset(self, request, queryset):
        result = contacts_erase(contacts=queryset, now=timezone.now(), by=request.user)
        self.message_user(request, result.summary.capitalize() + ".", messages.INFO)

    def log_deletions(self, request, queryset):
        # The erasure writes its own history entries, which do not name the person.
        return []

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        found = self.phone_search(request, queryset, term)
        if found is not None:
            return found, False
        return queryset.filter(name__icontains=term), False

    # --- subscription actions -------------------------------------------------
    @admin.action(description=gettext_lazy("Unsubscribe selected contacts"), permissions=["change"])
    def unsubscribe_selected(self, request, queryset):
        return self._subscription_action(request, queryset, subscribed=False)

    @admin.action(
        description=gettext_lazy("Resubscribe selected contacts (only with their consent)"), permissions=["change"]
    )
    def resubscribe_selected(self, request, queryset):
        return self._subscription_action(request, queryset, subscribed=True)

    def _subscription_action(self, request, queryset, *, subscribed: bool):
        action = "resubscribe_selected" if subscribed else "unsubscribe_selected"
        if request.POST.get("confirm") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": _("Resubscribe contacts?") if subscribed else _("Unsubscribe contacts?"),
                "opts": self.model._meta,
                "subscribed": subscribed,
                "action": action,
                "count": queryset.count(),
                "sample": queryset[:20],
                "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
                "select_across": request.POST.get("select_across", "0"),
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/audiences/contact/subscription_confirmation.html", context)
        changed = contacts_set_subscription(
            contacts=queryset,
            subscribed=subscribed,
            reason=Contact.SubscriptionReason.ADMIN,
            at=timezone.now(),
            source=f"admin: {request.user.get_username()}",
        )
        if changed:
            LogEntry.objects.log_actions(
                user_id=request.user.pk,
                queryset=Contact.objects.filter(pk__in=changed),
                action_flag=CHANGE,
                change_message="Resubscribed (admin action)" if subscribed else "Unsubscribed (admin action)",
            )
        if subscribed:
            text = _("%(count)s contact(s) resubscribed; the others already were.")
        else:
            text = _("%(count)s contact(s) unsubscribed; the others already were.")
        self.message_user(request, text % {"count": len(changed)}, messages.SUCCESS)
        return None

    # --- Import (CSV or .xlsx): a background preview, then the background import -------
    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("import/", view(self.import_view), name="audiences_contact_import"),
            path("import/job/<str:task_id>/", view(self.import_job_view), name="audiences_contact_import_job"),
            path("import/job/<str:task_id>/confirm/", view(self.import_confirm_view),
                 name="audiences_contact_import_confirm"),
            path("import/job/<str:task_id>/cancel/", view(self.import_cancel_view),
                 name="audiences_contact_import_cancel"),
            path("import/rejected/<str:token>.csv", view(self.import_rejected_view),
                 name="audiences_contact_import_rejected"),
            *super().get_urls(),
        ]  # fmt: skip

    def _check_import_permission(self, request):
        if not (self.has_add_permission(request) and self.has_change_permission(request)):
            raise PermissionDenied

    def _import_context(self, request, title):
        return {**self.admin_site.each_context(request), "opts": self.model._meta, "title": title}

    def import_view(self, request):
        """The upload form; a valid upload is stored and previewed by a background job."""
        self._check_import_permission(request)
        form = ContactImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            token = import_upload_store(chunks=data["file"].chunks())
            options = {
                "filename": data["file"].name,
                "tag": data["tag"],
                "update": data["update"],
                "region": data["region"],
                "encoding": data["encoding"],
                "decimal": data["decimal"],
                "language": data["language"],
            }
            task_id = import_start(token=token, options=options, dry_run=True, user_id=request.user.pk)
            return redirect(reverse("admin:audiences_contact_import_job", args=[task_id]))
        context = {**self._import_context(request, _("Import contacts")), "form": form}
        return TemplateResponse(request, "admin/audiences/contact/import.html", context)

    def import_job_view(self, request, task_id):
        """The job's page: progress, then the preview (a dry run) or the outcome; `?format=json` for import_job.js."""
        self._check_import_permission(request)
        job = import_job(task_id=task_id)
        if request.GET.get("format") == "json":
            return JsonResponse(job.as_dict())
        outcome = job.outcome or {}
        options = outcome.get("options") or {}
        if job.finished and job.dry_run and job.ok:
            title = _("Import contacts: preview of %(file)s") % {"file": options.get("filename")}
        elif job.finished and job.ok:
            title = _("Import contacts: done")
        else:
            title = _("Import contacts")
        token = outcome.get("token")
        context = {
            **self._import_context(request, title),
            "job": job,
            "outcome": outcome,
            "options": options,
            "result": outcome.get("result") or {},
            "upload_kept": bool(token) and upload_path(token).exists(),
            "region_name": dict(region_choices()).get((outcome.get("result") or {}).get("region"), ""),
            "json_url": f"{request.path}?format=json",
        }
        return TemplateResponse(request, "admin/audiences/contact/import_job.html", context)

    def import_confirm_view(self, request, task_id):
        """Confirming a preview: the real import of the same upload with the preview's options, in the background."""
        self._check_import_permission(request)
        if request.method != "POST":
            return redirect(reverse("admin:audiences_contact_import_job", args=[task_id]))
        job = import_job(task_id=task_id)
        outcome = job.outcome or {}
        token = outcome.get("token")
        if not (job.finished and job.ok and job.dry_run and token and upload_path(token).exists()):
            self.message_user(request, _("That import preview has expired; upload the file again."), messages.ERROR)
            return redirect(reverse("admin:audiences_contact_import"))
        new_id = import_start(token=token, options=outcome["options"], dry_run=False, user_id=request.user.pk)
        return redirect(reverse("admin:audiences_contact_import_job", args=[new_id]))

    def import_cancel_view(self, request, task_id):
        """Cancelling a preview deletes the upload at once."""
        self._check_import_permission(request)
        if request.method == "POST":
            token = (import_job(task_id=task_id).outcome or {}).get("token")
            if token:
                import_upload_discard(token=token)
            self.message_user(request, _("Import cancelled; the uploaded file was deleted."), messages.INFO)
        return redirect(reverse("admin:audiences_contact_changelist"))

    def import_rejected_view(self, request, token):
        """The rejected rows of a finished import as CSV: line, reason, then the row as it was in the file."""
        self._check_import_permission(request)
        try:
            path = rejected_path(token)
        except ValueError:
            raise Http404 from None
        if not path.exists():
            raise Http404(_("These rejected rows are no longer kept."))
        return FileResponse(path.open("rb"), as_attachment=True, filename="rejected-rows.csv", content_type="text/csv")


@admin.register(Suppression)
class SuppressionAdmin(MaskedPhonesMixin, admin.ModelAdmin):
    """The numbers the send batch never claims. Read-only: only an explicit opt-in lifts one.

    Contacts' resubscribe action (logged), START or a `resume` preference do;
    deleting a row here would be a silent lift, so it is not offered.
    """

    list_display = ["phone", "reason", "source", "suppressed_at"]
    list_filter = ["reason"]
    search_fields = ["phone"]
    search_help_text = gettext_lazy("A phone number in any format.")
    ordering = ["-suppressed_at", "-id"]
    show_full_result_count = False

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        found = self.phone_search(request, queryset, term)
        return (queryset.none() if found is None else found), False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Audience)
class AudienceAdmin(admin.ModelAdmin):
    form = AudienceForm
    list_display = ["name", "summary", "updated_at"]
    search_fields = ["name"]
    fieldsets = [
        (None, {"fields": ["name", "everyone"]}),
        (gettext_lazy("Tags"), {"fields": ["include_tags", "match", "exclude_tags"]}),
        (gettext_lazy("Language"), {"fields": ["languages"]}),
        (
            gettext_lazy("Attribute conditions"),
            {"fields": ["condition_1", "condition_2", "condition_3", "condition_4", "condition_5"]},
        ),
        (gettext_lazy("Campaign outcomes (retargeting)"), {"fields": ["outcome_1", "outcome_2", "outcome_3"]}),
    ]

    @admin.display(description=gettext_lazy("Rules"))
    def summary(self, audience):
        return describe_rules(audience.rules)

    # The attribute indexes follow the saved rules (audiences/indexes.py); built by the worker, after the commit.
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        attribute_indexes_follow()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        attribute_indexes_follow()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        attribute_indexes_follow()

    def get_urls(self):
        preview = path("preview/", self.admin_site.admin_view(self.preview_view), name="audiences_audience_preview")
        return [preview, *super().get_urls()]

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "attribute_keys": attribute_keys()}
        audience = self.get_object(request, object_id) if object_id else None
        if audience is not None and request.method == "GET":
            extra_context.update(_preview_context(audience.rules))
        return super().changeform_view(request, object_id, form_url, extra_context)

    def preview_view(self, request):
        """The builder's live preview: the count and sample of the rules as they stand in the form, unsaved.

        audience_builder.js posts the whole form here as the rules are edited;
        the answer is the preview's HTML and the figures as JSON.
        """
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return JsonResponse({"error": "POST the audience form"}, status=405)
        form = self.get_form(request)(request.POST)
        form.is_valid()  # the rules are built by clean(); the name's errors do not matter to a preview
        errors = [
            f"{form.fields[name].label}: {message}" if name in form.fields else message
            for name, messages_ in form.errors.items()
            if name != "name"
            for message in messages_
        ]
        context = {"errors": errors} if errors else _preview_context(form.instance.rules)
        html = render_to_string("admin/audiences/audience/preview.html", context, request=request)
        preview = context.get("preview") or {}
        return JsonResponse(
            {"ok": not errors, "count": preview.get("count"), "warnings": context.get("warnings", []),
             "errors": errors, "html": html}
        )  # fmt: skip


def _preview_context(rules: dict) -> dict:
    audience = Audience(rules=rules)
    started = time.perf_counter()
    preview = audience_preview(audience=audience, sample=10)
    elapsed = round((time.perf_counter() - started) * 1000)
    warnings = audience_rule_warnings(rules=rules) if not preview["count"] else []
    return {"preview": preview, "preview_ms": elapsed, "warnings": warnings}
