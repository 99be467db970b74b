from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self) -> None:
        from campaigns import checks  # noqa: F401 (registers the system checks)
        from campaigns.services import recipient_apply_status, testsend_apply_status
        from whatsapp.signals import status_received

        status_received.connect(recipient_apply_status, dispatch_uid="campaigns.recipient_apply_status")
        status_received.connect(testsend_apply_status, dispatch_uid="campaigns.testsend_apply_status")
