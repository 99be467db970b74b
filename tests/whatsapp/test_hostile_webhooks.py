"""Webhook input is data, not trust (Promise 10): absurd timestamps, deep nesting, huge codes, chunked bodies,
a failure after delivery. Each hostile body gets the answer we chose, corrupts nothing, and the counters and
day rows still equal a recount of the recipient rows."""

import datetime as dt
import io

import pytest
from django.utils import timezone

from campaigns.batch import batch_send
from campaigns.models import CampaignDay, Recipient
from campaigns.quota import local_day
from campaigns.services import campaign_days_rebuild
from tests.campaigns.helpers import START, assert_counters_match_recount, running_campaign
from tests.whatsapp import payloads as p
from whatsapp.models import WebhookEvent
from whatsapp.parsing import MAX_DEPTH, json_depth_exceeds
from whatsapp.services import webhook_event_replay

pytestmark = pytest.mark.django_db
R = Recipient.Status


@pytest.fixture
def sent():
    """Two recipients sent (queued and sent at START) with their WhatsApp message ids."""
    campaign = running_campaign(2)
    batch_send(now=START)
    rows = list(Recipient.objects.filter(campaign=campaign).order_by("id"))
    assert {row.status for row in rows} == {R.SENT}
    return campaign, rows


def day_rows(campaign):
    return {
        d.day: (d.planned, d.sent, d.delivered, d.read, d.failed) for d in CampaignDay.objects.filter(campaign=campaign)
    }


def assert_nothing_corrupted(campaign):
    """Counters equal a recount; day rows equal a rebuild from the rows; no day outside [START, today]."""
    assert_counters_match_recount(campaign)
    kept = day_rows(campaign)
    campaign_days_rebuild(campaign=campaign)
    rebuilt = day_rows(campaign)
    assert {day: v for day, v in kept.items() if any(v)} == rebuilt
    assert all(START.date() <= day <= local_day(timezone.now()) for day in rebuilt)


# --- timestamps ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("timestamp", ["99999999999", "-5", "0", "1e30", "soon", 10**30])
def test_an_absurd_status_time_becomes_the_receipt_time_and_the_event_says_so(post_webhook, sent, timestamp):
    campaign, (row, _) = sent
    raw = p.body(p.statuses_value(p.status(row.message_id, "read", timestamp=timestamp)))
    assert post_webhook(raw).status_code == 200

    stored = WebhookEvent.objects.get()
    row.refresh_from_db()
    assert row.status == R.READ
    assert row.read_at == row.delivered_at == stored.received_at  # not the year 5138, not 1969
    assert row.sent_at == START  # the send's own time stays the earliest
    assert stored.status == WebhookEvent.Status.PROCESSED
    assert str(timestamp)[:40] in stored.notes and "receipt time" in stored.notes
    assert_nothing_corrupted(campaign)


def test_a_status_time_before_the_send_was_queued_becomes_the_queued_time(post_webhook, sent):
    campaign, (row, other) = sent
    last_year = str(int((START - dt.timedelta(days=300)).timestamp()))
    raw = p.body(p.statuses_value(p.status(row.message_id, "delivered", timestamp=last_year)))
    assert post_webhook(raw).status_code == 200

    row.refresh_from_db()
    assert (row.status, row.delivered_at, row.sent_at) == (R.DELIVERED, START, START)
    notes = WebhookEvent.objects.get().notes
    assert f"recipient {row.pk}" in notes and "before the message was queued" in notes
    assert_nothing_corrupted(campaign)


def test_a_sane_time_is_taken_as_sent_with_no_note(post_webhook, sent):
    campaign, (row, _) = sent
    at = START + dt.timedelta(minutes=3)
    raw = p.body(p.statuses_value(p.status(row.message_id, "delivered", timestamp=str(int(at.timestamp())))))
    post_webhook(raw)
    row.refresh_from_db()
    assert row.delivered_at == at
    assert WebhookEvent.objects.get().notes == ""


