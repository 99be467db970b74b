"""Campaigns, their recipients (the outbox, one row per message) and the quota ledger.

Models hold data and constraints; every state change lives in services.py
(conditional UPDATEs that name the states they move from).
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from audiences.phones import mask_phone


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", pgettext_lazy("campaign status", "Draft")
        SCHEDULED = "scheduled", pgettext_lazy("campaign status", "Scheduled")
        RUNNING = "running", pgettext_lazy("campaign status", "Running")
        PAUSED = "paused", pgettext_lazy("campaign status", "Paused")
        COMPLETED = "completed", pgettext_lazy("campaign status", "Completed")
        CANCELLED = "cancelled", pgettext_lazy("campaign status", "Cancelled")

    name = models.CharField(verbose_name=_("name"), max_length=200)
    template = models.ForeignKey(
        "whatsapp.MessageTemplate", verbose_name=_("template"), on_delete=models.PROTECT, related_name="campaigns"
    )
    parameters = models.JSONField(
        verbose_name=_("parameters"),
        default=list,
        blank=True,
        help_text=_(
            "One value per body placeholder, in order. Placeholders: {{contact.first_name}}, "
            "{{contact.name}}, {{contact.phone}}, {{contact.attributes.city}}; {{contact.first_name|there}} "
            "gives a default."
        ),
    )
    header_parameters = models.JSONField(
        verbose_name=_("header parameters"),
        default=list,
        blank=True,
        help_text=_("One value per placeholder of a text header, in order; same placeholders as the body."),
    )
    button_parameters = models.JSONField(
        verbose_name=_("button parameters"),
        default=list,
        blank=True,
        help_text=_("One value per URL button with a variable suffix, in button order; same placeholders as the body."),
    )
    link_url = models.CharField(
        verbose_name=_("link destination"),
        max_length=2000,
        blank=True,
        db_default="",
        help_text=_(
            "Where a tracked link leads (https://..., UTM parameters and {{contact.*}} placeholders allowed). "
            "Set: the template's URL button ends in each recipient's own token (/r/<token>), and {{link}} "
            "in the body is the tracked link. Clicks are counted per recipient."
        ),
    )
    header_media_url = models.URLField(
        verbose_name=_("header media url"),
        blank=True,
        help_text=_("For templates with an image/video/document header."),
    )
    audience = models.ForeignKey(
        "audiences.Audience", verbose_name=_("audience"), on_delete=models.PROTECT, related_name="campaigns"
    )
    sender = models.ForeignKey(
        "whatsapp.Sender",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
        verbose_name=_("sender"),
        help_text=_("The phone number it sends from. Empty: the first sender number."),
    )
    priority = models.PositiveIntegerField(
        verbose_name=_("priority"),
        default=1,
        validators=[MinValueValidator(1)],
        help_text=_("Share of the daily limit, relative to others."),
    )
    start_at = models.DateTimeField(
        verbose_name=_("start at"), null=True, blank=True, help_text=_("Empty: starts as soon as it is activated.")
    )
    end_at = models.DateTimeField(
        verbose_name=_("end at"), null=True, blank=True, help_text=_("What is still pending then is cancelled.")
    )
    daily_cap = models.PositiveIntegerField(
        verbose_name=_("daily cap"), null=True, blank=True, help_text=_("At most this many messages a day.")
    )
    status = models.CharField(
        verbose_name=_("status"), max_length=20, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    pause_reason = models.TextField(verbose_name=_("pause reason"), blank=True)
    pause_error_code = models.IntegerField(
        verbose_name=_("pause error code"),
        null=True,
        blank=True,
        help_text=_("The WhatsApp error code that paused the campaign (empty when paused by hand)."),
    )
    # Paused by the product because Meta paused, disabled or rejected its template (campaigns/platform.py): what
    # a reinstated template may resume by itself (WHATSAPP_RESUME_AFTER_REINSTATE); a resume by hand clears it.
    paused_for_template = models.BooleanField(
        verbose_name=_("paused for its template"), default=False, db_default=False, editable=False
    )
    estimated_completion_date = models.DateField(verbose_name=_("estimated completion date"), null=True, blank=True)
    budget = models.DecimalField(
        verbose_name=_("budget"),
        max_digits=14,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text=_(
            "At most this much spent on WhatsApp's charges (rate card currency): the batch claims no message "
            "whose estimated price would pass it, and the campaign pauses when it is reached. Empty: no budget."
        ),
    )
    # What activation and top-ups expect it to cost (campaigns/costs.py), and its rate card's currency.
    cost_estimated = models.DecimalField(
        verbose_name=_("estimated cost"), max_digits=16, decimal_places=6, null=True, blank=True, editable=False
    )
    # A clone remembers its source so that its activation can leave out whoever the source already reached.
    cloned_from = models.ForeignKey(
        "self",
        verbose_name=_("cloned from"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="clones",
        editable=False,
    )
    skip_reached_by_source = models.BooleanField(
        verbose_name=_("skip reached by source"),
        default=True,
        help_text=_("For a clone: leave out, at activation and top-up, everyone its source campaign already reached."),
    )

    # Counters, kept equal to a recount of the recipient rows (campaign_recount).
    total = models.PositiveIntegerField(verbose_name=_("total"), default=0)
    pending = models.IntegerField(verbose_name=_("pending"), default=0)
    queued = models.IntegerField(verbose_name=_("queued"), default=0)
    sent = models.IntegerField(verbose_name=_("sent"), default=0)  # sent, delivered or read
    delivered = models.IntegerField(verbose_name=_("delivered"), default=0)  # delivered or read
    read = models.IntegerField(verbose_name=_("read"), default=0)
    failed = models.IntegerField(verbose_name=_("failed"), default=0)
    skipped = models.IntegerField(verbose_name=_("skipped"), default=0)
    unknown = models.IntegerField(verbose_name=_("unknown"), default=0)
    cancelled = models.IntegerField(verbose_name=_("cancelled"), default=0)
    # The pricing of its status webhooks (campaigns/costs.py), kept equal to a recount like the counters above:
    # `billable` recipients priced `regular`, `cost_actual` the sum of their rates.
    billable = models.IntegerField(verbose_name=_("billable"), default=0, db_default=0)
    cost_actual = models.DecimalField(
        verbose_name=_("actual cost"),
        max_digits=16,
        decimal_places=6,
        default=Decimal(0),
        db_default=Decimal(0),
        editable=False,
    )
    # Engagement (campaigns/engagement.py), kept equal to a recount like the above (engagement_counts).
    clicked = models.IntegerField(
        verbose_name=_("clicks"), default=0, db_default=0
    )  # Click rows: every tap of a person
    clickers = models.IntegerField(verbose_name=_("clickers"), default=0, db_default=0)  # recipients with a click
    replied = models.IntegerField(verbose_name=_("replied"), default=0, db_default=0)  # recipients with a reply
    converted = models.IntegerField(
        verbose_name=_("converted"), default=0, db_default=0
    )  # recipients with an attributed order

    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at", "-id"]
        permissions = [
            ("activate_campaign", "Can activate and top up campaigns"),
            ("export_recipients", "Can export recipients' phones"),
        ]

    def __str__(self) -> str:
        return self.name


# The statuses of a recipient the campaign reached: "did not read" and "did not click" are among them
# (audiences/rules.py), and the "did not click" index's condition names them.
REACHED_STATUSES = ("sent", "delivered", "read")


class Recipient(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", pgettext_lazy("recipient status", "Pending")
        QUEUED = "queued", pgettext_lazy("recipient status", "Queued")
        SENT = "sent", pgettext_lazy("recipient status", "Sent")
        DELIVERED = "delivered", pgettext_lazy("recipient status", "Delivered")
        READ = "read", pgettext_lazy("recipient status", "Read")
        FAILED = "failed", pgettext_lazy("recipient status", "Failed")
        SKIPPED = "skipped", pgettext_lazy("recipient status", "Skipped")
        CANCELLED = "cancelled", pgettext_lazy("recipient status", "Cancelled")
        UNKNOWN = "unknown", pgettext_lazy("recipient status", "Unknown")

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="recipients"
    )
    # An erased contact leaves its rows behind (Promise 11, docs/architecture.md):
    # counters must still equal a recount, and the campaign must remember whom
    # it messaged. audiences/erasure.py anonymises them; SET_NULL only catches a
    # delete that bypassed it.
    contact = models.ForeignKey(
        "audiences.Contact",
        verbose_name=_("contact"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="campaign_recipients",
    )
    # E.164, or for an erased contact "#" + 64 hex digits: a keyed hash of the
    # number (audiences.erasure.erased_phone), so one phone is still never
    # messaged twice by a campaign.
    phone = models.CharField(verbose_name=_("phone"), max_length=65)
    position = models.PositiveIntegerField(verbose_name=_("position"), default=0)
    estimated_send_date = models.DateField(verbose_name=_("estimated send date"), null=True, blank=True)
    status = models.CharField(verbose_name=_("status"), max_length=20, choices=Status.choices, default=Status.PENDING)
    # WhatsApp's ids are about 60 characters; an answer longer than this is recorded as `unknown` with the
    # answer kept (campaigns/batch.py, _record_accepted), never a batch abort.
    message_id = models.CharField(verbose_name=_("message id"), max_length=255, null=True, blank=True, unique=True)
    attempts = models.PositiveIntegerField(verbose_name=_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(verbose_name=_("next attempt at"), null=True, blank=True)
    claimed_at = models.DateTimeField(verbose_name=_("claimed at"), null=True, blank=True)
    # The send batch holding this `queued` row (campaigns/leases.py). No foreign key: a lease row is
    # deleted when its batch ends, and a row whose lease is gone or stale is swept.
    lease = models.ForeignKey(
        "SendLease",
        verbose_name=_("lease"),
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # found through the (status, claimed_at) index: queued rows are few
        related_name="+",
    )
    # When the batch handed the row to the network. A swept claim with it set may have reached the user
    # (unknown); without it the request never left (pending again, quota given back).
    dispatched_at = models.DateTimeField(verbose_name=_("dispatched at"), null=True, blank=True)
    queued_at = models.DateTimeField(verbose_name=_("queued at"), null=True, blank=True)
    sent_at = models.DateTimeField(verbose_name=_("sent at"), null=True, blank=True)
    delivered_at = models.DateTimeField(verbose_name=_("delivered at"), null=True, blank=True)
    read_at = models.DateTimeField(verbose_name=_("read at"), null=True, blank=True)
    failed_at = models.DateTimeField(verbose_name=_("failed at"), null=True, blank=True)
    error_code = models.IntegerField(verbose_name=_("error code"), null=True, blank=True)
    error_title = models.CharField(verbose_name=_("error title"), max_length=255, blank=True)
    error_details = models.TextField(verbose_name=_("error details"), blank=True)
    error_reason = models.TextField(verbose_name=_("error reason"), blank=True)
    # WhatsApp's `pricing` of the message (a status webhook's, recorded once: campaigns/costs.py). `price_type`
    # "" means not priced yet; `cost` is the rate applied (0 unless the type is regular, empty when no rate
    # card knew the market and category), `market` the rate card's market of the phone.
    # Database defaults: activation inserts recipients with set-based SQL that names only its own columns.
    price_category = models.CharField(verbose_name=_("price category"), max_length=40, blank=True, db_default="")
    price_type = models.CharField(verbose_name=_("price type"), max_length=40, blank=True, db_default="")
    market = models.CharField(verbose_name=_("market"), max_length=100, blank=True, db_default="")
    cost = models.DecimalField(verbose_name=_("cost"), max_digits=12, decimal_places=6, null=True, blank=True)
    priced_at = models.DateTimeField(verbose_name=_("priced at"), null=True, blank=True)
    # Engagement: written only by the conditional UPDATEs of campaigns/links.py, replies.py and conversions.py.
    clicks = models.PositiveIntegerField(verbose_name=_("clicks"), default=0, db_default=0)
    clicked_at = models.DateTimeField(verbose_name=_("first clicked at"), null=True, blank=True)
    last_clicked_at = models.DateTimeField(verbose_name=_("last clicked at"), null=True, blank=True)
    replied_at = models.DateTimeField(verbose_name=_("replied at"), null=True, blank=True)
    reply_payload = models.CharField(verbose_name=_("reply button"), max_length=256, blank=True, db_default="")
    reply_text = models.CharField(verbose_name=_("reply text"), max_length=256, blank=True, db_default="")
    converted_at = models.DateTimeField(verbose_name=_("converted at"), null=True, blank=True)

    class Meta:
        verbose_name = _("recipient")
        verbose_name_plural = _("recipients")
        constraints = [models.UniqueConstraint(fields=["campaign", "phone"], name="campaigns_recipient_one_per_phone")]
        indexes = [
            # The claim: WHERE campaign = ? AND status = 'pending' ORDER BY position.
            models.Index(fields=["campaign", "status", "position"], name="campaigns_rcpt_claim"),
            # The lease sweep: queued rows whose claim is old.
            models.Index(fields=["status", "claimed_at"], name="campaigns_rcpt_lease"),
            # Admin filters.
            models.Index(fields=["campaign", "error_code"], name="campaigns_rcpt_error"),
            # The dashboard's failures by code: an index-only scan of the campaign's failed rows (a few percent);
            # with the contact, the "failed with this code" outcome's too.
            models.Index(
                fields=["campaign", "error_code"],
                include=["failed_at", "error_title", "contact"],
                condition=models.Q(status="failed"),
                name="campaigns_rcpt_failed",
            ),
            models.Index(fields=["phone"], name="campaigns_rcpt_phone"),
            # The API's recipients in send order by cursor (docs/architecture.md, "API"): no sort, no COUNT.
            models.Index(fields=["campaign", "position", "id"], name="campaigns_rcpt_position"),
            # The replies per button recount (campaign_replies_rebuild): the campaign's replied rows only;
            # with the contact, the "replied (with this button)" outcome's too.
            models.Index(
                fields=["campaign", "reply_payload"],
                include=["reply_text", "contact"],
                condition=models.Q(replied_at__isnull=False),
                name="campaigns_rcpt_replied",
            ),
            # Audiences from outcomes (audiences/rules.py `_outcome_q`): each outcome's rows of a campaign as
            # contact ids in order, an index-only scan the preview merges with the subscribed contacts'
            # (audiences' aud_contact_subscribed). Received, read, did not read and failed by status; the
            # others by their own partial index, whose condition is the outcome's test (replied and failed
            # with a value: campaigns_rcpt_replied and campaigns_rcpt_failed above).
            models.Index(fields=["campaign", "status", "contact"], name="campaigns_rcpt_outcome"),
            models.Index(
                fields=["campaign", "contact"],
                condition=models.Q(status__in=REACHED_STATUSES, clicked_at__isnull=True),
                name="campaigns_rcpt_not_clicked",
            ),
            models.Index(
                fields=["campaign", "contact"],
                condition=models.Q(clicked_at__isnull=False),
                name="campaigns_rcpt_clicked",
            ),
            models.Index(
                fields=["campaign", "contact"],
                condition=models.Q(converted_at__isnull=False),
                name="campaigns_rcpt_converted",
            ),
        ]

    def __str__(self) -> str:
        # Shown where nobody asks who is looking (breadcrumbs, history, logs): the number masked.
        return f"{mask_phone(self.phone)} ({self.status})"


class CampaignDay(models.Model):
    """A campaign's day (calendar day in TIME_ZONE): the plan and what happened, for the dashboard's charts.

    `planned` is how many recipients activation and top-ups planned for the
    day (their estimated send date). The other columns count status changes
    on the day of the event: recipients that became sent (or delivered/read
    without a sent report), delivered, read, failed. They are written in the
    transaction that moves the recipient (campaigns/lifecycle.py), so a
    1,000,000-recipient campaign's dashboard reads a few hundred rows, not
    its recipients.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="days")
    day = models.DateField()
    planned = models.IntegerField(default=0)
    sent = models.IntegerField(default=0)
    delivered = models.IntegerField(default=0)
    read = models.IntegerField(default=0)
    failed = models.IntegerField(default=0)
    # Recipients priced `regular` on the day (of their pricing status) and the sum of their rates.
    billable = models.IntegerField(default=0, db_default=0)
    cost = models.DecimalField(max_digits=16, decimal_places=6, default=Decimal(0), db_default=Decimal(0))
    clicked = models.IntegerField(default=0, db_default=0)  # clicks on the day
    clickers = models.IntegerField(default=0, db_default=0)  # recipients whose first click was on the day
    replied = models.IntegerField(default=0, db_default=0)  # recipients whose first reply was on the day
    converted = models.IntegerField(default=0, db_default=0)  # recipients whose first attributed order was on the day

    class Meta:
        ordering = ["campaign", "day"]
        constraints = [models.UniqueConstraint(fields=["campaign", "day"], name="campaigns_day_one_per_campaign")]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.day}"


