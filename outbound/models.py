"""Outbound events: endpoints (where), events (what happened), deliveries (one per endpoint) and their attempts.

A Delivery is the outbox row of one event for one endpoint, like Recipient
is for a message: its status, its attempts and when the next one is due.
See docs/architecture.md, "Outbound events".
"""

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _


class EventType(models.TextChoices):
    CAMPAIGN_ACTIVATED = "campaign.activated", _("Campaign activated")
    CAMPAIGN_PAUSED = "campaign.paused", _("Campaign paused")
    CAMPAIGN_RESUMED = "campaign.resumed", _("Campaign resumed")
    CAMPAIGN_COMPLETED = "campaign.completed", _("Campaign completed")
    CAMPAIGN_CANCELLED = "campaign.cancelled", _("Campaign cancelled")
    CONTACT_OPTED_OUT = "contact.opted_out", _("Contact opted out")
    CONTACT_OPTED_IN = "contact.opted_in", _("Contact opted in")
    IMPORT_FINISHED = "import.finished", _("Import finished")
    ALERT_RAISED = "alert.raised", _("Alert raised")
    PING = "ping", _("Ping (a test event sent from the admin)")


class Endpoint(models.Model):
    """A URL that receives the events it subscribed to, signed with its own secret (Standard Webhooks)."""

    url = models.URLField(verbose_name=_("URL"), max_length=2000, help_text=_("Receives a POST per event (HTTPS)."))
    description = models.CharField(verbose_name=_("description"), max_length=200, blank=True)
    event_types = models.JSONField(verbose_name=_("event types"), default=list, blank=True)
    # whsec_<base64>: generated, never edited in a form, never logged; shown to superusers only.
    secret = models.CharField(verbose_name=_("secret"), max_length=100, editable=False)
    active = models.BooleanField(verbose_name=_("active"), default=True)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("event endpoint")
        verbose_name_plural = _("event endpoints")
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.description or self.url

    def save(self, *args, **kwargs):
        if not self.secret:
            from outbound.signing import secret_generate

            self.secret = secret_generate()
        super().save(*args, **kwargs)


class Event(models.Model):
    """Something that happened, as sent: `{id, type, created_at, data}`; its id is the `webhook-id` header."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(verbose_name=_("type"), max_length=40, choices=EventType.choices)
    data = models.JSONField(verbose_name=_("data"), default=dict)
    created_at = models.DateTimeField(verbose_name=_("created at"), db_index=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.pk}"


class Delivery(models.Model):
    """One event for one endpoint: pending until a 2xx (succeeded) or until it gives up (failed).

    `next_attempt_at` is when a pending delivery is due; a worker claims it by
    moving it ahead by the request's lease (services.delivery_attempt), so two
    workers never post the same delivery at once.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    event = models.ForeignKey(Event, verbose_name=_("event"), on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(
        Endpoint, verbose_name=_("endpoint"), on_delete=models.CASCADE, related_name="deliveries"
    )
    status = models.CharField(
        verbose_name=_("status"), max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(
        verbose_name=_("attempts"), default=0, help_text=_("Attempts since it was last (re)sent.")
    )
    next_attempt_at = models.DateTimeField(verbose_name=_("next attempt at"), null=True, blank=True)
    last_status_code = models.PositiveIntegerField(verbose_name=_("last status code"), null=True, blank=True)
    last_error = models.TextField(verbose_name=_("last error"), blank=True)
    created_at = models.DateTimeField(verbose_name=_("created at"))
    finished_at = models.DateTimeField(verbose_name=_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["-created_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["event", "endpoint"], name="outbound_one_delivery_per_endpoint")]
        indexes = [
            # The sweep: pending deliveries by due time.
            models.Index(
                fields=["next_attempt_at"], condition=models.Q(status="pending"), name="outbound_delivery_due"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event.type} → {self.endpoint}"


class Attempt(models.Model):
    """One POST of a delivery: when, how long, what came back (status and the answer's first bytes) or the error."""

    delivery = models.ForeignKey(
        Delivery, verbose_name=_("delivery"), on_delete=models.CASCADE, related_name="attempt_log"
    )
    started_at = models.DateTimeField(verbose_name=_("started at"))
    duration_ms = models.PositiveIntegerField(verbose_name=_("duration (ms)"))
    status_code = models.PositiveIntegerField(verbose_name=_("status code"), null=True, blank=True)
    response = models.TextField(verbose_name=_("response (first bytes)"), blank=True)
    error = models.TextField(verbose_name=_("error"), blank=True)

    class Meta:
        verbose_name = _("attempt")
        verbose_name_plural = _("attempts")
        ordering = ["started_at", "pk"]

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M:%S} {self.status_code or self.error[:40]}"
