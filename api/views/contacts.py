"""Contacts, tags and imports: the same services as the admin's contact pages and `import_contacts`."""

from __future__ import annotations

import csv
import io
import json

import django_filters
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from api.history import ADDITION, CHANGE, DELETION, history_log
from api.serializers import PhoneField
from api.views.base import ApiModelViewSet, ApiViewSet
from audiences import jobs as import_jobs
from audiences.attributes import normalize_key
from audiences.erasure import contact_erase
from audiences.imports import ALIASES
from audiences.models import Contact, Tag
from audiences.phones import InvalidPhoneNumber, can_see_phones, mask_phone, mask_phones_in_text, normalize_phone
from audiences.services import contact_upsert, contacts_import, contacts_set_subscription

MAX_BULK = 1000
COLUMN_ALIASES = {alias for aliases in ALIASES.values() for alias in aliases}


class ContactOut(serializers.ModelSerializer):
    phone = PhoneField()
    tags = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)

    class Meta:
        model = Contact
        fields = [
            "id",
            "phone",
            "name",
            "first_name",
            "language",
            "attributes",
            "tags",
            "subscription",
            "subscription_reason",
            "subscription_changed_at",
            "last_inbound_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ContactIn(serializers.Serializer):
    phone = serializers.CharField(max_length=40, help_text="Any format; stored in E.164.")
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    language = serializers.CharField(max_length=15, required=False)
    attributes = serializers.DictField(required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=100), required=False)

    def validate_phone(self, value: str) -> str:
        try:
            return normalize_phone(value)
        except InvalidPhoneNumber as exc:
            raise serializers.ValidationError(str(exc)) from exc


class BulkIn(serializers.Serializer):
    """The envelope only: each item is checked by the import, which reports a bad one by its index."""

    contacts = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=MAX_BULK)
    tag = serializers.CharField(required=False, allow_blank=True, max_length=100)

    def validate_contacts(self, items: list[dict]) -> list[dict]:
        errors = {}
        for index, item in enumerate(items):
            attributes = item.get("attributes", {})
            if not isinstance(attributes, dict):
                errors[str(index)] = [_("attributes: an object of key -> value.")]
            elif clashes := sorted(str(key) for key in attributes if normalize_key(str(key)) in COLUMN_ALIASES):
                errors[str(index)] = [
                    _("attributes: %(keys)s would be read as a contact field.") % {"keys": ", ".join(clashes)}
                ]
            elif not isinstance(item.get("tags", []), list):
                errors[str(index)] = [_("tags: a list of names.")]
        if errors:
            raise serializers.ValidationError(errors)
        return items


class SubscriptionIn(serializers.Serializer):
    reason = serializers.CharField(
        max_length=150,
        required=False,
        allow_blank=True,
        help_text="Why, in words: kept as the opt-out's source and in the history.",
    )


class ContactFilter(django_filters.FilterSet):
    phone = django_filters.CharFilter(method="filter_phone", help_text="Any format; matched in E.164.")
    tag = django_filters.CharFilter(field_name="tags__name", distinct=True)
    updated_after = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")

    class Meta:
        model = Contact
        fields = ["subscription", "language"]

    def filter_phone(self, queryset, name, value):
        try:
            return queryset.filter(phone=normalize_phone(value))
        except InvalidPhoneNumber:
            return queryset.none()


class ContactViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Contacts. POST creates or updates by phone; DELETE erases (anonymised, the opt-out kept)."""

    queryset = Contact.objects.prefetch_related("tags").order_by("-id")
    serializer_class = ContactOut
    filterset_class = ContactFilter
    ordering_fields = ["id"]
    action_permissions = {
        "create": ["audiences.add_contact", "audiences.change_contact"],
        "bulk": ["audiences.add_contact", "audiences.change_contact"],
    }

    @extend_schema(request=ContactIn, responses={200: ContactOut, 201: ContactOut})
    def create(self, request):
        data = ContactIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        phone, tags = values.pop("phone"), values.pop("tags", None)
        contact, created, _saved = contact_upsert(phone=phone, fields=values, tags=tags, now=timezone.now())
        history_log(
            user=request.user,
            obj=contact,
            flag=ADDITION if created else CHANGE,
            message="Added" if created else "Changed",
        )
        contact = self.get_queryset().get(pk=contact.pk)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(ContactOut(contact, context=self.get_serializer_context()).data, status=code)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        contact = self.get_object()
        history_log(user=request.user, obj=contact, flag=DELETION, message="Erased")
        contact_erase(contact=contact, now=timezone.now(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=inline_serializer(
            "BulkUpsertIn",
            {
                "contacts": serializers.ListField(child=ContactIn(), max_length=MAX_BULK),
                "tag": serializers.CharField(required=False, help_text="A tag added to every contact of this request."),
            },
        ),
        responses={
            200: inline_serializer(
                "BulkUpsertOut",
                {
                    "created": serializers.IntegerField(),
                    "updated": serializers.IntegerField(),
                    "unchanged": serializers.IntegerField(),
                    "invalid_count": serializers.IntegerField(),
                    "invalid": serializers.ListField(child=serializers.DictField()),
                },
            )
        },
    )
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        """Create or update up to 1,000 contacts at once, by phone, through the CSV import's service.

        Bad items are reported with their `index` and reason; the good ones are written (as an import does).
        """
        envelope = BulkIn(data=request.data)
        envelope.is_valid(raise_exception=True)
        items, tag = envelope.validated_data["contacts"], envelope.validated_data.get("tag") or None
        result = contacts_import(file=_as_csv(items), now=timezone.now(), tag=tag, update=True)
        import_jobs._log_import(request.user.pk, {"filename": "API bulk upsert"}, result.summary)
        out = result.as_dict()
        invalid = [{"index": row["line"] - 2, "reason": row["reason"]} for row in out["invalid"]]
        fields = ("created", "updated", "unchanged", "invalid_count")
        return Response({**{key: out[key] for key in fields}, "invalid": invalid})

    @extend_schema(request=SubscriptionIn, responses={200: ContactOut})
    @action(detail=True, methods=["post"])
    def unsubscribe(self, request, pk=None):
        """Opt the contact's phone out (the suppression list keeps it, whatever happens to the contact)."""
        return self._subscription(request, subscribed=False)

    @extend_schema(request=SubscriptionIn, responses={200: ContactOut})
    @action(detail=True, methods=["post"])
    def resubscribe(self, request, pk=None):
        """An operator's explicit opt-in: lifts the phone's suppression."""
        return self._subscription(request, subscribed=True)

    def _subscription(self, request, *, subscribed: bool):
        contact = self.get_object()
        data = SubscriptionIn(data=request.data)
        data.is_valid(raise_exception=True)
        reason = data.validated_data.get("reason") or ""
        changed = contacts_set_subscription(
            contacts=Contact.objects.filter(pk=contact.pk),
            subscribed=subscribed,
            reason=Contact.SubscriptionReason.ADMIN,
            at=timezone.now(),
            source=f"api: {request.user.get_username()}" + (f": {reason}" if reason else ""),
        )
        if changed:
            verb = "Resubscribed" if subscribed else "Unsubscribed"
            history_log(user=request.user, obj=contact, flag=CHANGE, message=f"{verb}: {reason}".rstrip(": "))
        return Response(ContactOut(self.get_queryset().get(pk=contact.pk), context=self.get_serializer_context()).data)


