"""Conversions: the shop's orders, through the same service as the admin's orders upload (campaigns/conversions.py).

POST /api/v1/conversions/ records an order once per order id (a second post
of the same order answers 200 with the first record and changes nothing) and
attributes it to the campaign that last reached the phone within
CONVERSION_ATTRIBUTION_DAYS, a click winning over a delivery
(docs/architecture.md, "Engagement").
"""

from __future__ import annotations

import django_filters
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.response import Response

from api.history import ADDITION, history_log
from api.serializers import PhoneField
from api.views.base import ApiViewSet
from campaigns.conversions import conversion_input, conversion_record
from campaigns.models import Conversion


class ConversionOut(serializers.ModelSerializer):
    phone = PhoneField()
    value = serializers.DecimalField(max_digits=18, decimal_places=4, coerce_to_string=True)
    campaign = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    recipient = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = Conversion
        fields = ["id", "order_id", "phone", "value", "currency", "at", "campaign", "recipient", "via", "source",
                  "created_at"]  # fmt: skip
        read_only_fields = fields


class ConversionIn(serializers.Serializer):
    """The order as the shop reports it. Only its shape is checked here: the service checks the values and names
    every field in error at once (the admin's orders upload reports a CSV row the same way)."""

    order_id = serializers.CharField(max_length=200, help_text="Unique per order: a second post changes nothing.")
    value = serializers.CharField(max_length=40, help_text="A non-negative amount, such as 19.90.")
    currency = serializers.CharField(max_length=40, help_text="ISO 4217, such as EUR.")
    time = serializers.CharField(max_length=64, help_text="When the order was placed: ISO 8601 with its offset.")
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True, help_text="Any format.")
    token = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="The click token of /r/<token>, instead of a phone."
    )


class ConversionFilter(django_filters.FilterSet):
    # Bounded like the database's integer ids: a number past them is a 400, not an overflow in the query.
    campaign = django_filters.NumberFilter(field_name="campaign_id", min_value=1, max_value=2**31 - 1, decimal_places=0)
    order_id = django_filters.CharFilter()
    via = django_filters.ChoiceFilter(choices=Conversion.Via.choices)

    class Meta:
        model = Conversion
        fields = ["campaign", "order_id", "via"]


class ConversionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Orders the shop reported, each attributed to a campaign's recipient or to none."""

    queryset = Conversion.objects.order_by("-id")
    serializer_class = ConversionOut
    filterset_class = ConversionFilter
    ordering_fields = ["id", "at"]

    @extend_schema(request=ConversionIn, responses={200: ConversionOut, 201: ConversionOut})
    def create(self, request):
        data = ConversionIn(data=request.data)
        data.is_valid(raise_exception=True)
        order = conversion_input(dict(data.validated_data))  # Django ValidationError: a problem with field errors
        result = conversion_record(order=order, now=timezone.now(), source="api")
        if result.created:
            history_log(user=request.user, obj=result.conversion, flag=ADDITION, message="Added")
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(ConversionOut(result.conversion, context=self.get_serializer_context()).data, status=code)
