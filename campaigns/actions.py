"""The campaign's lifecycle on its own page: the buttons its state and the user's permissions allow.

Each button calls the same service as the changelist's action of the same
name (campaigns/admin.py). The dangerous ones (activate, top up, cancel,
retry failed, resend unknown) first show a confirmation page that says in
numbers what will happen (campaigns/plans.py), like Django's delete_selected;
pause and resume act at once; send test asks for the phone.

URL: admin:campaigns_campaign_lifecycle (<id>/lifecycle/<action>/).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns import jobs, plans, services
from campaigns.models import Campaign
from campaigns.retry import RETRY_FROM, RetryRefused, retry_failed_any

C = Campaign.Status
OPEN = (C.DRAFT, C.SCHEDULED, C.RUNNING, C.PAUSED)


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    permission: str  # has_<permission>_permission on the model admin
    statuses: tuple[str, ...]  # the campaign statuses it applies to
    dangerous: bool  # a confirmation page first
    help: str
    counter: str = ""  # applies only when this counter is above 0


ACTIONS = [
    Action("send_test", gettext_lazy("Send test"), "change", (*OPEN, C.COMPLETED), False,
           gettext_lazy("Send this message to one phone now")),
    Action("activate", gettext_lazy("Activate"), "activate", (C.DRAFT,), True,
           gettext_lazy("Add the audience as recipients and start sending")),
    Action("top_up", gettext_lazy("Top up"), "activate", tuple(services.TOP_UP_FROM), True,
           gettext_lazy("Add the audience's new matches")),
    Action("pause", gettext_lazy("Pause"), "change", (C.SCHEDULED, C.RUNNING), False,
           gettext_lazy("Stop sending until resumed")),
    Action("resume", gettext_lazy("Resume"), "change", (C.PAUSED,), False, gettext_lazy("Start sending again")),
    Action("retry_failed", gettext_lazy("Retry failed"), "change", tuple(RETRY_FROM), True,
           gettext_lazy("Send again the failures a resend can fix"), counter="failed"),
    Action("resend_unknown", gettext_lazy("Resend unknown"), "change", (C.SCHEDULED, C.RUNNING, C.PAUSED, C.COMPLETED),
           True, gettext_lazy("Send again where WhatsApp never answered"), counter="unknown"),
    Action("cancel", gettext_lazy("Cancel"), "change", OPEN, True,
           gettext_lazy("Cancel every pending recipient; cannot be undone")),
]  # fmt: skip
BY_NAME = {action.name: action for action in ACTIONS}


def available_actions(*, model_admin, request, campaign: Campaign) -> list[Action]:
    """The lifecycle actions this user may run on this campaign in its current state."""
    return [
        action for action in ACTIONS if _allowed(action, model_admin=model_admin, request=request, campaign=campaign)
    ]


def buttons(*, model_admin, request, campaign: Campaign) -> list[tuple[Action, str]]:
    """(action, its URL) for the campaign page's and the dashboard's lifecycle buttons."""
    return [
        (action, lifecycle_url(campaign.pk, action.name))
        for action in available_actions(model_admin=model_admin, request=request, campaign=campaign)
    ]


def _allowed(action: Action, *, model_admin, request, campaign: Campaign) -> bool:
    if campaign.status not in action.statuses:
        return False
    if action.counter and getattr(campaign, action.counter) <= 0:
        return False
    if action.name == "retry_failed" and not retry_failed_any(campaign=campaign):
        return False  # every failure is one a resend cannot fix: a button would lead to "nothing to retry"
    return getattr(model_admin, f"has_{action.permission}_permission")(request)


def lifecycle_url(campaign_id: int, action: str) -> str:
    return reverse("admin:campaigns_campaign_lifecycle", args=[campaign_id, action])


def plan_for(action: str, *, campaign: Campaign, now) -> plans.Plan:
    if action == "activate":
        return plans.activation_plan(campaign=campaign, now=now)
    if action == "top_up":
        return plans.activation_plan(campaign=campaign, now=now, top_up=True)
    if action == "cancel":
        return plans.cancel_plan(campaign=campaign)
    if action == "retry_failed":
        return plans.retry_plan(campaign=campaign)
    return plans.resend_plan(campaign=campaign)


def campaign_lifecycle_view(request, object_id: str, action: str, *, model_admin):
    """GET: the confirmation (or the test form); POST: run the action's service, then back to the campaign."""
    if action not in BY_NAME:
        raise Http404(f"No action {action!r}.")
    campaign = model_admin.get_object(request, unquote(object_id))
    if campaign is None:
        raise Http404(f"No campaign {object_id}.")
    spec = BY_NAME[action]
    if not getattr(model_admin, f"has_{spec.permission}_permission")(request):
        raise PermissionDenied
    change_url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    if not _allowed(spec, model_admin=model_admin, request=request, campaign=campaign):
        model_admin.message_user(
            request,
            _("%(campaign)s is %(status)s: “%(action)s” does not apply to it now.")
            % {"campaign": campaign, "status": campaign.get_status_display(), "action": spec.label},
            messages.WARNING,
        )
        return HttpResponseRedirect(change_url)
    if action == "send_test":
        return send_test_view(request, campaign=campaign, model_admin=model_admin)
    now = timezone.now()
    if request.method != "POST" or (spec.dangerous and request.POST.get("confirm") != "yes"):
        if not spec.dangerous:
            return HttpResponseRedirect(change_url)
        entries = [(campaign, plan_for(action, campaign=campaign, now=now))]
        return confirmation_page(
            request, model_admin=model_admin, action=spec, entries=entries,
            form_action=lifecycle_url(campaign.pk, action), back_url=change_url,
        )  # fmt: skip
    response = run(request, model_admin=model_admin, action=action, campaign=campaign, now=now)
    return response or HttpResponseRedirect(change_url)


