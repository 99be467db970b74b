"""Templates (list, sync), sender numbers, webhook events (list, replay): the whatsapp app's services."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from api.history import CHANGE, history_log
from api.problems import Conflict
from api.views.base import ApiViewSet
from audiences.phones import can_see_phones, mask_phones_in_json
from whatsapp.errors import WhatsAppError
from whatsapp.models import MessageTemplate, Sender, WebhookEvent
from whatsapp.services import templates_sync, webhook_event_replay


class TemplateOut(serializers.ModelSerializer):
    class Meta:
        model = MessageTemplate
        fields = ["id", "name", "language", "category", "status", "quality", "components", "synced_at"]


class TemplateViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    queryset = MessageTemplate.objects.order_by("-id")
    serializer_class = TemplateOut
    filterset_fields = ["name", "language", "status", "category"]
    ordering_fields = ["id", "name"]
    action_permissions = {"sync": ["whatsapp.change_messagetemplate"]}

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "TemplateSyncOut",
                {
                    "created": serializers.IntegerField(),
                    "updated": serializers.IntegerField(),
                    "missing": serializers.IntegerField(),
                },
            )
        },
    )
    @action(detail=False, methods=["post"])
    def sync(self, request):
        """Fetch the WhatsApp account's templates now (as the admin's "Sync templates" action and `sync_templates`)."""
        try:
            result = templates_sync(now=timezone.now())
        except WhatsAppError as exc:
            raise Conflict(str(exc)) from exc
        return Response({"created": result.created, "updated": result.updated, "missing": result.missing})


class SenderOut(serializers.ModelSerializer):
    class Meta:
        model = Sender
        fields = [
            "id",
            "phone_number_id",
            "display_phone_number",
            "business_account_id",
            "throughput_mps",
            "created_at",
        ]


class SenderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    queryset = Sender.objects.order_by("-id")
    serializer_class = SenderOut
    ordering_fields = ["id"]


class WebhookEventOut(serializers.ModelSerializer):
    body = serializers.SerializerMethodField(help_text="The body as received; users' numbers masked for viewers.")

    class Meta:
        model = WebhookEvent
        fields = [
            "id",
            "received_at",
            "status",
            "processed_at",
            "error",
            "notes",
            "event_count",
            "replay_count",
            "carries",
            "body",
        ]

    def get_body(self, event: WebhookEvent) -> str:
        text = bytes(event.body).decode("utf-8", "replace")
        request = self.context.get("request")
        return text if can_see_phones(getattr(request, "user", None)) else mask_phones_in_json(text)


class WebhookEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    queryset = WebhookEvent.objects.order_by("-id")
    serializer_class = WebhookEventOut
    filterset_fields = ["status"]
    ordering_fields = ["id"]
    action_permissions = {"replay": ["whatsapp.change_webhookevent"]}

    @extend_schema(request=None, responses={200: WebhookEventOut})
    @action(detail=True, methods=["post"])
    def replay(self, request, pk=None):
        """Run the stored body through parsing and the receivers again: idempotent, nothing counts twice."""
        event = self.get_object()
        ok = webhook_event_replay(webhook_event=event)
        event.refresh_from_db()
        message = f"Replayed: processed, {event.event_count} event(s)" if ok else "Replayed: failed again"
        history_log(user=request.user, obj=event, flag=CHANGE, message=message)
        return Response(WebhookEventOut(event, context=self.get_serializer_context()).data, status=status.HTTP_200_OK)
