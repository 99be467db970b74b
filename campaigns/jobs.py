"""Activation and top-up as background jobs: refused at once or enqueued, then followed on a progress page.

The admin's activate and top-up actions call `campaign_activate_later` /
`campaign_top_up_later`. They refuse at once what the service would refuse
(not a draft / not activated, or CampaignValidationError: nothing enqueued),
else enqueue the task (campaigns/tasks.py) once the request's transaction has
committed and return its id. The task calls the service, which re-checks the
state (a second click finds the campaign no longer a draft), and stores its
progress and outcome in Celery's result backend; `job_progress` reads them
back for the page `admin:campaigns_campaign_job`, which job.js polls.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from celery import uuid
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _

from campaigns.models import Campaign
from campaigns.services import TOP_UP_FROM, CampaignStateError, campaign_validate
from campaigns.tasks import PROGRESS, activate_task, top_up_task

# --- Starting a job -----------------------------------------------------------


def campaign_activate_later(*, campaign: Campaign, skip_reached_by_source: bool | None = None) -> str:
    """Activate in the background: refuse now (CampaignStateError / CampaignValidationError) or enqueue; the job id.

    `skip_reached_by_source` is the operator's answer on the confirmation page
    for a clone (None: keep the campaign's setting); recorded on the campaign
    before the job runs, so a later top-up follows the same choice.
    """
    if campaign.status != Campaign.Status.DRAFT:
        raise CampaignStateError(
            _("Only a draft campaign can be activated; %(campaign)s is %(status)s.")
            % {"campaign": campaign, "status": campaign.status}
        )
    campaign_validate(campaign=campaign, now=timezone.now())
    if skip_reached_by_source is not None and campaign.cloned_from_id is not None:
        Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.DRAFT).update(
            skip_reached_by_source=skip_reached_by_source
        )
    return _enqueue(activate_task, campaign)


def campaign_top_up_later(*, campaign: Campaign) -> str:
    """Top up in the background: refuse now (CampaignStateError) or enqueue; the job id."""
    if campaign.status not in TOP_UP_FROM:
        raise CampaignStateError(
            _("Only an activated campaign can be topped up; %(campaign)s is %(status)s.")
            % {"campaign": campaign, "status": campaign.status}
        )
    return _enqueue(top_up_task, campaign)


def _enqueue(task, campaign: Campaign) -> str:
    task_id = uuid()  # known now, so the operator is sent to the job's page before the task exists
    campaign_id = campaign.pk
    transaction.on_commit(lambda: task.apply_async(args=[campaign_id], task_id=task_id))
    return task_id


# --- Reading a job's progress ---------------------------------------------------


@dataclass(frozen=True)
class JobProgress:
    """What the progress page shows: Celery's state, (done, total) recipients, and the outcome once finished."""

    task_id: str
    state: str
    campaign_id: int | None
    done: int | None
    total: int | None
    finished: bool
    ok: bool | None
    message: str

    @property
    def percent(self) -> int | None:
        """None while nothing is known (the bar is indeterminate)."""
        if self.finished and self.ok:
            return 100
        if self.total is None or self.done is None:
            return None
        return 100 * self.done // self.total if self.total else 100

    def as_dict(self) -> dict:
        return {**asdict(self), "percent": self.percent}


def job_progress(*, task_id: str) -> JobProgress:
    """The job's state from Celery's result backend (PENDING also for an unknown or expired id)."""
    result = activate_task.AsyncResult(task_id)  # same backend for both tasks
    state = result.state
    info = result.info if isinstance(result.info, dict) else {}
    job = {"task_id": task_id, "state": state, "campaign_id": info.get("campaign_id")}
    done, total = info.get("done"), info.get("total")
    if state == "SUCCESS" and info.get("ok"):
        completion = info.get("estimated_completion_date") or "-"
        message = _("Done: %(status)s, recipients added: %(added)s, estimated completion %(completion)s.") % {
            "status": info["status"],
            "added": f"{info['recipients_added']:,}",
            "completion": completion,
        }
        return JobProgress(**job, done=done, total=total, finished=True, ok=True, message=message)
    if state == "SUCCESS":
        errors = "; ".join(info.get("errors") or [_("no reason given")])
        message = _("Refused, nothing changed: %(errors)s") % {"errors": errors}
        return JobProgress(**job, done=done, total=total, finished=True, ok=False, message=message)
    if state == "FAILURE":
        message = _("Failed, nothing changed (it is all or nothing): %(error)r. The worker's log has the details.") % {
            "error": result.info
        }
        return JobProgress(**job, done=None, total=None, finished=True, ok=False, message=message)
    if state == "REVOKED":
        return JobProgress(**job, done=None, total=None, finished=True, ok=False, message=_("Cancelled before it ran."))
    if state == PROGRESS:
        message = (
            _("Added %(done)s of %(total)s recipients.") % {"done": f"{done:,}", "total": f"{total:,}"}
            if total
            else _("Nothing new to add; finishing.")
        )
        return JobProgress(**job, done=done, total=total, finished=False, ok=None, message=message)
    if state == "STARTED":
        message = _("Started: finding the audience's contacts not yet in the campaign.")
    else:
        message = _("Waiting for a worker to start the job (if this lasts, check that the Celery worker runs).")
    return JobProgress(**job, done=None, total=None, finished=False, ok=None, message=message)


# --- Admin: the actions' common part and the progress page ---------------------------


def start_jobs(model_admin, request, queryset, *, start, what: str) -> HttpResponseRedirect | None:
    """Start `start` (campaign_activate_later / _top_up_later) for each campaign, reporting each refusal.

    Each job started is written to the campaign's admin history. One job:
    its progress page; several: a link to each in the messages.
    """
    started = []
    for campaign in queryset.select_related("template", "audience"):
        try:
            task_id = start(campaign=campaign)
        except ValidationError as exc:
            model_admin.message_user(request, f"{campaign}: {'; '.join(exc.messages)}", messages.ERROR)
            continue
        model_admin.log_change(request, campaign, f"{what} started in the background (job {task_id})")
        url = job_url(campaign.pk, task_id)
        model_admin.message_user(
            request,
            format_html(
                _('{campaign}: {what} started. <a href="{url}">Follow its progress</a>.'),
                campaign=campaign,
                what=what,
                url=url,
            ),
        )
        started.append(url)
    return HttpResponseRedirect(started[0]) if len(started) == 1 else None


def job_url(campaign_id: int, task_id: str) -> str:
    return reverse("admin:campaigns_campaign_job", args=[campaign_id, task_id])


def campaign_job_view(request, object_id: str, task_id: str, *, model_admin):
    """The job's progress page; `?format=json` is what job.js polls. Needs the activate permission."""
    if not model_admin.has_activate_permission(request):
        raise PermissionDenied
    campaign = model_admin.get_object(request, unquote(object_id))
    if campaign is None:
        raise Http404(f"No campaign {object_id}.")
    job = job_progress(task_id=task_id)
    if job.campaign_id is not None and job.campaign_id != campaign.pk:
        raise Http404(_("This job is not this campaign's."))
    if request.GET.get("format") == "json":
        return JsonResponse(job.as_dict())
    context = {
        **model_admin.admin_site.each_context(request),
        "title": _("%(campaign)s: adding recipients") % {"campaign": campaign},
        "opts": model_admin.model._meta,
        "original": campaign,
        "job": job,
        "json_url": f"{request.path}?format=json",
    }
    return TemplateResponse(request, "admin/campaigns/campaign/job.html", context)
