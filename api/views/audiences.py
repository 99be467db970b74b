"""Audiences: CRUD with the admin's validated rules, and the preview (count and sample)."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from api.views.base import ApiModelViewSet
from api.views.contacts import ContactOut
from audiences.indexes import attribute_indexes_follow
from audiences.models import Audience
from audiences.rules import RuleError, describe_rules, empty_rules, validate_rules
from audiences.selectors import audience_preview, audience_rule_warnings

MAX_SAMPLE = 50


class AudienceSerializer(serializers.ModelSerializer):
    rules = serializers.JSONField(
        help_text="everyone, match (any|all), include_tags, exclude_tags, languages, conditions "
        "[{key, op, value}]: the admin's rule builder as JSON; validated by the same rules.",
    )
    description = serializers.SerializerMethodField()

    class Meta:
        model = Audience
        fields = ["id", "name", "rules", "description", "created_at", "updated_at"]
        read_only_fields = ["id", "description", "created_at", "updated_at"]

    def get_description(self, audience: Audience) -> str:
        return str(describe_rules(audience.rules))

    def validate_rules(self, value):
        # The admin's validation (Audience.clean): tags must exist, every condition must be well-formed.
        try:
            return validate_rules({**empty_rules(), **value} if isinstance(value, dict) else value, check_tags=True)
        except RuleError as exc:
            raise serializers.ValidationError(exc.messages) from exc


class AudienceViewSet(ApiModelViewSet):
    queryset = Audience.objects.order_by("-id")
    serializer_class = AudienceSerializer
    filterset_fields = ["name"]
    ordering_fields = ["id", "name"]
    action_permissions = {
        "preview": ["audiences.view_audience", "audiences.view_contact"],
        "preview_rules": ["audiences.view_audience", "audiences.view_contact"],
    }

    # As the admin's save: the attribute indexes follow the rules (PostgreSQL), in the write's transaction.
    def perform_create(self, serializer):
        with transaction.atomic():
            super().perform_create(serializer)
            attribute_indexes_follow()

    def perform_update(self, serializer):
        with transaction.atomic():
            super().perform_update(serializer)
            attribute_indexes_follow()

    def perform_destroy(self, instance):
        with transaction.atomic():
            super().perform_destroy(instance)
            attribute_indexes_follow()

    @extend_schema(
        parameters=[OpenApiParameter("sample", int, description=f"How many contacts to show (0 to {MAX_SAMPLE}).")],
        responses={
            200: inline_serializer(
                "AudiencePreview",
                {
                    "count": serializers.IntegerField(),
                    "sample": ContactOut(many=True),
                    "warnings": serializers.ListField(child=serializers.CharField()),
                },
            )
        },
    )
    @action(detail=True, methods=["get"])
    def preview(self, request, pk=None):
        """The live count of subscribed contacts the audience matches, and the first of them."""
        audience = self.get_object()
        try:
            sample = max(0, min(MAX_SAMPLE, int(request.query_params.get("sample", 10))))
        except ValueError:
            raise serializers.ValidationError({"sample": [_("A whole number.")]}) from None
        preview = audience_preview(audience=audience, sample=sample)
        return Response(
            {
                "count": preview["count"],
                "sample": ContactOut(preview["sample"], many=True, context=self.get_serializer_context()).data,
                "warnings": [str(w) for w in audience_rule_warnings(rules=audience.rules)],
            }
        )
