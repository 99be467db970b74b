"""Contacts, their tags and subscription state, the suppression list, and audiences (saved segments).

Invariants kept here: one row per E.164 phone; subscription is one of two
states with when and why; a phone opted out is one Suppression row; an
audience's rules are validated before saving (see audiences/rules.py).
Writes that matter live in services.py (and erasure.py).
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from audiences.fields import TagIdsField


def default_language() -> str:
    return settings.CONTACT_DEFAULT_LANGUAGE


class Tag(models.Model):
    name = models.CharField(verbose_name=_("name"), max_length=100, unique=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    class Subscription(models.TextChoices):
        SUBSCRIBED = "subscribed", _("Subscribed")
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")

    class SubscriptionReason(models.TextChoices):
        KEYWORD = "keyword", _("Keyword (STOP / START)")
        API_ERROR_131050 = "api_error_131050", _("WhatsApp error 131050 (user stopped marketing)")
        USER_PREFERENCES = "user_preferences", _("User preferences")
        ADMIN = "admin", _("Admin")
        IMPORT = "import", _("Import")
        ERASURE = "erasure", _("Erasure (the contact was erased)")

    phone = models.CharField(
        verbose_name=_("phone"), max_length=20, unique=True, help_text=_("E.164, e.g. +14155550123")
    )
    name = models.CharField(verbose_name=_("name"), max_length=200, blank=True)
    first_name = models.CharField(verbose_name=_("first name"), max_length=100, blank=True)
    language = models.CharField(
        verbose_name=_("language"),
        max_length=15,
        default=default_language,
        help_text=_("WhatsApp template language code, e.g. en_US"),
    )
    attributes = models.JSONField(verbose_name=_("attributes"), default=dict, blank=True)
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), related_name="contacts", blank=True)
    # The ids of `tags`, kept by PostgreSQL from the links (migration 0002): a value
    # written any other way is recomputed from them at commit. Stays [] elsewhere.
    tag_ids = TagIdsField(
        models.BigIntegerField(), verbose_name=_("tag ids"), default=list, db_default=[], blank=True, editable=False
    )
    subscription = models.CharField(
        verbose_name=_("subscription"),
        max_length=12,
        choices=Subscription.choices,
        default=Subscription.SUBSCRIBED,
        db_index=True,
    )
    subscription_changed_at = models.DateTimeField(verbose_name=_("subscription changed at"), null=True, blank=True)
    subscription_reason = models.CharField(
        verbose_name=_("subscription reason"), max_length=20, choices=SubscriptionReason.choices, blank=True
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)
    last_inbound_at = models.DateTimeField(verbose_name=_("last inbound at"), null=True, blank=True)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        indexes = [
            models.Index(fields=["language"], name="aud_contact_language"),
            # The subscribed contacts' ids in order: an audience preview of campaign outcomes merges them with
            # the campaign's recipient rows (campaigns_rcpt_outcome and the like) without reading a contact.
            models.Index(fields=["id"], condition=models.Q(subscription="subscribed"), name="aud_contact_subscribed"),
        ]
        # Viewers see masked numbers everywhere in the admin; this permission shows them whole.
        permissions = [("view_phone_numbers", "Can see whole phone numbers")]

    def __str__(self) -> str:
        # Shown where nobody asks who is looking (breadcrumbs, history, related-object links, logs): masked.
        from audiences.phones import mask_phone

        return f"{self.name} ({mask_phone(self.phone)})" if self.name else mask_phone(self.phone)

    def save(self, *args, **kwargs):
        if self._state.adding or self.pk is None:
            # A new row has no links yet (a pk=None copy must not carry the
            # original's tag ids): the link triggers fill tag_ids as tags are added.
            self.tag_ids = []
        super().save(*args, **kwargs)

    @property
    def is_subscribed(self) -> bool:
        return self.subscription == self.Subscription.SUBSCRIBED

    def clean(self):
        from audiences.phones import InvalidPhoneNumber, normalize_phone

        if self.phone:
            try:
                self.phone = normalize_phone(self.phone)
            except InvalidPhoneNumber as exc:
                raise ValidationError({"phone": str(exc)}) from exc
        if self.name and not self.first_name:
            self.first_name = derive_first_name(self.name)


class Suppression(models.Model):
    """An opted-out phone number (Promise 8, docs/architecture.md): the send batch never claims it.

    The opt-out belongs to the number, not to a Contact row: it survives the
    contact's phone being edited, the contact being erased and the number being
    imported again. Contact.subscription follows it for display and audiences
    (audiences/services.py keeps both in the same transaction). Only an
    explicit opt-in deletes the row: START, a `resume` preference, or an
    operator's logged resubscribe action; an import never does.
    """

    phone = models.CharField(
        verbose_name=_("phone"), max_length=20, unique=True, help_text=_("E.164, e.g. +14155550123")
    )
    reason = models.CharField(verbose_name=_("reason"), max_length=20, choices=Contact.SubscriptionReason.choices)
    source = models.CharField(
        verbose_name=_("source"),
        max_length=200,
        blank=True,
        help_text=_("Where the opt-out came from: webhook, send batch, an operator, a file."),
    )
    suppressed_at = models.DateTimeField(verbose_name=_("suppressed at"))

    class Meta:
        verbose_name = _("suppression")
        verbose_name_plural = _("suppressions")
        ordering = ["-suppressed_at", "-id"]

    def __str__(self) -> str:
        # Shown where nobody asks who is looking (breadcrumbs, history, logs): masked, as Contact's.
        from audiences.phones import mask_phone

        return f"{mask_phone(self.phone)} ({self.reason})"


def derive_first_name(name: str) -> str:
    parts = (name or "").split()
    return parts[0][:100] if parts else ""


class Audience(models.Model):
    """A named segment. `rules` is the dict described in audiences/rules.py."""

    name = models.CharField(verbose_name=_("name"), max_length=200, unique=True)
    rules = models.JSONField(verbose_name=_("rules"), default=dict)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("audience")
        verbose_name_plural = _("audiences")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        from audiences.rules import validate_rules

        # Stored rules are always valid, whoever saves (admin, command, shell).
        self.rules = validate_rules(self.rules)
        super().save(*args, **kwargs)

    def clean(self):
        from audiences.rules import RuleError, validate_rules

        try:
            self.rules = validate_rules(self.rules, check_tags=True)
        except RuleError as exc:
            # Not keyed to "rules": the admin form has no raw rules field.
            raise ValidationError(exc.messages) from exc