# --- nesting --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw", [b"[" * 100_000, b'{"entry":' * 50_000 + b"1" + b"}" * 50_000, b"[" * (MAX_DEPTH + 1)])
def test_deep_nesting_is_refused_with_400_before_parsing_and_nothing_is_stored(post_webhook, received, raw):
    response = post_webhook(raw)  # signed: only Meta (or whoever has the app secret) gets this far
    assert response.status_code == 400
    assert b"nests deeper" in response.content
    assert WebhookEvent.objects.count() == 0
    assert received.events == []


def test_brackets_and_escaped_quotes_inside_strings_do_not_count_as_nesting(post_webhook, received):
    tricky = '[[[{{{ \\" ]]] ' * 40
    raw = p.body(p.statuses_value(p.status("wamid." + tricky, "sent")))
    assert not json_depth_exceeds(raw)
    assert post_webhook(raw).status_code == 200
    assert [e.message_id for e in received.of("status")] == ["wamid." + tricky]


def test_a_real_thousand_status_body_is_well_within_the_depth_limit():
    errors = [p.error(131026, "x", details="y")]
    raw = p.body(p.statuses_value(*[p.status(f"wamid.{i}", "failed", errors=errors) for i in range(1000)]))
    assert not json_depth_exceeds(raw, limit=12)


# --- error codes --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("code", [2**40, -(2**40), "1099511627776", "abc", 1.5, True, {"nested": 1}])
def test_an_unreadable_error_code_is_kept_as_text_and_the_failure_is_permanent(post_webhook, sent, code):
    campaign, (row, _) = sent
    failed = p.status(row.message_id, "failed", timestamp=str(int(START.timestamp()) + 60),
                      errors=[p.error(code, "Odd", "odd message", "odd details")])  # fmt: skip
    raw = p.body(p.statuses_value(failed))
    assert post_webhook(raw).status_code == 200

    stored = WebhookEvent.objects.get()
    assert (stored.status, stored.error) == (WebhookEvent.Status.PROCESSED, "")
    row.refresh_from_db()
    assert (row.status, row.error_code, row.error_title) == (R.FAILED, None, "Odd")
    assert row.error_reason == f"Error {code}: Odd - odd message (odd details)"
    assert "is not a WhatsApp code" in stored.notes
    assert webhook_event_replay(webhook_event=stored) is True  # replays too: no DataError, ever
    assert_nothing_corrupted(campaign)


def test_a_nul_character_in_an_error_is_dropped_not_a_database_error(post_webhook, sent):
    campaign, (row, _) = sent
    failed = p.status(row.message_id, "failed", errors=[p.error(131026, "Bad\u0000title", details="d\u0000")])
    assert post_webhook(p.body(p.statuses_value(failed))).status_code == 200
    row.refresh_from_db()
    assert (row.status, row.error_code, row.error_title, row.error_details) == (R.FAILED, 131026, "Badtitle", "d")
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED
    assert_nothing_corrupted(campaign)


def test_overlong_message_ids_and_trackers_match_nothing(post_webhook, sent):
    campaign, (row, _) = sent
    raw = p.body(
        p.statuses_value(
            p.status("wamid." + "x" * 5000, "delivered", tracker=str(row.pk)),  # longer than any stored id
            p.status("wamid.nobody", "delivered", tracker="9" * 40),  # more digits than a bigint
        )
    )
    assert post_webhook(raw).status_code == 200
    row.refresh_from_db()
    assert row.status == R.SENT  # the row has a message id: a tracker never overrides it
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED
    assert_nothing_corrupted(campaign)


# --- a failure after the delivery ---------------------------------------------------------------------------------
def ts(minutes):
    return str(int((START + dt.timedelta(minutes=minutes)).timestamp()))


@pytest.mark.parametrize("late", ["read", "delivered"])
def test_failed_after_read_or_delivered_is_noted_on_the_event_not_written_on_the_row(post_webhook, sent, late):
    campaign, (row, _) = sent
    post_webhook(p.body(p.statuses_value(p.status(row.message_id, late, timestamp=ts(1)))))
    failed = p.status(row.message_id, "failed", timestamp=ts(2), errors=[p.error(131026, "Undeliverable")])
    assert post_webhook(p.body(p.statuses_value(failed))).status_code == 200

    row.refresh_from_db()
    assert row.status == late
    assert (row.failed_at, row.error_code, row.error_reason) == (None, None, "")
    stored = WebhookEvent.objects.order_by("id").last()
    assert f"failed after it was {late} (Error 131026: Undeliverable" in stored.notes
    assert_nothing_corrupted(campaign)


