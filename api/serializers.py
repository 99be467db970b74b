"""Fields shared by the API's serializers."""

from __future__ import annotations

from rest_framework import serializers

from audiences.phones import phone_for


class PhoneField(serializers.CharField):
    """A phone as the request's user may see it: whole with audiences.view_phone_numbers, else masked as the admin."""

    def to_representation(self, value):
        request = self.context.get("request")
        return phone_for(getattr(request, "user", None), value)


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details, as every error is answered (application/problem+json)."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    instance = serializers.CharField()
    errors = serializers.JSONField(required=False, help_text="Field -> messages, as the services report them.")