class SendLease(models.Model):
    """A live send batch's hold on the rows it claimed (Promise 9, docs/architecture.md).

    The batch renews `renewed_at` while it runs (its heartbeat); the sweep
    takes back only claims whose lease stopped being renewed for
    SEND_CLAIM_LEASE_MINUTES, so a slow batch keeps its claims however long
    it runs. Times follow the batch's own clock: its `now` plus the time it
    has been running (so `send_batch --as-of` stays consistent).
    """

    holder = models.CharField(max_length=200, help_text=_("host:pid of the batch process, for the operator"))
    started_at = models.DateTimeField()
    renewed_at = models.DateTimeField(db_index=True)
    # A chunk's lease (fan-out): made by the batch with its claims, taken (renewed) by the send task that
    # sends them. Until `taken_at` it waits in the queue; a task lost there never renews it, so the sweep
    # gives its rows back to pending.
    chunk = models.BooleanField(default=False)
    taken_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_permissions = ()  # internal to the batch: nobody edits a lease

    def __str__(self) -> str:
        return f"{self.holder} (renewed {self.renewed_at:%Y-%m-%d %H:%M:%S})"


class QuotaLock(models.Model):
    """One row per sender (the business portfolio): locked FOR UPDATE while the quota is counted and reserved.

    Holding it serialises reservations, so two batches can never both see the
    same free capacity: the count-then-insert is race-free.
    """

    name = models.CharField(max_length=50, unique=True)

    def __str__(self) -> str:
        return self.name


