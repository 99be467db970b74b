"""Campaigns, their lifecycle, figures and recipients, and the activation jobs: the admin's services.

Lifecycle actions call what the admin's buttons call (campaigns/actions.py
`run`): activation and top-up start the same background jobs
(campaigns/jobs.py) and answer 202 with the job's URL to poll.
"""

from __future__ import annotations

import django_filters
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from api.history import ADDITION, CHANGE, history_log
from api.pagination import PositionCursorPagination
from api.serializers import PhoneField
from api.views.base import ApiModelViewSet, ApiViewSet
from audiences.models import Audience
from audiences.phones import can_see_phones, mask_phones_in_text
from campaigns import jobs, services
from campaigns.models import Campaign, CampaignDay, Recipient
from campaigns.selectors import COUNTERS, campaign_failures, campaign_stats
from whatsapp.models import MessageTemplate, Sender

C = Campaign.Status


class CampaignSerializer(serializers.ModelSerializer):
    template = serializers.PrimaryKeyRelatedField(
        queryset=MessageTemplate.objects.approved(), help_text="An APPROVED template's id."
    )
    audience = serializers.PrimaryKeyRelatedField(queryset=Audience.objects.all())
    sender = serializers.PrimaryKeyRelatedField(queryset=Sender.objects.all(), required=False, allow_null=True)
    parameters = serializers.ListField(
        child=serializers.CharField(allow_blank=True, max_length=1024),
        required=False,
        help_text="The body's placeholders in order, e.g. {{contact.first_name}}.",
    )
    header_parameters = serializers.ListField(
        child=serializers.CharField(allow_blank=True, max_length=1024), required=False
    )
    button_parameters = serializers.ListField(
        child=serializers.CharField(allow_blank=True, max_length=1024), required=False
    )
    problems = serializers.SerializerMethodField(help_text="Why a draft could not be activated now (empty: it can).")

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "template",
            "audience",
            "sender",
            "parameters",
            "header_parameters",
            "button_parameters",
            "header_media_url",
            "priority",
            "start_at",
            "end_at",
            "daily_cap",
            "skip_reached_by_source",
            "status",
            "pause_reason",
            "pause_error_code",
            "estimated_completion_date",
            "cloned_from",
            *COUNTERS,
            "problems",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "status",
            "pause_reason",
            "pause_error_code",
            "estimated_completion_date",
            "cloned_from",
            *COUNTERS,
            "created_at",
            "updated_at",
        ]

    def get_problems(self, campaign: Campaign) -> list[str]:
        if campaign.status != C.DRAFT:
            return []
        return [str(p) for p in services.campaign_problems(campaign=campaign, now=timezone.now())]

    def validate(self, attrs):
        start, end = attrs.get("start_at"), attrs.get("end_at")
        if self.instance is not None:
            start = attrs.get("start_at", self.instance.start_at)
            end = attrs.get("end_at", self.instance.end_at)
        if start and end and end <= start:
            raise serializers.ValidationError({"end_at": [_("The end must come after the start.")]})
        return attrs


class JobOut(serializers.Serializer):
    id = serializers.CharField()
    url = serializers.CharField(help_text="GET it until `finished`.")
    state = serializers.CharField()
    campaign_id = serializers.IntegerField(allow_null=True)
    done = serializers.IntegerField(allow_null=True)
    total = serializers.IntegerField(allow_null=True)
    percent = serializers.IntegerField(allow_null=True)
    finished = serializers.BooleanField()
    ok = serializers.BooleanField(allow_null=True)
    message = serializers.CharField()


def job_body(request, task_id: str) -> dict:
    progress = jobs.job_progress(task_id=task_id).as_dict()
    progress["id"] = progress.pop("task_id")
    progress["message"] = str(progress["message"])
    return {**progress, "url": request.build_absolute_uri(f"/api/v1/jobs/{task_id}/")}


StatsOut = inline_serializer(
    "CampaignStats",
    {
        **{name: serializers.IntegerField() for name in COUNTERS},
        "progress_percentage": serializers.FloatField(),
        "delivery_rate": serializers.FloatField(),
        "read_rate": serializers.FloatField(),
        "failure_rate": serializers.FloatField(),
        "estimated_completion_date": serializers.DateField(allow_null=True),
        "status": serializers.CharField(),
    },
)


class DayOut(serializers.ModelSerializer):
    class Meta:
        model = CampaignDay
        fields = ["day", "planned", "sent", "delivered", "read", "failed"]


class FailureOut(serializers.Serializer):
    error_code = serializers.IntegerField(allow_null=True)
    count = serializers.IntegerField()
    last_at = serializers.DateTimeField(allow_null=True)
    title = serializers.CharField()
    meaning = serializers.CharField()
    action = serializers.CharField()


class ReasonIn(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500)