def run(request, *, model_admin, action: str, campaign: Campaign, now):
    """Run one action's service on one campaign, report it; a redirect for the background jobs, else None."""
    try:
        if action == "activate":
            return jobs.start_jobs(model_admin, request, Campaign.objects.filter(pk=campaign.pk),
                                   start=activate_later(request), what=_("Activation"))  # fmt: skip
        if action == "top_up":
            return jobs.start_jobs(model_admin, request, Campaign.objects.filter(pk=campaign.pk),
                                   start=jobs.campaign_top_up_later, what=_("Top-up"))  # fmt: skip
        if action == "pause":
            services.campaign_pause(campaign=campaign, now=now, reason=_("Paused by %(user)s") % {"user": request.user})
            message = _("Paused.")
        elif action == "resume":
            services.campaign_resume(campaign=campaign, now=now)
            message = _("Resumed: %(status)s.") % {"status": campaign.get_status_display()}
        elif action == "cancel":
            cancelled = services.campaign_cancel(campaign=campaign, now=now)
            message = _("Cancelled: %(n)s pending recipients cancelled.") % {"n": f"{cancelled:,}"}
        elif action == "retry_failed":
            outcome = services.campaign_retry_failed(
                campaign=campaign, now=now, reopen=request.POST.get("reopen") == "on"
            )
            message = _("%(summary)s Requeued: %(n)s.") % {"summary": outcome.plan.summary, "n": outcome.requeued}
            if outcome.reopened:
                message += " " + _("The campaign was reopened and runs again.")
        elif action == "resend_unknown":
            resent = services.campaign_resend_unknown(campaign=campaign, now=now)
            message = _("Resent: %(n)s unknown requeued.") % {"n": f"{resent:,}"}
        else:  # pragma: no cover (BY_NAME decides)
            raise Http404(action)
    except (ValidationError, RetryRefused) as exc:
        text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        model_admin.message_user(request, f"{campaign}: {text}", messages.ERROR)
        return None
    model_admin.log_change(request, campaign, message)
    model_admin.message_user(request, f"{campaign}: {message}", messages.SUCCESS)
    return None


def activate_later(request):
    """campaign_activate_later with the confirmation page's answer for clones (the box is ticked by default)."""
    skip = request.POST.get("skip_reached_by_source") == "on"
    return partial(jobs.campaign_activate_later, skip_reached_by_source=skip)


def confirmation_page(request, *, model_admin, action: Action, entries, form_action: str, back_url: str, hidden=()):
    """The "are you sure" page of a dangerous action, for one campaign (its page) or several (the changelist)."""
    context = {
        **model_admin.admin_site.each_context(request),
        "title": _("%(action)s: are you sure?") % {"action": action.label},
        "opts": model_admin.model._meta,
        "action": action,
        "entries": entries,
        "original": entries[0][0] if len(entries) == 1 else None,
        "form_action": form_action,
        "back_url": back_url,
        "hidden": hidden,
        "can_confirm": any(not plan.problems for _campaign, plan in entries),
    }
    return TemplateResponse(request, "admin/campaigns/campaign/lifecycle_confirm.html", context)


def send_test_view(request, *, campaign: Campaign, model_admin):
    from campaigns.admin import SendTestForm

    form = SendTestForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            message_id = services.campaign_send_test(
                campaign=campaign, phone=form.cleaned_data["phone"], now=timezone.now(), by=str(request.user)
            )
        except ValidationError as exc:
            form.add_error("phone", exc.messages)
        else:
            model_admin.log_change(
                request, campaign, f"Sent a test to {form.cleaned_data['phone']}: message {message_id}"
            )
            model_admin.message_user(
                request,
                _("Test message sent: %(id)s. Its status appears under “Test sends” below.") % {"id": message_id},
                messages.SUCCESS,
            )
            return HttpResponseRedirect(reverse("admin:campaigns_campaign_change", args=[campaign.pk]) + "#test-sends")
    context = {
        **model_admin.admin_site.each_context(request),
        "title": _("Send a test of %(campaign)s") % {"campaign": campaign},
        "campaign": campaign,
        "original": campaign,
        "form": form,
        "opts": model_admin.model._meta,
        "form_action": lifecycle_url(campaign.pk, "send_test"),
        "back_url": reverse("admin:campaigns_campaign_change", args=[campaign.pk]),
    }
    return TemplateResponse(request, "admin/campaigns/campaign/send_test.html", context)