class QuotaReservation(models.Model):
    """The quota ledger: one row per message claimed for sending (or a test send), with the phone it goes to.

    Inserted in the claim's transaction before the API call; deleted only when
    the API refused the message before accepting it, or the claim went back
    unsent. The limit counts the distinct phones of the `counted` rows
    (campaigns/quota.py): a message inside the phone's customer-service
    window is not counted. `day` is the calendar day in TIME_ZONE, for the
    per-day and per-campaign breakdown.
    """

    sender = models.CharField(max_length=50, default="default")
    campaign = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    recipient = models.ForeignKey(Recipient, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # E.164 (or an erased contact's hash, or "#<id>" for rows from before phones were recorded): what Meta counts.
    phone = models.CharField(max_length=65, default="")
    # False: sent inside the phone's customer-service window (it wrote to us): Meta's limit does not count it.
    counted = models.BooleanField(default=True)
    reserved_at = models.DateTimeField()
    day = models.DateField()

    class Meta:
        indexes = [
            models.Index(fields=["sender", "reserved_at"], name="campaigns_quota_window"),
            models.Index(fields=["sender", "day", "campaign"], name="campaigns_quota_day"),
            models.Index(fields=["recipient"], name="campaigns_quota_recipient"),
            # "Is this phone already counted in the window / today?" (the claim's cost of a recipient).
            models.Index(fields=["phone", "reserved_at"], name="campaigns_quota_phone"),
        ]

    def __str__(self) -> str:
        return f"{self.sender} {self.reserved_at:%Y-%m-%d %H:%M:%S}"


class TestSend(models.Model):
    """One test message sent from the admin, followed by its status webhooks like a recipient's."""

    __test__ = False  # a model, not a pytest test class

    class Status(models.TextChoices):
        SENT = "sent", pgettext_lazy("recipient status", "Sent")
        DELIVERED = "delivered", pgettext_lazy("recipient status", "Delivered")
        READ = "read", pgettext_lazy("recipient status", "Read")
        FAILED = "failed", pgettext_lazy("recipient status", "Failed")

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="test_sends"
    )
    phone = models.CharField(verbose_name=_("phone"), max_length=20)
    message_id = models.CharField(verbose_name=_("message id"), max_length=255, unique=True)
    rendered_text = models.TextField(verbose_name=_("rendered text"), blank=True)
    status = models.CharField(verbose_name=_("status"), max_length=20, choices=Status.choices, default=Status.SENT)
    sent_by = models.CharField(verbose_name=_("sent by"), max_length=150, blank=True)
    created_at = models.DateTimeField(verbose_name=_("created at"))
    sent_at = models.DateTimeField(verbose_name=_("sent at"), null=True, blank=True)
    delivered_at = models.DateTimeField(verbose_name=_("delivered at"), null=True, blank=True)
    read_at = models.DateTimeField(verbose_name=_("read at"), null=True, blank=True)
    failed_at = models.DateTimeField(verbose_name=_("failed at"), null=True, blank=True)
    error_code = models.IntegerField(verbose_name=_("error code"), null=True, blank=True)
    error_reason = models.TextField(verbose_name=_("error reason"), blank=True)

    class Meta:
        verbose_name = _("test send")
        verbose_name_plural = _("test sends")
        ordering = ["-created_at", "-id"]
        default_permissions = ()  # shown on the campaign's page to whoever may view the campaign

    def __str__(self) -> str:
        return f"test {self.message_id} to {self.phone} ({self.status})"


