"""The messaging limit as Meta sets it: tiers, where each came from, and the one limit the batch uses.

Meta sets the limit per business portfolio, shared by all its numbers
(docs/architecture.md, "Platform events"): unique users reached with
business-initiated templates in a moving 24 hours. We learn it three ways:
the sync (`GET /<PHONE_NUMBER_ID>?fields=whatsapp_business_manager_messaging_limit,quality_rating`,
`messaging_limit_sync`), the `business_capability_update` and
`phone_number_quality_update` webhooks (`sender_tier_record`), or, with no
credentials at all, the WHATSAPP_DAILY_LIMIT setting. `messaging_limit` is
the one read of it: the tier's limit, capped by WHATSAPP_DAILY_LIMIT when set.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q

logger = logging.getLogger(__name__)

# An unlimited tier still needs a number for the quota's arithmetic: far above any real send.
UNLIMITED = 1_000_000_000
# Meta's limit for a new business portfolio: what we assume before any sync, webhook or setting says otherwise.
NEW_PORTFOLIO_LIMIT = 250

# Meta's tiers (messaging limits docs and the phone_number_quality_update reference). TIER_1K is legacy
# (per-number limits before October 2025): parsed, and taken at its word, 1,000.
TIERS: dict[str, int] = {
    "TIER_50": 50,
    "TIER_250": 250,
    "TIER_1K": 1_000,
    "TIER_2K": 2_000,
    "TIER_10K": 10_000,
    "TIER_100K": 100_000,
    "TIER_UNLIMITED": UNLIMITED,
}
# business_capability_update sends numbers: -1 is unlimited.
_BY_NUMBER = {value: name for name, value in TIERS.items()} | {-1: "TIER_UNLIMITED"}

SYNC_FIELDS = "whatsapp_business_manager_messaging_limit,quality_rating"


def tier_from(raw) -> str:
    """A TIER_* name from what Meta sent ("TIER_2K", "tier_2k", 2000, "2000", -1, {"current_limit": ...}); "" if none.

    TIER_NOT_SET (a number that never sent) and values we do not know give
    "": the caller keeps what it had and notes what came.
    """
    if isinstance(raw, dict):  # an object answer: read its first tier-looking value
        for key in ("current_limit", "tier", "value", "messaging_limit"):
            if key in raw:
                return tier_from(raw[key])
        return ""
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        return ""
    text = str(raw).strip().upper()[:40]
    if text in TIERS:
        return text
    if text in ("UNLIMITED", "TIER_UNLIMITED"):
        return "TIER_UNLIMITED"
    try:
        number = int(float(text))
    except (ValueError, OverflowError):
        return ""
    return _BY_NUMBER.get(number, "")


@dataclass(frozen=True)
class Limit:
    """The messaging limit in force: `value` unique users per 24 h, and why.

    `source`: what decided `value`: "sync" or "webhook" (Meta's tier),
    "setting" (WHATSAPP_DAILY_LIMIT, alone or as a ceiling below the tier),
    "default" (nothing known: a new portfolio's 250). `tier`, `tier_source`
    and `at`: the tier Meta last gave, how and when ("" / None: none yet).
    """

    value: int
    source: str
    at: dt.datetime | None
    tier: str = ""
    tier_source: str = ""

    @property
    def unlimited(self) -> bool:
        return self.value >= UNLIMITED


def messaging_limit(now: dt.datetime) -> Limit:
    """The limit the batch may use at `now`: Meta's tier, capped by WHATSAPP_DAILY_LIMIT when that is set.

    The tier is the portfolio's, shared by its numbers: the one learned last
    (by sync or webhook) on any sender number. With no tier known, the
    setting alone, else a new portfolio's limit. `now` is the caller's clock;
    the latest tier is used whatever it is (a tier is a fact about the
    account, not about an instant of the ledger).
    """
    from whatsapp.models import Sender

    known = (
        Sender.objects.exclude(tier_at__isnull=True)
        .filter(messaging_tier__in=list(TIERS))
        .order_by("-tier_at", "-id")
        .values_list("messaging_tier", "tier_source", "tier_at")
        .first()
    )
    ceiling = settings.WHATSAPP_DAILY_LIMIT
    if known is None:
        if ceiling is not None:
            return Limit(value=max(0, int(ceiling)), source="setting", at=None)
        return Limit(value=NEW_PORTFOLIO_LIMIT, source="default", at=None)
    tier, source, at = known
    value = TIERS[tier]
    if ceiling is not None and int(ceiling) < value:
        return Limit(value=max(0, int(ceiling)), source="setting", at=at, tier=tier, tier_source=source)
    return Limit(value=value, source=source, at=at, tier=tier, tier_source=source)


def sender_tier_record(
    *, tier: str, source: str, at: dt.datetime, quality: str = "", phone_number_ids: list[str] | None = None
) -> int:
    """Record the portfolio's tier (and a number's quality) learned at `at`; returns how many numbers took it.

    The tier is the portfolio's, so it goes to every sender number (or those
    of `phone_number_ids` for a quality). Only forward in time: a replayed or
    late webhook older than what we know changes nothing. Makes the first
    sender from the settings when there is none yet.
    """
    from whatsapp.models import Sender
    from whatsapp.services import sender_default

    if tier not in TIERS:
        return 0
    sender_default()
    later = Q(tier_at__isnull=True) | Q(tier_at__lt=at)
    if source == "webhook":
        # Webhook times are whole seconds: a sync within the same second may have read the tier before the change.
        later |= Q(tier_source="sync", tier_at__lt=at + dt.timedelta(seconds=1))
    changed = Sender.objects.filter(later).update(messaging_tier=tier, tier_source=source, tier_at=at)
    if quality:
        numbers = (
            Sender.objects.all()
            if phone_number_ids is None
            else Sender.objects.filter(phone_number_id__in=phone_number_ids)
        )
        numbers.update(quality_rating=quality[:60])
    return changed


@dataclass(frozen=True)
class SyncResult:
    synced: int  # numbers Meta answered for
    tier: str  # the portfolio's tier it answered ("" when none readable)
    skipped: str = ""  # why nothing was asked (no credentials: the backend cannot ask Meta)

    def __str__(self) -> str:
        if self.skipped:
            return self.skipped
        return f"{self.synced} number(s) synced: {self.tier or 'no tier in the answer'}"


def messaging_limit_sync(*, now: dt.datetime, backend=None) -> SyncResult:
    """Ask Meta each sender number's tier and quality and record them (the command, the beat task, the admin button).

    A backend that cannot ask Meta (console, no credentials) syncs nothing
    and says so: WHATSAPP_DAILY_LIMIT (or a new portfolio's limit) stays in
    force. A refused request raises WhatsAppError: the caller reports it.
    """
    from whatsapp.backends import get_backend
    from whatsapp.models import Sender
    from whatsapp.services import sender_default

    backend = backend or get_backend()
    sender_default()
    synced, last_tier = 0, ""
    for sender in Sender.objects.order_by("id"):
        info = backend.phone_number_info(sender.phone_number_id, SYNC_FIELDS)
        if info is None:
            return SyncResult(
                synced=0, tier="", skipped="this WhatsApp backend cannot ask Meta: the limit stays the setting's"
            )
        tier = tier_from(info.get("whatsapp_business_manager_messaging_limit"))
        quality = str(info.get("quality_rating") or "").upper()[:60]
        if tier:
            sender_tier_record(tier=tier, source="sync", at=now, quality=quality,
                               phone_number_ids=[sender.phone_number_id])  # fmt: skip
            last_tier = tier
        elif quality:
            Sender.objects.filter(pk=sender.pk).update(quality_rating=quality)
        if not tier:
            logger.warning("messaging limit sync: %s answered no readable tier: %r", sender, info)
        synced += 1
    return SyncResult(synced=synced, tier=last_tier)
