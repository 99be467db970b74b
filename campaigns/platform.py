"""Campaigns follow their template's state at Meta (docs/architecture.md, "Platform events").

The receiver of `whatsapp.signals.template_status_changed` (sent once per
new template status event, never for a replay): a template paused, disabled
or rejected pauses every running or scheduled campaign using it, through the
campaign state machine, with Meta's words as the pause reason; reinstated, it
resumes those the product paused itself when WHATSAPP_RESUME_AFTER_REINSTATE
is on, and otherwise says on Today that they can resume.

Why a setting and not a per-campaign flag: Meta's pause is about the
template's quality, the same for every campaign that uses it, and resuming
sends to the same people with the same words; the operator decides once for
the account. The campaign remembers that the product paused it
(`paused_for_template`), so a campaign an operator paused by hand is never
resumed by Meta's event.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns import states
from campaigns.models import Campaign
from whatsapp.platform import RESUME_EVENTS, STOP_EVENTS, alert_raise

logger = logging.getLogger(__name__)

C = Campaign.Status
TEMPLATE_RESUMABLE = "template_resumable"


def campaigns_pause_for_template(*, template_ids: list[int], words: str, now: dt.datetime) -> list[int]:
    """running/scheduled -> paused for every campaign of these templates, with Meta's words; the ids paused.

    Rows already claimed stay with their batch (a send refused for the paused
    template pauses by its error code as before); nothing new is claimed,
    since the batch claims only running campaigns.
    """
    campaigns = Campaign.objects.filter(template_id__in=template_ids, status__in=[C.RUNNING, C.SCHEDULED])
    ids = list(campaigns.values_list("id", flat=True))
    reason = _("Its template was paused by Meta: %(words)s") % {"words": words}
    with transaction.atomic():
        states.campaigns_move(
            Campaign.objects.filter(pk__in=ids),
            to=C.PAUSED,
            from_={C.RUNNING, C.SCHEDULED},
            now=now,
            pause_reason=reason,
            pause_error_code=None,
            paused_for_template=True,
        )
    return ids


def campaigns_resume_for_template(*, template_ids: list[int], words: str, now: dt.datetime) -> list[int]:
    """paused -> running (scheduled when its start is ahead) for the campaigns the product paused for these templates.

    Only with WHATSAPP_RESUME_AFTER_REINSTATE; otherwise nothing moves and an
    alert on Today lists them. Returns the ids resumed.
    """
    waiting = Campaign.objects.filter(template_id__in=template_ids, status=C.PAUSED, paused_for_template=True)
    names = list(waiting.values_list("name", flat=True)[:20])
    if not names:
        return []
    if not settings.WHATSAPP_RESUME_AFTER_REINSTATE:
        alert_raise(
            kind=TEMPLATE_RESUMABLE,
            severity="warning",
            message=_(
                "Meta approved their template again (%(words)s): %(campaigns)s can resume. Resume them on their "
                "pages (or set WHATSAPP_RESUME_AFTER_REINSTATE to resume them by themselves)."
            )  # fmt: skip
            % {"words": words, "campaigns": ", ".join(names)},
            words=words,
            now=now,
        )
        return []
    ids = list(waiting.values_list("id", flat=True))
    cleared = {"pause_reason": "", "pause_error_code": None, "paused_for_template": False}
    with transaction.atomic():
        later = Campaign.objects.filter(pk__in=ids, start_at__gt=now)
        states.campaigns_move(later, to=C.SCHEDULED, from_={C.PAUSED}, now=now, **cleared)
        due = Campaign.objects.filter(Q(start_at__isnull=True) | Q(start_at__lte=now), pk__in=ids)
        states.campaigns_move(due, to=C.RUNNING, from_={C.PAUSED}, now=now, **cleared)
    alert_raise(
        kind=TEMPLATE_RESUMABLE,
        severity="info",
        message=_("Meta approved their template again (%(words)s): %(campaigns)s resumed.")
        % {"words": words, "campaigns": ", ".join(names)},
        words=words,
        now=now,
    )
    return ids


def template_status_changed(sender, templates, event, **kwargs) -> None:
    """Receiver of whatsapp.signals.template_status_changed (connected in CampaignsConfig.ready)."""
    now = timezone.now()
    ids = [template.pk for template in templates]
    if event.event in STOP_EVENTS:
        paused = campaigns_pause_for_template(template_ids=ids, words=event.words, now=now)
        if paused:
            logger.warning("template %s %s: campaigns %s paused", event.template_name, event.event, paused)
    elif event.event in RESUME_EVENTS or event.title == "UNPAUSE":
        campaigns_resume_for_template(template_ids=ids, words=event.words, now=now)