class BatchContinuation(models.Model):
    """A send batch that scheduled its own next run (the 24-hour window was full, or a retry comes due).

    Written by the send task when it enqueues the continuation, so the admin's
    "Next send batch" can show it; a row whose time has passed means nothing.
    """

    run_at = models.DateTimeField(db_index=True)
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["run_at"]
        default_permissions = ()

    def __str__(self) -> str:
        return f"send batch continuation at {self.run_at:%Y-%m-%d %H:%M:%S}"


class RateCard(models.Model):
    """One import of Meta's published rate card: prices per market and category, from `effective_from` on.

    Never edited after its import (`import_rate_card`, campaigns/ratecards.py): a new price list is a new
    card, so the history stays; the card that applies at an instant is the latest effective on its day.
    Its calling-code table (MarketCode) maps a phone to the card's market.
    """

    effective_from = models.DateField(verbose_name=_("effective from"), db_index=True)
    currency = models.CharField(verbose_name=_("currency"), max_length=3, default="USD")
    source = models.CharField(verbose_name=_("source file"), max_length=255, blank=True)
    markets_source = models.CharField(verbose_name=_("market table file"), max_length=255, blank=True)
    imported_at = models.DateTimeField(verbose_name=_("imported at"))

    class Meta:
        verbose_name = _("rate card")
        verbose_name_plural = _("rate cards")
        ordering = ["-effective_from", "-id"]
        default_permissions = ("view",)  # imported by import_rate_card, never edited: the history stays

    def __str__(self) -> str:
        return f"{self.currency} from {self.effective_from}"


