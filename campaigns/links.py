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
import hashlib
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
from django.utils import timezone
from django.utils.encoding import force_bytes
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


@lru_cache(maxsize=8)
def _tag_key(secret) -> bytes:
    """The HMAC key salted_hmac(_SALT, ..., secret) derives for `secret`, derived once per secret."""
    return hashlib.sha256(force_bytes(_SALT) + force_bytes(secret)).digest()


def _tag(recipient_id: int, secret) -> str:
    """The token's tag: salted_hmac(_SALT, str(recipient_id), secret, "sha256"), with its key derived once
    (tests/campaigns/test_engagement.py checks the two agree)."""
    digest = hmac.digest(_tag_key(secret), str(recipient_id).encode(), "sha256")
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
    if "{{" not in url:
        return url

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


# What every redirect answers besides its Location: every tap must reach us again (a cached redirect is a click we
# never see), and the token stays out of the destination's Referer. The Django view and the WSGI path both send them.
REDIRECT_HEADERS = (
    ("Cache-Control", "no-store, private"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Robots-Tag", "noindex, nofollow"),
)


@dataclass(frozen=True)
class ClickResult:
    destination: str  # where to send the browser ("" when the campaign has no destination)
    counted: bool  # a person's click was recorded


class _Contact:
    """The columns the destination's placeholders read, from the click statement's row."""

    def __init__(self, first_name, name, phone, language, attributes):
        self.first_name, self.name, self.phone, self.language = first_name, name, phone, language
        self.attributes = attributes if isinstance(attributes, dict) else {}


# Everything a batch of taps does, in one round trip and one transaction (`taps_statement` builds its arrays; the
# Django view's tap is a batch of one, the ASGI link server's `ClickWriter` batches the taps that arrive while its
# last statement ran): each tapped recipient's clicks and first and last click times (its first click makes a
# clicker, on the day of that click), a Click row per tap, the campaign's counters and the day's (created on first
# use). The final SELECT reads each tap's destination and its contact's values for the placeholders, by the tap's
# position in the batch. A bot's fetch reads the destination only (_DESTINATIONS_SQL).
# Every tap of a campaign updates its one counter row: its commit does not wait for the WAL flush
# (synchronous_commit off for this transaction only), so the row lock is held for microseconds, not a disk
# flush. A database crash may lose the last moments' clicks, each with its counters: never one without the other.
_CLICKS_SQL = """
WITH cfg AS (SELECT set_config('synchronous_commit', 'off', true) AS v),
taps AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(ats)s::timestamptz[], %(days)s::date[])
        WITH ORDINALITY AS t(id, at, day, n)
),
agg AS (
    SELECT id, count(*)::int AS taps, min(at) AS first_at, max(at) AS last_at,
           (array_agg(day ORDER BY at, n))[1] AS first_day
    FROM taps GROUP BY id
),
r AS (
    UPDATE campaigns_recipient rc SET clicks = rc.clicks + agg.taps, clicked_at = COALESCE(rc.clicked_at, agg.first_at),
                                      last_clicked_at = GREATEST(rc.last_clicked_at, agg.last_at)
    FROM agg
    WHERE rc.id = agg.id
      AND EXISTS (SELECT 1 FROM campaigns_campaign k WHERE k.id = rc.campaign_id AND k.link_url <> '')
    RETURNING rc.id, rc.campaign_id, agg.taps, (rc.clicks = agg.taps)::int AS first, agg.first_day
),
c AS (
    INSERT INTO campaigns_click (recipient_id, campaign_id, at)
    SELECT r.id, r.campaign_id, t.at FROM r JOIN taps t ON t.id = r.id
),
k AS (
    UPDATE campaigns_campaign SET clicked = clicked + s.taps, clickers = clickers + s.firsts
    FROM (SELECT campaign_id, sum(taps)::int AS taps, sum(first)::int AS firsts FROM r GROUP BY campaign_id) s
    WHERE campaigns_campaign.id = s.campaign_id
),
d AS (
    INSERT INTO campaigns_campaignday
        (campaign_id, day, planned, sent, delivered, "read", failed, clicked, clickers, replied, converted)
    SELECT campaign_id, day, 0, 0, 0, 0, 0, sum(clicked)::int, sum(clickers)::int, 0, 0
    FROM (SELECT r.campaign_id, t.day, 1 AS clicked, 0 AS clickers FROM r JOIN taps t ON t.id = r.id
          UNION ALL SELECT campaign_id, first_day, 0, 1 FROM r WHERE first = 1) x
    GROUP BY campaign_id, day
    ON CONFLICT (campaign_id, day) DO UPDATE SET clicked = campaigns_campaignday.clicked + EXCLUDED.clicked,
                                                 clickers = campaigns_campaignday.clickers + EXCLUDED.clickers
)
SELECT t.n, cp.link_url, ct.first_name, ct.name, ct.phone, ct.language, ct.attributes
FROM cfg, taps t JOIN campaigns_recipient rc ON rc.id = t.id JOIN campaigns_campaign cp ON cp.id = rc.campaign_id
LEFT JOIN audiences_contact ct ON ct.id = rc.contact_id
"""

_DESTINATIONS_SQL = """
SELECT t.n, cp.link_url, ct.first_name, ct.name, ct.phone, ct.language, ct.attributes
FROM unnest(%(ids)s::bigint[]) WITH ORDINALITY AS t(id, n)
JOIN campaigns_recipient rc ON rc.id = t.id JOIN campaigns_campaign cp ON cp.id = rc.campaign_id
LEFT JOIN audiences_contact ct ON ct.id = rc.contact_id
"""


def taps_statement(taps: list[tuple[int, dt.datetime]], *, counted: bool) -> tuple[str, dict]:
    """The statement and parameters for a batch of taps (recipient id, UTC time): clicks recorded when `counted`."""
    ids = [recipient_id for recipient_id, _at in taps]
    if not counted:
        return _DESTINATIONS_SQL, {"ids": ids}
    return _CLICKS_SQL, {"ids": ids, "ats": [at for _id, at in taps], "days": [local_day(at) for _id, at in taps]}


def taps_results(rows, count: int, *, counted: bool) -> list[ClickResult | None]:
    """Each tap's result from the statement's rows, in the batch's order (None: no such recipient)."""
    import json

    results: list[ClickResult | None] = [None] * count
    for n, link_url, *contact in rows:
        if isinstance(contact[-1], str):  # psycopg returns jsonb parsed; a raw text column on other setups
            contact[-1] = json.loads(contact[-1])
        results[n - 1] = ClickResult(fill_destination(link_url or "", _Contact(*contact)), counted)
    return results


# Planning the batch statement costs several times more than running it, and PostgreSQL keeps replanning a
# prepared statement while its generic plan's estimate (an array of unknown length) looks worse than the custom
# plans': the generic plan (index lookups per tap) is used at once. It concerns prepared statements only, and on
# Django's connection only ours are prepared.
PLAN_CACHE_MODE = "SET plan_cache_mode = force_generic_plan"


def _fetch_all(sql: str, params: dict) -> list[tuple]:
    """The rows of `sql`, as a server-side prepared statement: the redirect runs the same two statements thousands
    of times a second, and planning them was most of their cost (about 500 us against 90 us here).

    Django turns psycopg's prepared statements off (prepare_threshold None, for connection poolers), which makes
    psycopg ignore prepare=True. An unreachable threshold keeps every other query unprepared, as Django wants, and
    lets these two be prepared once per connection. LINK_PREPARED_STATEMENTS = False turns this off behind a
    pooler that cannot keep prepared statements (PgBouncer in transaction mode before 1.21).
    """
    import psycopg

    connection.ensure_connection()
    pg = connection.connection
    prepare = settings.LINK_PREPARED_STATEMENTS
    if prepare and pg.prepare_threshold is None:
        pg.prepare_threshold = 2**31  # no query reaches it; prepare=True below prepares ours
        pg.execute(PLAN_CACHE_MODE)
    # Django's error wrapping marks the connection for its health check after a failure (a restarted server),
    # so the next request reconnects instead of failing on a dead connection until CONN_MAX_AGE.
    with connection.wrap_database_errors, psycopg.Cursor(pg) as cursor:
        cursor.execute(sql, params, prepare=prepare)
        return cursor.fetchall()


def link_tap(*, token: str, method: str, user_agent: str) -> str | None:
    """A request for /r/<token>: the destination to redirect to, or None for a 404 (nothing recorded).

    A person's tap (a GET that is not a link preview or a bot) records a click. The Django view
    (`campaigns.views.link_redirect`) calls this; the WSGI path (`campaigns.link_wsgi`), which has checked the
    token already, calls `recipient_tap`.
    """
    recipient_id = token_recipient_id(token)
    if recipient_id is None:
        return None
    return recipient_tap(recipient_id=recipient_id, method=method, user_agent=user_agent)


def recipient_tap(*, recipient_id: int, method: str, user_agent: str) -> str | None:
    """`link_tap` for the recipient of a token already checked."""
    counted = not is_bot(method=method, user_agent=user_agent)
    result = recipient_click_record(recipient_id, at=timezone.now(), counted=counted)
    return result.destination if result is not None and result.destination else None


def click_record(*, token: str, at: dt.datetime, counted: bool) -> ClickResult | None:
    """A tap on a tracked link: the destination, and the click recorded when `counted` (a person).

    None when the token is not one of ours or its recipient is gone, and no
    destination when its campaign has none: nothing is recorded. Two taps are
    two clicks and one clicker (the recipient's first click moves `clickers`).
    """
    recipient_id = token_recipient_id(token)
    if recipient_id is None:
        return None
    return recipient_click_record(recipient_id, at=at, counted=counted)


def recipient_click_record(recipient_id: int, *, at: dt.datetime, counted: bool) -> ClickResult | None:
    """`click_record` for the recipient of a token already checked."""
    at = as_utc(at)
    if connection.vendor == "postgresql":
        sql, params = taps_statement([(recipient_id, at)], counted=counted)
        (result,) = taps_results(_fetch_all(sql, params), 1, counted=counted)
        return result
    return _click_record_orm(recipient_id, at=at, counted=counted)


def _click_record_orm(recipient_id: int, *, at: dt.datetime, counted: bool) -> ClickResult | None:
    """The same as _CLICKS_SQL for one tap, with the ORM (SQLite)."""
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