def test_failed_then_read_ends_like_read_then_failed(post_webhook, sent):
    """Order-independence: whichever came first, a read row carries no failure and the failed counter is back."""
    campaign, (first, second) = sent
    failed = [p.error(131026, "Undeliverable")]
    post_webhook(p.body(p.statuses_value(p.status(first.message_id, "failed", timestamp=ts(1), errors=failed))))
    assert CampaignDay.objects.get(campaign=campaign, day=START.date()).failed == 1
    post_webhook(p.body(p.statuses_value(p.status(first.message_id, "read", timestamp=ts(2)))))
    both = [p.status(second.message_id, "read", timestamp=ts(2)),
            p.status(second.message_id, "failed", timestamp=ts(1), errors=failed)]  # fmt: skip
    post_webhook(p.body(p.statuses_value(*both)))  # in one body, the failure listed after the read

    fields = ("status", "sent_at", "delivered_at", "read_at", "failed_at", "error_code", "error_reason", "attempts")
    first.refresh_from_db()
    second.refresh_from_db()
    assert [getattr(first, f) for f in fields] == [getattr(second, f) for f in fields]
    assert (first.status, first.failed_at, first.error_code) == (R.READ, None, None)
    campaign.refresh_from_db()
    assert (campaign.failed, campaign.read) == (0, 2)
    assert CampaignDay.objects.get(campaign=campaign, day=START.date()).failed == 0
    assert_nothing_corrupted(campaign)


# --- chunked bodies -------------------------------------------------------------------------------------------------
def test_a_chunked_body_is_refused_411_where_the_server_cannot_end_it(post_webhook):
    raw = p.body(p.statuses_value(p.status("wamid.A", "sent")))
    response = post_webhook(raw, CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked")
    assert response.status_code == 411
    assert WebhookEvent.objects.count() == 0


def test_a_chunked_body_is_read_from_a_terminated_input_up_to_the_limit(post_webhook, settings):
    """What gunicorn hands Django for a chunked POST: no CONTENT_LENGTH, the decoded body, wsgi.input_terminated.

    tests/whatsapp/test_webhook_async.py sends one through a real gunicorn."""
    raw = p.body(p.statuses_value(p.status("wamid.A", "sent")))
    terminated = {"CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True}
    assert post_webhook(raw, **terminated, **{"wsgi.input": io.BytesIO(raw)}).status_code == 200
    assert bytes(WebhookEvent.objects.get().body) == raw

    settings.WHATSAPP_WEBHOOK_MAX_BYTES = len(raw) - 1
    assert post_webhook(raw, **terminated, **{"wsgi.input": io.BytesIO(raw)}).status_code == 413
    assert WebhookEvent.objects.count() == 1


def test_a_chunked_body_under_asgi_is_read_up_to_the_limit(settings, django_capture_on_commit_callbacks):
    """Under ASGI, Django holds the whole decoded body and no Content-Length: read it, bounded."""
    from django.core.handlers.asgi import ASGIRequest

    from whatsapp.webhooks import WhatsAppWebhookView

    raw = p.body(p.statuses_value(p.status("wamid.A", "sent")))

    def post():
        headers = [(b"x-hub-signature-256", p.signature(raw).encode()), (b"transfer-encoding", b"chunked")]
        scope = {"type": "http", "method": "POST", "path": "/whatsapp/webhook/", "headers": headers,
                 "query_string": b"", "server": ("testserver", 80), "client": ("127.0.0.1", 1)}  # fmt: skip
        with django_capture_on_commit_callbacks(execute=True):
            return WhatsAppWebhookView.as_view()(ASGIRequest(scope, io.BytesIO(raw)))

    assert post().status_code == 200
    assert bytes(WebhookEvent.objects.get().body) == raw
    settings.WHATSAPP_WEBHOOK_MAX_BYTES = len(raw) - 1
    assert post().status_code == 413
