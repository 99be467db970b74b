"""Contacts, their tags and subscription state, the suppression list, and audiences (saved segments).

Invariants kept here: one row per E.164 phone; subscription is one of two
states with when and why; a phone opted out is one Suppression row; an
audience's rules are validated before saving (see audiences/rules.py).
Writes that matter live in services.py (and erasure.py).
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from audiences.fields import TagIdsField


def default_language() -> str:
    return settings.CONTACT_DEFAULT_LANGUAGE


class Tag(models.Model):
    name = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    class Subscription(models.TextChoices):
        SUBSCRIBED = "subscribed", "Subscribed"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"

    class SubscriptionReason(models.TextChoices):
        KEYWORD = "keyword", "Keyword (STOP / START)"
        API_ERROR_131050 = "api_error_131050", "WhatsApp error 131050 (user stopped marketing)"
        USER_PREFERENCES = "user_preferences", "User preferences"
        ADMIN = "admin", "Admin"
        IMPORT = "import", "Import"
        ERASURE = "erasure", "Erasure (the contact was erased)"

    phone = models.CharField(max_length=20, unique=True, help_text="E.164, e.g. +14155550123")
    name = models.CharField(max_length=200, blank=True)
    first_name = models.CharField(max_length=100, blank=True)
    language = models.CharField(
        max_length=15, default=default_language, help_text="WhatsApp template language code, e.g. en_US"
    )
    attributes = models.JSONField(default=dict, blank=True)
    tags = models.ManyToManyField(Tag, related_name="contacts", blank=True)
    # The ids of `tags`, kept by PostgreSQL from the links (migration 0002): a value
    # written any other way is recomputed from them at commit. Stays [] elsewhere.
    tag_ids = TagIdsField(models.BigIntegerField(), default=list, db_default=[], blank=True, editable=False)
    subscription = models.CharField(
        max_length=12, choices=Subscription.choices, default=Subscription.SUBSCRIBED, db_index=True
    )
    subscription_changed_at = models.DateTimeField(null=True, blank=True)
    subscription_reason = models.CharField(max_length=20, choices=SubscriptionReason.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_inbound_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["language"], name="aud_contact_language")]
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

    phone = models.CharField(max_length=20, unique=True, help_text="E.164, e.g. +14155550123")
    reason = models.CharField(max_length=20, choices=Contact.SubscriptionReason.choices)
    source = models.CharField(
        max_length=200, blank=True, help_text="Where the opt-out came from: webhook, send batch, an operator, a file."
    )
    suppressed_at = models.DateTimeField()

    class Meta:
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

    name = models.CharField(max_length=200, unique=True)
    rules = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
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
