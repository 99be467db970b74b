from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        from campaigns import checks  # noqa: F401 (registers the system checks)
        from campaigns.platform import template_status_changed
        from campaigns.replies import reply_received
        from campaigns.services import recipients_apply_statuses
        from campaigns.testsends import testsends_apply_statuses
        from whatsapp.signals import message_received, statuses_received
        from whatsapp.signals import template_status_changed as template_signal

        # A body's statuses at once (one statement per batch), not one receiver call per status.
        statuses_received.connect(recipients_apply_statuses, dispatch_uid="campaigns.recipients_apply_statuses")
        statuses_received.connect(testsends_apply_statuses, dispatch_uid="campaigns.testsends_apply_statuses")
        # A template paused or reinstated at Meta pauses or resumes its campaigns (campaigns/platform.py).
        template_signal.connect(template_status_changed, dispatch_uid="campaigns.template_status_changed")
        # A reply to a campaign message (context.id, or within REPLY_ATTRIBUTION_HOURS of a delivery).
        message_received.connect(reply_received, dispatch_uid="campaigns.reply_received")
