"""WhatsApp data: the account's message templates and every webhook body received."""

from __future__ import annotations

import re

from django.db import models
from django.utils.translation import gettext_lazy as _

PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def fill_placeholders(text: str, params) -> str:
    """Fill a template text's placeholders: {{1}} takes the first parameter, named ones go in order of appearance.

    A placeholder without a parameter stays visible as it is ({{2}}).
    """
    params = [str(p) for p in params]
    names = list(dict.fromkeys(match.group(1) for match in PLACEHOLDER.finditer(text)))

    def substitute(match: re.Match) -> str:
        name = match.group(1)
        index = int(name) - 1 if name.isdigit() else names.index(name)
        return params[index] if 0 <= index < len(params) else match.group(0)

    return PLACEHOLDER.sub(substitute, text)


class MessageTemplateQuerySet(models.QuerySet):
    def approved(self) -> MessageTemplateQuerySet:
        """Only APPROVED templates can be offered to campaigns."""
        return self.filter(status=MessageTemplate.Status.APPROVED)


class MessageTemplate(models.Model):
    """A template of the WhatsApp Business account, as last synced (`sync_templates`)."""

    class Status(models.TextChoices):
        APPROVED = "APPROVED", _("Approved")
        PENDING = "PENDING", _("Pending")
        REJECTED = "REJECTED", _("Rejected")
        PAUSED = "PAUSED", _("Paused")
        DISABLED = "DISABLED", _("Disabled")
        IN_APPEAL = "IN_APPEAL", _("In appeal")
        PENDING_DELETION = "PENDING_DELETION", _("Pending deletion")
        DELETED = "DELETED", _("Deleted")
        LIMIT_EXCEEDED = "LIMIT_EXCEEDED", _("Limit exceeded")
        ARCHIVED = "ARCHIVED", _("Archived")
        # Not a Meta status: the template was no longer listed by the account at the last sync.
        MISSING = "MISSING", _("Missing")

    name = models.CharField(verbose_name=_("name"), max_length=512)
    language = models.CharField(verbose_name=_("language"), max_length=20)
    category = models.CharField(verbose_name=_("category"), max_length=30, blank=True)
    status = models.CharField(verbose_name=_("status"), max_length=30, choices=Status.choices, db_index=True)
    components = models.JSONField(verbose_name=_("components"), default=list, blank=True)
    quality = models.CharField(verbose_name=_("quality"), max_length=20, blank=True)
    external_id = models.CharField(verbose_name=_("external id"), max_length=64, blank=True)
    synced_at = models.DateTimeField(verbose_name=_("synced at"), null=True, blank=True)
    # db_default on the new columns: a process of the previous release, still running during a deploy, inserts
    # templates and senders without them.
    # What Meta's webhooks said last (whatsapp/platform.py): the event and its words, the previous quality and
    # category, and when. The times order out-of-order and replayed webhooks: only a later one applies.
    status_event = models.CharField(
        verbose_name=_("last status event"), max_length=60, blank=True, default="", db_default=""
    )
    status_detail = models.TextField(verbose_name=_("Meta's words"), blank=True, default="", db_default="")
    status_changed_at = models.DateTimeField(verbose_name=_("status changed at"), null=True, blank=True)
    previous_quality = models.CharField(
        verbose_name=_("previous quality"), max_length=60, blank=True, default="", db_default=""
    )
    quality_changed_at = models.DateTimeField(verbose_name=_("quality changed at"), null=True, blank=True)
    previous_category = models.CharField(
        verbose_name=_("previous category"), max_length=60, blank=True, default="", db_default=""
    )
    category_changed_at = models.DateTimeField(verbose_name=_("category changed at"), null=True, blank=True)

    objects = MessageTemplateQuerySet.as_manager()

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["name", "language"]
        constraints = [models.UniqueConstraint(fields=["name", "language"], name="whatsapp_template_name_language")]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"

    @property
    def is_approved(self) -> bool:
        return self.status == self.Status.APPROVED

    def component(self, type_: str) -> dict | None:
        for component in self.components or []:
            if str(component.get("type", "")).upper() == type_:
                return component
        return None

    def _text(self, type_: str) -> str:
        component = self.component(type_)
        if component is None or (type_ == "HEADER" and component.get("format", "TEXT").upper() != "TEXT"):
            return ""
        return str(component.get("text") or "")

    @staticmethod
    def _count(text: str) -> int:
        return len(dict.fromkeys(match.group(1) for match in PLACEHOLDER.finditer(text)))

    def body_parameter_count(self) -> int:
        return self._count(self._text("BODY"))

    def header_parameter_count(self) -> int:
        """Placeholders in a TEXT header (a media header takes a media parameter, not text)."""
        return self._count(self._text("HEADER"))

    @property
    def header_format(self) -> str:
        header = self.component("HEADER")
        return str(header.get("format", "TEXT")).upper() if header else ""

    def render_preview(self, body_params: list[str], header_params=()) -> str:
        """The message as the user would read it: header, body and footer with the parameters filled.

        Positional placeholders ({{1}}) take the parameters in order; named ones
        take them in order of first appearance. A missing parameter stays visible.
        """
        parts = []
        header = self.component("HEADER")
        if header:
            if self.header_format == "TEXT":
                parts.append(fill_placeholders(self._text("HEADER"), header_params))
            else:
                parts.append(f"[{self.header_format.lower()}]")
        parts.append(fill_placeholders(self._text("BODY"), body_params))
        footer = self._text("FOOTER")
        if footer:
            parts.append(footer)
        return "\n".join(part for part in parts if part)


