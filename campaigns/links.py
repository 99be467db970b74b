"""Tracked links (docs/architecture.md, "Engagement"): per-recipient tokens and the redirect's click.

The token is the recipient's id signed with an HMAC of SECRET_KEY
(`recipient_token`). Nothing is stored, so activation stays one INSERT ...
SELECT; a guessed or altered token fails the HMAC check before any query
(constant work, nothing recorded: no enumeration). `click_record` writes a
person's tap in one statement on PostgreSQL: the Click row, the recipient's
clicks, the campaign's and the day's counters, and reads the destination.
Link previews and bots are redirected, never counted (`is_bot`).
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import re
import string
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from campaigns.clock import as_utc, local_day
from campaigns.lifecycle import campaign_day_add
from campaigns.models import Campaign, Click, Recipient
from campaigns.rendering import PLACEHOLDER, _lookup

# --- Tokens ---------------------------------------------------------------------

_DIGITS = string.digits + string.ascii_letters  # base 62: the id part
TAG_LENGTH = 11  # 66 bits of HMAC-SHA256, URL-safe base64
_TOKEN = re.compile(rf"^([0-9A-Za-z]{{1,11}})([A-Za-z0-9_-]{{{TAG_LENGTH}}})$")
_SALT = "campaigns.engagement.link"
# What previews show in place of a recipient's token (never valid: its tag is not an HMAC).
SAMPLE_TOKEN = "PREVIEWtoken0000"  # noqa: S105 (not a secret)


def _b62(n: int) -> str:
    out = ""
    while True:
        n, r = divmod(n, 62)
        out = _DIGITS[r] + out
        if not n:
            return out


def _tag(recipient_id: int, secret) -> str:
    digest = salted_hmac(_SALT, str(recipient_id), secret=secret, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest).decode()[:TAG_LENGTH]


def recipient_token(recipient_id: int) -> str:
    """The recipient's link token: its id in base 62 and an HMAC tag (16 characters up to 916 million rows)."""
    return _b62(recipient_id) + _tag(recipient_id, settings.SECRET_KEY)


def token_recipient_id(token: str) -> int | None:
    """The recipient id a token was made for, or None when it is not one of ours. No query.

    The tag is compared in constant time against SECRET_KEY and its fallbacks
    (links sent before a key rotation keep working while the old key is a fallback).
    """
    match = _TOKEN.match(token or "")
    if match is None:
        return None
    recipient_id = 0
    for char in match.group(1):
        recipient_id = recipient_id * 62 + _DIGITS.index(char)
    if _b62(recipient_id) != match.group(1):  # leading zeros: another spelling of the same id
        return None
    tag = match.group(2)
    for secret in (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ())):
        if hmac.compare_digest(_tag(recipient_id, secret), tag):
            return recipient_id
    return None


def tracked_link(token: str) -> str:
    """The public tracked link of a token: LINK_BASE_URL/r/<token>."""
    return f"{settings.LINK_BASE_URL}/r/{token}"


@lru_cache(maxsize=1)
def _bots(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)


def is_bot(*, method: str, user_agent: str) -> bool:
    """A link preview (WhatsApp's own fetch, HEAD) or a known bot: redirected, never counted as a person."""
    if method.upper() != "GET" or not user_agent.strip():
        return True
    return bool(_bots(settings.LINK_BOT_USER_AGENTS).search(user_agent))


def fill_destination(url: str, contact) -> str:
    """The campaign's destination with {{contact.*}} placeholders filled, each value URL-encoded."""

    def substitute(match: re.Match) -> str:
        value = _lookup(contact, match.group(1)) or (match.group(2) or "").strip()
        return quote(value, safe="")

    return PLACEHOLDER.sub(substitute, url)


def link_problems(*, link_url: str) -> list[str]:
    """What is wrong with a campaign's link destination: it must be an http(s) URL once its placeholders are filled."""
    from django.core.validators import URLValidator

    if not link_url:
        return []
    sample = fill_destination(link_url, _Contact("Alex", "Alex Sample", "+14155550100", "en_US", {}))
    try:
        URLValidator(schemes=["http", "https"])(sample)
    except ValidationError:
        return [_("The link destination must be an http:// or https:// address, not %(url)s.") % {"url": link_url}]
    return []


# --- Clicks -------------------------------------------------------------------------


@dataclass(frozen=True)
class ClickResult:
    destination: str  # where to send the browser ("" when the campaign has no destination)
    counted: bool  # a person's click was recorded


class _Contact:
    """The columns the destination's placeholders read, from the click statement's row."""

    def __init__(self, first_name, name, phone, language, attributes):
        self.first_name, self.name, self.phone, self.language = first_name, name, phone, language
        self.attributes = attributes if isinstance(attributes, dict) else {}