class Rate(models.Model):
    """A rate card's price of one delivered message of a category in a market."""

    card = models.ForeignKey(RateCard, verbose_name=_("rate card"), on_delete=models.CASCADE, related_name="rates")
    market = models.CharField(verbose_name=_("market"), max_length=100)
    # marketing, utility, authentication, authentication_international, service (Meta's pricing categories)
    category = models.CharField(verbose_name=_("category"), max_length=40)
    price = models.DecimalField(verbose_name=_("price"), max_digits=12, decimal_places=6)

    class Meta:
        verbose_name = _("rate")
        verbose_name_plural = _("rates")
        ordering = ["card", "market", "category"]
        default_permissions = ()  # part of its card: seen on the card's page
        constraints = [models.UniqueConstraint(fields=["card", "market", "category"], name="campaigns_rate_one")]

    def __str__(self) -> str:
        return f"{self.market} {self.category}: {self.price}"


class MarketCode(models.Model):
    """A rate card's calling-code table: phones starting with +`calling_code` are in `market` (longest wins)."""

    card = models.ForeignKey(RateCard, verbose_name=_("rate card"), on_delete=models.CASCADE, related_name="codes")
    calling_code = models.CharField(verbose_name=_("calling code"), max_length=8)  # digits only
    country = models.CharField(verbose_name=_("country"), max_length=100, blank=True)
    market = models.CharField(verbose_name=_("market"), max_length=100)

    class Meta:
        verbose_name = _("market calling code")
        verbose_name_plural = _("market calling codes")
        ordering = ["card", "calling_code", "country"]
        default_permissions = ()  # part of its card: seen on the card's page

    def __str__(self) -> str:
        return f"+{self.calling_code} {self.country} -> {self.market}"


