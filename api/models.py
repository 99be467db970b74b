"""API keys (stored hashed, tied to a user) and the stored first answers of Idempotency-Keys.

See docs/architecture.md, "API".
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ApiKey(models.Model):
    """A key that acts as its user: the user's groups and permissions decide what it may do.

    Only `prefix` (the key's first characters, to find the row) is kept in
    clear; `hashed` is the SHA-256 of the whole key, which is 256 random bits,
    so a fast hash is enough (nothing to brute-force) and lookups stay cheap.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(verbose_name=_("name"), max_length=100, help_text=_("What uses this key, e.g. the shop."))
    prefix = models.CharField(verbose_name=_("prefix"), max_length=16, unique=True, editable=False)
    hashed = models.CharField(verbose_name=_("hashed key"), max_length=64, editable=False)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(verbose_name=_("last used at"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(verbose_name=_("revoked at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotencyRecord(models.Model):
    """One Idempotency-Key of one user: the request's fingerprint, then its first answer (replayed to retries).

    The UNIQUE (user, key) row is inserted and committed before the request
    runs, so two concurrent requests with the same key cannot both run.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)  # SHA-256 of method, path and body
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)  # null while the first request runs
    response = models.JSONField(null=True, blank=True)
    location = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        default_permissions = ()
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="api_idempotency_one_per_user_key")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status_code or 'running'})"