def _as_csv(items: list) -> io.BytesIO:
    """The items as the CSV the import reads (one row each, in order: an invalid row's line is its index + 2)."""
    keys = sorted({str(key) for item in items for key in item.get("attributes") or {}})
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["phone", "name", "first_name", "language", "tags", *keys])
    for item in items:
        attributes = {str(key): value for key, value in (item.get("attributes") or {}).items()}
        row = [_cell(item.get(name)) for name in ("phone", "name", "first_name", "language")]
        row.append(",".join(str(tag) for tag in item.get("tags") or []))
        row += [_cell(attributes.get(key)) for key in keys]
        writer.writerow(row)
    return io.BytesIO(text.getvalue().encode())


def _cell(value) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


class TagOut(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name"]


class TagViewSet(ApiModelViewSet):
    queryset = Tag.objects.order_by("name")
    serializer_class = TagOut
    filterset_fields = ["name"]
    ordering_fields = ["id", "name"]


class ImportOut(serializers.Serializer):
    id = serializers.CharField(help_text="The import job's id.")
    url = serializers.CharField(help_text="Poll this URL for its progress.")
    state = serializers.CharField()
    finished = serializers.BooleanField()
    ok = serializers.BooleanField(allow_null=True)
    percent = serializers.IntegerField(allow_null=True)
    message = serializers.CharField()
    result = serializers.DictField(allow_null=True, help_text="Counts once finished: created, updated, invalid ...")
    rejected = serializers.ListField(child=serializers.DictField(), help_text="Rejected rows: line and reason.")


class ImportIn(serializers.Serializer):
    file = serializers.FileField(help_text="A CSV or .xlsx file, as the admin's import takes.")
    tag = serializers.CharField(required=False, allow_blank=True)
    update = serializers.BooleanField(required=False, default=False)
    region = serializers.CharField(required=False, allow_blank=True, max_length=2)
    language = serializers.CharField(required=False, allow_blank=True, max_length=15)


class ImportViewSet(ApiViewSet):
    """CSV imports as jobs: POST a file (202 and the job's URL), then GET the job for progress and rejected rows."""

    model = Contact
    serializer_class = ImportOut
    pagination_class = None
    filter_backends = []
    action_permissions = {
        "create": ["audiences.add_contact", "audiences.change_contact"],
        "retrieve": ["audiences.view_contact"],
    }
    lookup_value_regex = "[0-9a-f]{32}"

    @extend_schema(request={"multipart/form-data": ImportIn}, responses={202: ImportOut})
    def create(self, request):
        data = ImportIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        upload = values["file"]
        token = import_jobs.import_upload_store(chunks=upload.chunks())
        options = {
            "filename": upload.name,
            **{key: values.get(key) or "" for key in ("tag", "region", "language")},
            "update": values.get("update", False),
        }
        task_id = import_jobs.import_start(token=token, options=options, dry_run=False, user_id=request.user.pk)
        body = self._job(task_id)
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})

    @extend_schema(responses={200: ImportOut})
    def retrieve(self, request, pk=None):
        return Response(self._job(pk))

    def _job(self, task_id: str) -> dict:
        job = import_jobs.import_job(task_id=task_id)
        outcome = job.outcome or {}
        result = outcome.get("result")
        if result and not can_see_phones(self.request.user):  # a rejected row's reason may quote its number
            result = {**result, "invalid": [{**row, "reason": mask_phones_in_text(row["reason"])}
                                             for row in result.get("invalid", [])]}  # fmt: skip
            result["sample"] = [{**row, "phone": mask_phone(row.get("phone"))} for row in result.get("sample", [])]
        return {
            "id": task_id,
            "url": self.request.build_absolute_uri(f"/api/v1/imports/{task_id}/"),
            "state": job.state,
            "finished": job.finished,
            "ok": job.ok,
            "percent": job.percent,
            "message": str(job.message),
            "result": result,
            "rejected": (result or {}).get("invalid", []),
        }