# Everything a click does, in one round trip: the recipient's clicks (its first one makes a clicker), the Click row,
# the campaign's counters and the day's (created on first use). The final SELECT reads the destination and the
# contact's values for its placeholders. A bot's fetch reads the destination only (_DESTINATION_SQL).
# Every tap of a campaign updates its one counter row: its commit does not wait for the WAL flush
# (synchronous_commit off for this transaction only), so the row lock is held for microseconds, not a disk
# flush. A database crash may lose the last moments' clicks, each with its counters: never one without the other.
_CLICK_SQL = """
WITH cfg AS (SELECT set_config('synchronous_commit', 'off', true) AS v),
r AS (
    UPDATE campaigns_recipient SET clicks = clicks + 1, clicked_at = COALESCE(clicked_at, %(at)s),
                                   last_clicked_at = GREATEST(last_clicked_at, %(at)s)
    WHERE id = %(id)s
      AND EXISTS (SELECT 1 FROM campaigns_campaign k WHERE k.id = campaign_id AND k.link_url <> '')
    RETURNING id, campaign_id, (clicks = 1)::int AS first
),
c AS (INSERT INTO campaigns_click (recipient_id, campaign_id, at) SELECT id, campaign_id, %(at)s FROM r),
k AS (
    UPDATE campaigns_campaign SET clicked = clicked + 1, clickers = clickers + r.first FROM r
    WHERE campaigns_campaign.id = r.campaign_id
),
d AS (
    INSERT INTO campaigns_campaignday
        (campaign_id, day, planned, sent, delivered, "read", failed, clicked, clickers, replied, converted)
    SELECT campaign_id, %(day)s, 0, 0, 0, 0, 0, 1, first, 0, 0 FROM r
    ON CONFLICT (campaign_id, day) DO UPDATE SET clicked = campaigns_campaignday.clicked + 1,
                                                 clickers = campaigns_campaignday.clickers + EXCLUDED.clickers
)
SELECT cp.link_url, ct.first_name, ct.name, ct.phone, ct.language, ct.attributes
FROM cfg, campaigns_recipient rc JOIN campaigns_campaign cp ON cp.id = rc.campaign_id
LEFT JOIN audiences_contact ct ON ct.id = rc.contact_id
WHERE rc.id = %(id)s
"""


_DESTINATION_SQL = """
SELECT cp.link_url, ct.first_name, ct.name, ct.phone, ct.language, ct.attributes
FROM campaigns_recipient rc JOIN campaigns_campaign cp ON cp.id = rc.campaign_id
LEFT JOIN audiences_contact ct ON ct.id = rc.contact_id
WHERE rc.id = %(id)s
"""


def _fetch_one(sql: str, params: dict):
    """One row of `sql`, as a server-side prepared statement (psycopg prepares it once per connection): the
    redirect runs the same two statements thousands of times a second, and planning them is most of their cost."""
    import psycopg

    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchone()


def click_record(*, token: str, at: dt.datetime, counted: bool) -> ClickResult | None:
    """A tap on a tracked link: the destination, and the click recorded when `counted` (a person).

    None when the token is not one of ours or its recipient is gone, and no
    destination when its campaign has none: nothing is recorded. Two taps are
    two clicks and one clicker (the recipient's first click moves `clickers`).
    """
    recipient_id = token_recipient_id(token)
    if recipient_id is None:
        return None
    at = as_utc(at)
    if connection.vendor == "postgresql":
        if counted:
            row = _fetch_one(_CLICK_SQL, {"id": recipient_id, "at": at, "day": local_day(at)})
        else:
            row = _fetch_one(_DESTINATION_SQL, {"id": recipient_id})
        if row is None:
            return None
        link_url, *contact = row
        if isinstance(contact[-1], str):  # psycopg returns jsonb parsed; a raw text column on other setups
            import json

            contact[-1] = json.loads(contact[-1])
        return ClickResult(fill_destination(link_url or "", _Contact(*contact)), counted)
    return _click_record_orm(recipient_id, at=at, counted=counted)


def _click_record_orm(recipient_id: int, *, at: dt.datetime, counted: bool) -> ClickResult | None:
    """The same as _CLICK_SQL with the ORM (SQLite)."""
    with transaction.atomic():
        recipient = Recipient.objects.select_related("campaign", "contact").filter(pk=recipient_id).first()
        if recipient is None:
            return None
        if counted and recipient.campaign.link_url:  # no destination: a 404 that records nothing
            first = Recipient.objects.filter(pk=recipient_id, clicks=0).update(
                clicks=1, clicked_at=at, last_clicked_at=at
            )
            if not first:
                Recipient.objects.filter(pk=recipient_id).update(clicks=F("clicks") + 1)
                Recipient.objects.filter(pk=recipient_id).filter(
                    Q(last_clicked_at__isnull=True) | Q(last_clicked_at__lt=at)
                ).update(last_clicked_at=at)
            Click.objects.create(recipient_id=recipient_id, campaign_id=recipient.campaign_id, at=at)
            Campaign.objects.filter(pk=recipient.campaign_id).update(
                clicked=F("clicked") + 1, clickers=F("clickers") + first
            )
            campaign_day_add(
                campaign_id=recipient.campaign_id,
                day=local_day(at),
                counts={"clicked": 1, **({"clickers": 1} if first else {})},
            )
    return ClickResult(fill_destination(recipient.campaign.link_url, recipient.contact), counted)