class WebhookEvent(models.Model):
    """One webhook POST exactly as received, stored before any processing (Promise 6).

    `received` until a worker processed it (the POST is answered as soon as it
    is stored); then `processed`, or `failed` with the receivers' errors.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        PROCESSED = "processed", _("Processed")
        FAILED = "failed", _("Failed")

    received_at = models.DateTimeField(verbose_name=_("received at"), db_index=True)
    body = models.BinaryField(verbose_name=_("body"))
    signature = models.CharField(verbose_name=_("signature"), max_length=100, blank=True)
    status = models.CharField(
        verbose_name=_("status"), max_length=20, choices=Status.choices, default=Status.RECEIVED, db_index=True
    )
    processed_at = models.DateTimeField(verbose_name=_("processed at"), null=True, blank=True)
    error = models.TextField(verbose_name=_("error"), blank=True)
    # What processing did not take as sent: a clamped timestamp, an unreadable code, a failure after delivery.
    # db_default: a web process of the previous release, still running during a deploy, inserts without it.
    notes = models.TextField(verbose_name=_("notes"), blank=True, default="", db_default="")
    event_count = models.PositiveIntegerField(verbose_name=_("event count"), default=0)
    replay_count = models.PositiveIntegerField(verbose_name=_("replay count"), default=0)
    # What the body carries, e.g. "delivered ×2, read, message (text)" (whatsapp/search.py, when stored).
    carries = models.CharField(_("carries"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        ordering = ["-received_at", "-id"]
        indexes = [
            # The sweep and Today's alert: bodies still waiting for processing, oldest first.
            models.Index(
                fields=["received_at"], condition=models.Q(status="received"), name="whatsapp_webhook_waiting"
            ),
        ]

    def __str__(self) -> str:
        return f"webhook #{self.pk} {self.status} at {self.received_at:%Y-%m-%d %H:%M:%S}"

    @property
    def replayable(self) -> bool:
        """Every stored body can be replayed: parsing and receivers are idempotent."""
        return bool(self.body)

    @property
    def text(self) -> str:
        return bytes(self.body).decode("utf-8", errors="replace")


class WebhookEventKey(models.Model):
    """A user's phone number (E.164) or a message id found in a stored webhook body: what the admin searches by.

    Extracted from the body when it is stored (whatsapp/search.py); an exact,
    indexed lookup finds the bodies that mention a number or a message.
    """

    webhook_event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="keys")
    value = models.CharField(max_length=255)

    class Meta:
        default_permissions = ()  # no admin of its own: seen and searched through its WebhookEvent
        indexes = [models.Index(fields=["value"], name="whatsapp_webhookkey_value")]
        constraints = [
            models.UniqueConstraint(fields=["webhook_event", "value"], name="whatsapp_webhookkey_one_per_event")
        ]

    def __str__(self) -> str:
        return self.value


class Sender(models.Model):
    """One of the business account's phone numbers that sends (docs/architecture.md, "Sender numbers").

    The messaging limit belongs to the business portfolio and is shared by all
    its numbers (campaigns/quota.py); the throughput (messages per second) is
    each number's own (campaigns/throttle.py). The first sender is made from
    the WHATSAPP_* settings when first needed (`sender_default`), so a single
    number works with no admin step.
    """

    phone_number_id = models.CharField(max_length=50, unique=True, help_text="The Cloud API's id of the number.")
    display_phone_number = models.CharField(max_length=30, blank=True, help_text="The number as people see it.")
    business_account_id = models.CharField(max_length=50, blank=True, help_text="Its WhatsApp Business Account.")
    throughput_mps = models.FloatField(
        null=True,
        blank=True,
        help_text="Messages per second this number may send (Meta: 80 by default, up to 1,000). "
        "Empty: WHATSAPP_MAX_MPS.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The messaging limit as Meta last told it (whatsapp/tiers.py): per business portfolio, so every number of
    # the portfolio carries the same tier; the latest one learned wins.
    messaging_tier = models.CharField(
        _("messaging tier"),
        max_length=60,
        blank=True,
        default="",
        db_default="",
        help_text=_("TIER_250, TIER_2K, ... as Meta reports it."),
    )
    quality_rating = models.CharField(_("quality rating"), max_length=60, blank=True, default="", db_default="")
    tier_source = models.CharField(
        _("tier source"), max_length=20, blank=True, default="", db_default="", help_text=_("sync or webhook")
    )
    tier_at = models.DateTimeField(_("tier learned at"), null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("sender number")
        verbose_name_plural = _("sender numbers")
        # Numbers are added by superusers (account configuration, like the WHATSAPP_* settings); the roles see them
        # (their tier and quality) and managers change them (the messaging limit's sync button): whatsapp 0011.
        default_permissions = ("view", "change")

    def __str__(self) -> str:
        return self.display_phone_number or self.phone_number_id

    @property
    def rate(self) -> float:
        """Messages per second for the limiter; 0 or less: unlimited."""
        from django.conf import settings

        return self.throughput_mps if self.throughput_mps is not None else settings.WHATSAPP_MAX_MPS


class PlatformAlert(models.Model):
    """Something Meta's platform did that an operator must know: a template paused, the account restricted, ...

    Raised only through `whatsapp.platform.alert_raise` (the one entry point:
    outbound events will hook onto it). `blocks_sending` alerts stop every
    claim of the send batch until resolved or until `until` passed
    (`whatsapp.platform.sending_blocked`). `key` makes raising idempotent: a
    replayed webhook finds its alert and raises nothing new.
    """

    class Severity(models.TextChoices):
        ERROR = "error", _("Error")
        WARNING = "warning", _("Warning")
        INFO = "info", _("Info")

    kind = models.CharField(_("kind"), max_length=40, db_index=True)
    severity = models.CharField(_("severity"), max_length=10, choices=Severity.choices)
    message = models.TextField(_("message"))
    words = models.TextField(_("Meta's words"), blank=True)
    subject = models.CharField(_("subject"), max_length=255, blank=True, help_text=_("The template or number."))
    key = models.CharField(max_length=255, null=True, blank=True, unique=True, editable=False)
    blocks_sending = models.BooleanField(_("blocks sending"), default=False)
    until = models.DateTimeField(_("until"), null=True, blank=True, help_text=_("Empty: until resolved."))
    raised_at = models.DateTimeField(_("raised at"), db_index=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)

    class Meta:
        verbose_name = _("platform alert")
        verbose_name_plural = _("platform alerts")
        ordering = ["-raised_at", "-id"]
        indexes = [
            models.Index(
                fields=["raised_at"], condition=models.Q(resolved_at__isnull=True), name="whatsapp_alert_open"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message[:80]}"


class LastInbound(models.Model):
    """When a phone last wrote to us: its customer-service window is open for 24 hours after.

    One row per phone (E.164), written by the inbound-message receiver
    (whatsapp/receivers.py), only ever forward in time. Kept per phone, not
    per contact: a contact's number can change, and an inbound message may
    come from a number no contact has yet. Read by the quota
    (campaigns/quota.py): Meta's messaging limit does not count a template
    sent inside an open customer-service window.
    """

    phone = models.CharField(verbose_name=_("phone"), max_length=20, unique=True)
    at = models.DateTimeField(verbose_name=_("last inbound at"))

    class Meta:
        verbose_name = _("last inbound message")
        verbose_name_plural = _("last inbound messages")
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.phone} {self.at:%Y-%m-%d %H:%M:%S}"