class RetryIn(serializers.Serializer):
    reopen = serializers.BooleanField(
        required=False, default=False, help_text="Needed on a completed or cancelled campaign: it runs again."
    )


class ActivateIn(serializers.Serializer):
    skip_reached_by_source = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="A clone: leave out whoever its source campaign reached (empty: the campaign's own setting).",
    )


class TestSendIn(serializers.Serializer):
    phone = serializers.CharField(max_length=40)


class CloneIn(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)


class CampaignFilter(django_filters.FilterSet):
    class Meta:
        model = Campaign
        fields = ["status", "audience", "template"]


def _message(text: str) -> dict:
    return {"detail": text}


Message = inline_serializer("ActionDone", {"detail": serializers.CharField(), "campaign": CampaignSerializer()})


class CampaignViewSet(ApiModelViewSet):
    queryset = Campaign.objects.order_by("-id")
    serializer_class = CampaignSerializer
    filterset_class = CampaignFilter
    ordering_fields = ["id"]
    action_permissions = {
        "activate": ["campaigns.activate_campaign"],
        "top_up": ["campaigns.activate_campaign"],
        "clone": ["campaigns.add_campaign", "campaigns.view_campaign"],
        "test_send": ["campaigns.change_campaign"],
    }

    def _done(self, campaign: Campaign, text: str, *, log: bool = True) -> Response:
        if log:
            history_log(user=self.request.user, obj=campaign, flag=CHANGE, message=text)
        campaign.refresh_from_db()
        return Response({"detail": text, "campaign": self.get_serializer(campaign).data})

    def _job(self, campaign: Campaign, task_id: str, what: str) -> Response:
        history_log(user=self.request.user, obj=campaign, flag=CHANGE, message=f"{what} started: job {task_id}")
        body = job_body(self.request, task_id)
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})

    @extend_schema(request=ActivateIn, responses={202: JobOut})
    @action(detail=True, methods=["post"])
    def activate(self, request, pk=None):
        """Add the audience as recipients and start sending: a background job (poll its URL)."""
        campaign = self.get_object()
        data = ActivateIn(data=request.data)
        data.is_valid(raise_exception=True)
        skip = data.validated_data.get("skip_reached_by_source")
        task_id = jobs.campaign_activate_later(campaign=campaign, skip_reached_by_source=skip)
        return self._job(campaign, task_id, "Activation")

    @extend_schema(request=None, responses={202: JobOut})
    @action(detail=True, methods=["post"], url_path="top-up")
    def top_up(self, request, pk=None):
        """Add the audience's new matches: a background job (poll its URL)."""
        campaign = self.get_object()
        return self._job(campaign, jobs.campaign_top_up_later(campaign=campaign), "Top-up")

    @extend_schema(request=ReasonIn, responses={200: Message})
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        campaign = self.get_object()
        data = ReasonIn(data=request.data)
        data.is_valid(raise_exception=True)
        reason = data.validated_data.get("reason") or _("Paused by %(user)s") % {"user": request.user}
        services.campaign_pause(campaign=campaign, now=timezone.now(), reason=reason)
        return self._done(campaign, _("Paused."))

    @extend_schema(request=None, responses={200: Message})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        campaign = self.get_object()
        services.campaign_resume(campaign=campaign, now=timezone.now())
        return self._done(campaign, _("Resumed: %(status)s.") % {"status": campaign.get_status_display()})

    @extend_schema(request=None, responses={200: Message})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        campaign = self.get_object()
        cancelled = services.campaign_cancel(campaign=campaign, now=timezone.now())
        return self._done(campaign, _("Cancelled: %(n)s pending recipients cancelled.") % {"n": f"{cancelled:,}"})

    @extend_schema(request=RetryIn, responses={200: Message})
    @action(detail=True, methods=["post"], url_path="retry-failed")
    def retry_failed(self, request, pk=None):
        campaign = self.get_object()
        data = RetryIn(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = services.campaign_retry_failed(
            campaign=campaign, now=timezone.now(), reopen=data.validated_data["reopen"]
        )
        text = _("%(summary)s Requeued: %(n)s.") % {"summary": outcome.plan.summary, "n": outcome.requeued}
        if outcome.reopened:
            text += " " + _("The campaign was reopened and runs again.")
        return self._done(campaign, text)

    @extend_schema(request=None, responses={200: Message})
    @action(detail=True, methods=["post"], url_path="resend-unknown")
    def resend_unknown(self, request, pk=None):
        campaign = self.get_object()
        resent = services.campaign_resend_unknown(campaign=campaign, now=timezone.now())
        return self._done(campaign, _("Resent: %(n)s unknown requeued.") % {"n": f"{resent:,}"})

    @extend_schema(
        request=TestSendIn, responses={201: inline_serializer("TestSendOut", {"message_id": serializers.CharField()})}
    )
    @action(detail=True, methods=["post"], url_path="test-send")
    def test_send(self, request, pk=None):
        """Send the campaign's message to one phone now (it counts against the messaging limit)."""
        campaign = self.get_object()
        data = TestSendIn(data=request.data)
        data.is_valid(raise_exception=True)
        phone = data.validated_data["phone"]
        message_id = services.campaign_send_test(
            campaign=campaign, phone=phone, now=timezone.now(), by=str(request.user)
        )
        history_log(
            user=request.user, obj=campaign, flag=CHANGE, message=f"Sent a test to {phone}: message {message_id}"
        )
        return Response({"message_id": message_id}, status=status.HTTP_201_CREATED)

    @extend_schema(request=CloneIn, responses={201: CampaignSerializer})
    @action(detail=True, methods=["post"])
    def clone(self, request, pk=None):
        """A new draft with the same message and targeting; nothing of the original's run."""
        campaign = self.get_object()
        data = CloneIn(data=request.data)
        data.is_valid(raise_exception=True)
        copy = services.campaign_clone(
            campaign=campaign, name=data.validated_data.get("name") or None, now=timezone.now()
        )
        history_log(user=request.user, obj=copy, flag=ADDITION, message=f"Cloned from {campaign} (#{campaign.pk})")
        return Response(
            self.get_serializer(copy).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": request.build_absolute_uri(f"/api/v1/campaigns/{copy.pk}/")},
        )

    @extend_schema(responses={200: StatsOut})
    @action(detail=True, methods=["get"])
    def stats(self, request, pk=None):
        """Counters and rates: the same figures as `manage.py campaign_stats --json`."""
        try:  # the selector reads the campaign itself: one query, not two
            return Response(campaign_stats(campaign=Campaign(pk=int(pk))))
        except (Campaign.DoesNotExist, ValueError):
            raise NotFound() from None

    @extend_schema(responses={200: DayOut(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def days(self, request, pk=None):
        """Per calendar day (TIME_ZONE): planned, sent, delivered, read, failed."""
        campaign = self.get_object()
        return Response(DayOut(CampaignDay.objects.filter(campaign_id=campaign.pk).order_by("day"), many=True).data)

    @extend_schema(responses={200: FailureOut(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def failures(self, request, pk=None):
        """Failed recipients by error code, most first, with what the code means and what to do."""
        campaign = self.get_object()
        return Response(
            [
                {
                    "error_code": g.error_code,
                    "count": g.count,
                    "last_at": serializers.DateTimeField().to_representation(g.last_at) if g.last_at else None,
                    "title": g.title,
                    "meaning": str(g.help.meaning),
                    "action": str(g.help.action),
                }
                for g in campaign_failures(campaign=campaign)
            ]
        )


class JobViewSet(ApiViewSet):
    """Activation and top-up jobs: poll until `finished`; `ok` says whether it was done or refused."""

    model = Campaign
    serializer_class = JobOut
    pagination_class = None
    filter_backends = []
    action_permissions = {"retrieve": ["campaigns.view_campaign"]}
    lookup_value_regex = "[0-9a-f-]{32,36}"

    def retrieve(self, request, pk=None):
        return Response(job_body(request, pk))


class RecipientOut(serializers.ModelSerializer):
    phone = PhoneField()
    error_reason = serializers.SerializerMethodField()

    class Meta:
        model = Recipient
        fields = [
            "id",
            "phone",
            "contact",
            "status",
            "position",
            "estimated_send_date",
            "message_id",
            "attempts",
            "next_attempt_at",
            "queued_at",
            "sent_at",
            "delivered_at",
            "read_at",
            "failed_at",
            "error_code",
            "error_title",
            "error_reason",
        ]

    def get_error_reason(self, recipient: Recipient) -> str:
        request = self.context.get("request")
        user = getattr(request, "user", None)
        return recipient.error_reason if can_see_phones(user) else mask_phones_in_text(recipient.error_reason)


class RecipientFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Recipient.Status.choices)
    error_code = django_filters.NumberFilter(min_value=0, max_value=2**31 - 1, decimal_places=0)

    class Meta:
        model = Recipient
        fields = ["status", "error_code"]


class RecipientViewSet(mixins.ListModelMixin, ApiViewSet):
    """A campaign's recipients in send order, by cursor (no COUNT: as fast on the last page as on the first)."""

    serializer_class = RecipientOut
    pagination_class = PositionCursorPagination
    filterset_class = RecipientFilter
    filter_backends = [django_filters.rest_framework.DjangoFilterBackend]
    queryset = Recipient.objects.all()
    action_permissions = {"list": ["campaigns.view_campaign", "campaigns.view_recipient"]}

    def get_queryset(self):
        campaign = get_object_or_404(Campaign.objects.only("pk"), pk=self.kwargs["campaign_pk"])
        return Recipient.objects.filter(campaign_id=campaign.pk).defer(
            "error_details", "lease", "claimed_at", "dispatched_at"
        )