class CampaignReply(models.Model):
    """How many of a campaign's recipients replied with each quick-reply payload ("" = a text reply).

    Kept like the counters, in the transaction that records the reply
    (campaigns/replies.py, reply_record), so the dashboard's breakdown per
    button reads a few rows, not the replied recipients.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    payload = models.CharField(max_length=256, blank=True)
    label = models.CharField(max_length=256, blank=True)  # the button's text, as last seen
    count = models.IntegerField(default=0)

    class Meta:
        default_permissions = ()  # shown on the dashboard to whoever may view the campaign
        constraints = [models.UniqueConstraint(fields=["campaign", "payload"], name="campaigns_reply_one_per_payload")]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.payload or '(text)'}: {self.count}"


class CampaignRevenue(models.Model):
    """A campaign's attributed orders and their sum, per currency: kept in the order's transaction
    (campaigns/conversions.py, conversion_record), equal to a sum over its Conversion rows."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(max_digits=24, decimal_places=4, default=0)
    orders = models.IntegerField(default=0)

    class Meta:
        default_permissions = ()  # shown on the dashboard to whoever may view the campaign
        constraints = [
            models.UniqueConstraint(fields=["campaign", "currency"], name="campaigns_revenue_one_per_currency")
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.amount} {self.currency}"


class Click(models.Model):
    """One tap of a person on a recipient's tracked link (/r/<token>); link previews and bots are not recorded."""

    recipient = models.ForeignKey(Recipient, verbose_name=_("recipient"), on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(verbose_name=_("at"))

    class Meta:
        verbose_name = _("click")
        verbose_name_plural = _("clicks")
        default_permissions = ("view",)
        indexes = [
            models.Index(fields=["recipient", "at"], name="campaigns_click_recipient"),
            models.Index(fields=["campaign", "at"], name="campaigns_click_campaign"),
        ]

    def __str__(self) -> str:
        return f"click {self.recipient_id} {self.at:%Y-%m-%d %H:%M:%S}"


class Conversion(models.Model):
    """An order the shop reported, once per order id (the unique constraint), attributed to a recipient or none.

    Attribution (campaigns/conversions.py, conversion_record): the campaign that
    last reached the phone within CONVERSION_ATTRIBUTION_DAYS before the order,
    a click winning over a delivery.
    """

    class Via(models.TextChoices):
        CLICK = "click", _("Click")
        DELIVERY = "delivery", _("Delivery")
        NONE = "", _("Not attributed")

    order_id = models.CharField(verbose_name=_("order id"), max_length=200, unique=True)
    phone = models.CharField(verbose_name=_("phone"), max_length=65, blank=True)
    value = models.DecimalField(verbose_name=_("value"), max_digits=18, decimal_places=4)
    currency = models.CharField(verbose_name=_("currency"), max_length=3)
    at = models.DateTimeField(verbose_name=_("ordered at"))
    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recipient = models.ForeignKey(
        Recipient, verbose_name=_("recipient"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    via = models.CharField(verbose_name=_("attributed by"), max_length=10, choices=Via.choices, blank=True)
    source = models.CharField(verbose_name=_("source"), max_length=20, blank=True)  # api, csv, demo
    created_at = models.DateTimeField(verbose_name=_("recorded at"))

    class Meta:
        verbose_name = _("conversion")
        verbose_name_plural = _("conversions")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["campaign", "currency"], name="campaigns_conv_revenue")]

    def __str__(self) -> str:
        return f"{self.order_id} {self.value} {self.currency}"
