"""Engagement (docs/architecture.md, "Engagement"): tracked links, replies, conversions, their counters.

Each test runs on SQLite and PostgreSQL (the redirect's single statement is
PostgreSQL's own path); the concurrency test needs PostgreSQL.
"""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connections
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from campaigns import lifecycle
from campaigns.batch import batch_send
from campaigns.conversions import conversion_input, conversion_record
from campaigns.engagement import campaign_day_engagement, engagement_day_counts
from campaigns.links import click_record, is_bot, recipient_token, token_recipient_id
from campaigns.models import Campaign, CampaignDay, Click, Conversion, Recipient
from campaigns.rendering import build_components
from campaigns.replies import reply_record
from campaigns.services import campaign_recount
from tests.campaigns.helpers import START, assert_counters_match_recount, running_campaign
from tests.factories.campaigns import CampaignFactory
from tests.factories.whatsapp import MessageTemplateFactory
from tests.whatsapp import payloads

R = Recipient.Status
DESTINATION = "https://shop.example/sale?utm_source=whatsapp&utm_campaign=spring&hi={{contact.first_name|you}}"
PERSON = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari"
DELIVERED_AT = START + dt.timedelta(minutes=5)


def delivered_campaign(n: int, **kwargs) -> Campaign:
    """A campaign whose `n` recipients were sent by the batch (locmem backend) and delivered at DELIVERED_AT."""
    kwargs.setdefault("link_url", DESTINATION)
    campaign = running_campaign(n, **kwargs)
    assert batch_send(now=START).sent >= n
    ids = dict(Recipient.objects.filter(campaign=campaign).values_list("pk", "message_id"))
    lifecycle.recipients_advance(message_ids=ids, status=R.DELIVERED, at=DELIVERED_AT)
    return campaign


def recipients(campaign: Campaign) -> list[Recipient]:
    return list(Recipient.objects.filter(campaign=campaign).select_related("contact").order_by("pk"))


def tap(client, token: str, *, user_agent: str = PERSON, method: str = "get"):
    return getattr(client, method)(reverse("link_redirect", args=[token]), headers={"user-agent": user_agent})


def assert_days_match_recount(campaign: Campaign) -> None:
    """The day rows' engagement columns and the replies per button equal a recount of the rows."""
    from campaigns.conversions import revenue_counts
    from campaigns.models import CampaignRevenue
    from campaigns.replies import campaign_reply_buttons, reply_counts

    assert campaign_day_engagement(campaign_id=campaign.pk) == {
        day: counts for day, counts in engagement_day_counts(campaign_id=campaign.pk).items() if any(counts.values())
    }
    kept = {b["payload"]: b["count"] for b in campaign_reply_buttons(campaign_id=campaign.pk)}
    assert kept == reply_counts(campaign_id=campaign.pk)
    revenue = {
        r.currency: (r.amount, r.orders) for r in CampaignRevenue.objects.filter(campaign=campaign, orders__gt=0)
    }
    assert revenue == revenue_counts(campaign_id=campaign.pk)


# --- Tracked links ------------------------------------------------------------------------


def test_a_token_resolves_only_its_recipient(client, db):
    campaign = delivered_campaign(3)
    first, second, third = recipients(campaign)
    tokens = [recipient_token(r.pk) for r in (first, second, third)]
    assert len(set(tokens)) == 3 and all(10 <= len(t) <= 16 for t in tokens)
    assert [token_recipient_id(t) for t in tokens] == [first.pk, second.pk, third.pk]

    response = tap(client, tokens[1])

    assert response.status_code == 302
    assert response["Location"] == (
        f"https://shop.example/sale?utm_source=whatsapp&utm_campaign=spring&hi={second.contact.first_name or 'you'}"
    )
    assert response["Cache-Control"] == "no-store, private"
    clicks = dict(Recipient.objects.filter(campaign=campaign).values_list("pk", "clicks"))
    assert clicks == {first.pk: 0, second.pk: 1, third.pk: 0}
    assert list(Click.objects.values_list("recipient_id", flat=True)) == [second.pk]
    assert_counters_match_recount(campaign)


def test_the_token_tag_is_django_salted_hmac_of_the_id_so_links_already_sent_keep_working():
    """links._tag derives its key once per secret; the tags must stay those of salted_hmac (links sent before)."""
    import base64

    from django.utils.crypto import salted_hmac

    from campaigns.links import _SALT, TAG_LENGTH, _tag

    for secret in ("test-secret", "another-secret-0123456789"):
        for recipient_id in (1, 61, 62, 3843, 916_132_831, 2**40):
            digest = salted_hmac(_SALT, str(recipient_id), secret=secret, algorithm="sha256").digest()
            assert _tag(recipient_id, secret) == base64.urlsafe_b64encode(digest).decode()[:TAG_LENGTH]


def test_a_guessed_or_altered_token_is_a_404_that_records_nothing(client, db, django_assert_num_queries):
    campaign = delivered_campaign(2)
    first, second = recipients(campaign)
    token = recipient_token(first.pk)
    tag = token[-11:]
    altered = [
        token[:-1] + ("A" if token[-1] != "A" else "B"),  # one character of the tag
        recipient_token(second.pk)[:-11] + tag,  # another recipient's id with this tag
        token[:-11] + recipient_token(second.pk)[-11:],  # this id with another recipient's tag
        "0" + token,  # the same id spelt with a leading zero
        token[:-2],  # truncated
        "AAAAAAAAAAAAAAAA",  # guessed
        "x" * 300,
    ]
    for guess in altered:
        with django_assert_num_queries(0):  # refused by the HMAC check alone: constant work, nothing to enumerate
            assert tap(client, guess).status_code == 404
    assert tap(client, recipient_token(10**9)).status_code == 404  # a well-signed id with no row
    assert Click.objects.count() == 0
    assert not Recipient.objects.filter(clicks__gt=0).exists()
    assert not CampaignDay.objects.filter(clicked__gt=0).exists()
    campaign.refresh_from_db()
    assert (campaign.clicked, campaign.clickers) == (0, 0)


@pytest.mark.parametrize(
    ("method", "user_agent"),
    [
        ("get", "WhatsApp/2.24.12.78 A"),
        ("get", "WhatsApp/2.23.20.0 i"),
        ("get", "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"),
        ("get", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
        ("get", "TelegramBot (like TwitterBot)"),
        ("get", ""),
        ("head", PERSON),
    ],
)
def test_a_link_preview_fetch_is_not_a_click(client, db, method, user_agent):
    campaign = delivered_campaign(1)
    (recipient,) = recipients(campaign)

    response = tap(client, recipient_token(recipient.pk), user_agent=user_agent, method=method)

    assert response.status_code == 302  # the preview shows the destination
    assert is_bot(method=method, user_agent=user_agent)
    assert Click.objects.count() == 0
    recipient.refresh_from_db()
    assert (recipient.clicks, recipient.clicked_at) == (0, None)
    assert_counters_match_recount(campaign)


def test_two_taps_count_two_clicks_and_one_clicker(client, db):
    campaign = delivered_campaign(2)
    first, _second = recipients(campaign)
    token = recipient_token(first.pk)

    assert tap(client, token).status_code == 302
    assert tap(client, token).status_code == 302

    campaign.refresh_from_db()
    assert (campaign.clicked, campaign.clickers) == (2, 1)
    first.refresh_from_db()
    assert first.clicks == 2 and first.clicked_at <= first.last_clicked_at
    assert_counters_match_recount(campaign)
    assert_days_match_recount(campaign)


def test_the_message_carries_the_token_in_its_url_button_and_link_in_its_body(settings, db):
    settings.LINK_BASE_URL = "https://go.shop.example"
    template = MessageTemplateFactory(
        components=[
            {"type": "BODY", "text": "Spring sale: {{1}}"},
            {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Shop", "url": "https://go.shop.example/r/{{1}}"}]},
        ]
    )
    components = build_components(
        template=template, parameters=["{{link}}"], header_media_url="", contact=None, link_token="abcTOKEN"
    )
    assert components == [
        {"type": "body", "parameters": [{"type": "text", "text": "https://go.shop.example/r/abcTOKEN"}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "abcTOKEN"}]},
    ]


def test_the_batch_sends_each_recipient_its_own_token(outbox, db):
    template = MessageTemplateFactory(
        components=[
            {"type": "BODY", "text": "Spring sale"},
            {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Shop", "url": "https://go.example/r/{{1}}"}]},
        ]
    )
    campaign = running_campaign(3, template=template, parameters=[], header_parameters=[], link_url=DESTINATION)
    assert batch_send(now=START).sent == 3
    suffixes = {}
    for message in outbox:
        (button,) = [c for c in message["components"] if c["type"] == "button"]
        suffixes[message["to"]] = button["parameters"][0]["text"]
    by_phone = dict(Recipient.objects.filter(campaign=campaign).values_list("phone", "pk"))
    assert {phone: token_recipient_id(token) for phone, token in suffixes.items()} == by_phone


# --- Replies ---------------------------------------------------------------------------------


def post_signed(client, django_capture_on_commit_callbacks, value) -> None:
    raw = payloads.body(value)
    headers = {"X-Hub-Signature-256": payloads.signature(raw)}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.generic(
            "POST", reverse("whatsapp:webhook"), raw, content_type="application/json", headers=headers
        )
    assert response.status_code == 200


@pytest.fixture
def signed_webhooks(settings):
    settings.WHATSAPP_APP_SECRET = payloads.TEST_APP_SECRET


def test_a_quick_reply_tap_with_context_lands_on_its_recipient_and_button(
    client, db, signed_webhooks, django_capture_on_commit_callbacks
):
    campaign = delivered_campaign(3, link_url="")
    first, second, _third = recipients(campaign)
    sender = second.phone.removeprefix("+")
    tapped = payloads.button_message(sender, "Yes, show me", "SHOW_ME", context_id=second.message_id)

    post_signed(client, django_capture_on_commit_callbacks, tapped)
    post_signed(client, django_capture_on_commit_callbacks, tapped)  # Meta's retry: changes nothing

    second.refresh_from_db()
    assert (second.reply_payload, second.reply_text) == ("SHOW_ME", "Yes, show me")
    assert second.replied_at is not None
    first.refresh_from_db()
    assert first.replied_at is None
    campaign.refresh_from_db()
    assert campaign.replied == 1
    assert_counters_match_recount(campaign)
    assert_days_match_recount(campaign)


def test_a_text_reply_without_context_is_the_reply_to_the_last_delivery_in_the_window(settings, db):
    settings.REPLY_ATTRIBUTION_HOURS = 24
    campaign = delivered_campaign(2, link_url="")
    first, second = recipients(campaign)

    assert reply_record(
        context_message_id="", phone=first.phone, payload="", text="hi", at=DELIVERED_AT + dt.timedelta(hours=2)
    )
    assert not reply_record(
        context_message_id="", phone=second.phone, payload="", text="late", at=DELIVERED_AT + dt.timedelta(hours=25)
    )
    settings.REPLY_ATTRIBUTION_HOURS = 0
    assert not reply_record(
        context_message_id="", phone=second.phone, payload="", text="hi", at=DELIVERED_AT + dt.timedelta(hours=1)
    )
    assert list(Recipient.objects.filter(replied_at__isnull=False).values_list("pk", flat=True)) == [first.pk]
    assert_counters_match_recount(campaign)


# --- Conversions ---------------------------------------------------------------------------


def order(**overrides):
    data = {"order_id": "A-1", "value": "49.90", "currency": "eur", "time": "2026-03-03T10:00:00Z"}
    data.update(overrides)
    return conversion_input(data)


def test_conversion_input_errors_are_field_errors(db):
    with pytest.raises(ValidationError) as info:
        conversion_input({"order_id": "", "value": "-1", "currency": "euro", "time": "yesterday", "token": "nope"})
    assert set(info.value.message_dict) == {"order_id", "value", "currency", "time", "token"}
    with pytest.raises(ValidationError) as info:
        conversion_input({"order_id": "A", "value": "1", "currency": "EUR", "time": "2026-03-03T10:00:00Z"})
    assert set(info.value.message_dict) == {"phone"}


def test_a_conversion_posted_twice_counts_once_and_goes_to_the_clicked_campaign(db):
    delivered = delivered_campaign(1, link_url="", tag="delivered")
    phone = recipients(delivered)[0].phone
    # A second campaign reached the same phone, and the person clicked its link, before the later delivery.
    clicked = CampaignFactory(link_url=DESTINATION, status=Campaign.Status.RUNNING)
    target = Recipient.objects.create(campaign=clicked, phone=phone, status=R.SENT, message_id="wamid.C")
    campaign_recount(campaign=clicked)  # the row was made by hand: its counters start from a recount
    assert click_record(token=recipient_token(target.pk), at=START + dt.timedelta(minutes=1), counted=True)

    first = conversion_record(order=order(phone=phone), now=START + dt.timedelta(days=1))
    again = conversion_record(order=order(phone=phone, value="99"), now=START + dt.timedelta(days=1))

    assert first.created and not again.created
    assert Conversion.objects.count() == 1
    assert (first.conversion.campaign_id, first.conversion.via) == (clicked.pk, Conversion.Via.CLICK)
    assert first.conversion.value == Decimal("49.90") and first.conversion.currency == "EUR"
    clicked.refresh_from_db()
    delivered.refresh_from_db()
    assert (clicked.converted, delivered.converted) == (1, 0)
    for campaign in (clicked, delivered):
        assert_counters_match_recount(campaign)
        assert_days_match_recount(campaign)


def test_without_a_click_the_last_delivery_in_the_window_wins_and_nothing_outside_it(settings, db):
    settings.CONVERSION_ATTRIBUTION_DAYS = 7
    campaign = delivered_campaign(2, link_url="")
    first, second = recipients(campaign)

    inside = conversion_record(order=order(phone=first.phone, time="2026-03-08T09:00:00Z"), now=START)
    outside = conversion_record(order=order(order_id="A-2", phone=second.phone, time="2026-03-10T09:00:00Z"), now=START)
    before = conversion_record(order=order(order_id="A-3", phone=second.phone, time="2026-03-01T09:00:00Z"), now=START)

    assert (inside.conversion.recipient_id, inside.conversion.via) == (first.pk, Conversion.Via.DELIVERY)
    assert outside.conversion.campaign_id is None and outside.conversion.via == ""
    assert before.conversion.campaign_id is None
    campaign.refresh_from_db()
    assert campaign.converted == 1
    assert_counters_match_recount(campaign)


def test_a_click_token_identifies_the_buyer(db):
    campaign = delivered_campaign(1)
    (recipient,) = recipients(campaign)
    token = recipient_token(recipient.pk)
    click_record(token=token, at=DELIVERED_AT + dt.timedelta(minutes=3), counted=True)

    result = conversion_record(order=order(token=token), now=START)

    assert (result.conversion.recipient_id, result.conversion.via) == (recipient.pk, Conversion.Via.CLICK)
    assert result.conversion.phone == recipient.phone


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_of_one_order_record_it_once():
    campaign = delivered_campaign(1, link_url="")
    (recipient,) = recipients(campaign)
    barrier = threading.Barrier(6)
    results = []

    def post():
        try:
            barrier.wait()
            results.append(conversion_record(order=order(phone=recipient.phone), now=START).created)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False] * 5 + [True]
    assert Conversion.objects.count() == 1
    assert_counters_match_recount(campaign)


def test_the_dashboard_and_stats_show_the_funnel_replies_and_revenue(admin_client, db):
    from campaigns.selectors import campaign_stats

    campaign = delivered_campaign(2)
    first, second = recipients(campaign)
    click_record(token=recipient_token(first.pk), at=DELIVERED_AT, counted=True)
    reply_record(context_message_id=second.message_id, phone=None, payload="STOP_IT", text="No thanks", at=DELIVERED_AT)
    conversion_record(order=order(phone=first.phone), now=START)

    stats = campaign_stats(campaign=campaign)
    assert {k: stats[k] for k in ("clicked", "clickers", "replied", "converted")} == {
        "clicked": 1,
        "clickers": 1,
        "replied": 1,
        "converted": 1,
    }
    assert stats["revenue"] == {"EUR": "49.90"}
    page = admin_client.get(reverse("admin:campaigns_campaign_dashboard", args=[campaign.pk])).content.decode()
    assert 'data-step="converted" data-value="1"' in page
    assert 'data-payload="STOP_IT" data-count="1"' in page
    assert "49.90 EUR" in page


# --- Counters equal a recount, whatever the order and the duplicates --------------------------

EVENT = st.one_of(
    st.tuples(st.just("click"), st.integers(0, 3), st.booleans(), st.integers(0, 3000)),  # who, a person?, minute
    st.tuples(st.just("reply"), st.integers(0, 3), st.sampled_from(["", "YES", "NO"]), st.integers(0, 3000)),
    st.tuples(st.just("order"), st.integers(0, 3), st.integers(0, 4), st.integers(-600, 12000)),  # who, order, min
)


@hyp_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(EVENT, max_size=25), data=st.data())
def test_counters_equal_a_recount_after_shuffled_duplicate_events(db, events, data):
    campaign = delivered_campaign(4)
    rows = recipients(campaign)
    replayed = events + data.draw(st.lists(st.sampled_from(events), max_size=10) if events else st.just([]))
    replayed = data.draw(st.permutations(replayed))
    for kind, who, detail, minute in replayed:
        at = DELIVERED_AT + dt.timedelta(minutes=minute)
        row = rows[who]
        if kind == "click":
            click_record(token=recipient_token(row.pk), at=at, counted=detail)
        elif kind == "reply":
            # Replies quote the message (context.id): the same inbound message twice is a replay.
            reply_record(context_message_id=row.message_id, phone=None, payload=detail, text=detail, at=at)
        else:
            order_id = f"{campaign.pk}-{detail}"
            conversion_record(order=order(order_id=order_id, phone=row.phone, time=at.isoformat()), now=at)
    assert_counters_match_recount(campaign)
    assert_days_match_recount(campaign)
    campaign.refresh_from_db()
    persons = {(who, minute) for kind, who, person, minute in events if kind == "click" and person}
    assert campaign.clicked == sum(1 for kind, _w, person, _m in replayed if kind == "click" and person)
    assert campaign.clickers == len({who for who, _minute in persons})
    assert campaign.replied == len({who for kind, who, _p, _m in events if kind == "reply"})


# --- Audiences from outcomes ----------------------------------------------------------------


def test_an_audience_read_a_and_did_not_click_counts_what_a_recount_says(db):
    from audiences.models import Audience
    from audiences.selectors import audience_preview

    campaign = delivered_campaign(6)
    rows = recipients(campaign)
    lifecycle.recipients_advance(
        message_ids={r.pk: r.message_id for r in rows[:4]}, status=R.READ, at=DELIVERED_AT + dt.timedelta(hours=1)
    )
    for row in (rows[1], rows[4]):  # one reader and one who never opened it clicked
        click_record(token=recipient_token(row.pk), at=DELIVERED_AT + dt.timedelta(hours=2), counted=True)
    other = delivered_campaign(2)  # other people, other campaign: not in it
    assert other.pk != campaign.pk
    audience = Audience.objects.create(
        name="Read A, no click",
        rules={
            "outcomes": [
                {"campaign": campaign.pk, "outcome": "read"},
                {"campaign": campaign.pk, "outcome": "not_clicked"},
            ]
        },
    )

    preview = audience_preview(audience=audience, sample=10)

    recount = {
        r.contact_id for r in Recipient.objects.filter(campaign=campaign, status=R.READ, clicked_at__isnull=True)
    }
    assert recount == {rows[0].contact_id, rows[2].contact_id, rows[3].contact_id}
    assert preview["count"] == len(recount)


def test_the_rule_builder_saves_campaign_outcomes(admin_client, db):
    from audiences.models import Audience

    campaign = delivered_campaign(1)
    response = admin_client.post(
        reverse("admin:audiences_audience_add"),
        {
            "name": "Replied YES",
            "match": "any",
            "outcome_1_0": str(campaign.pk),
            "outcome_1_1": "replied",
            "outcome_1_2": "YES",
            "outcome_2_0": str(campaign.pk),
            "outcome_2_1": "failed",
            "outcome_2_2": "131026",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Audience.objects.get(name="Replied YES").rules["outcomes"] == [
        {"campaign": campaign.pk, "outcome": "replied", "value": "YES"},
        {"campaign": campaign.pk, "outcome": "failed", "value": 131026},
    ]
    bad = admin_client.post(
        reverse("admin:audiences_audience_add"),
        {"name": "Bad", "match": "any", "outcome_1_0": str(campaign.pk), "outcome_1_1": "read", "outcome_1_2": "x"},
    )
    assert bad.status_code == 200 and "takes no value" in bad.content.decode()


def test_the_orders_upload_records_good_rows_once_and_reports_bad_ones(admin_client, db):
    from django.core.files.uploadedfile import SimpleUploadedFile

    campaign = delivered_campaign(2, link_url="")
    first, second = recipients(campaign)
    csv_text = (
        "Order ID;Total;Currency;Date;Phone\n"
        f"S-1;19,90;EUR;2026-03-03T10:00:00Z;{first.phone}\n"
        f"S-2;abc;EUR;2026-03-03T10:00:00Z;{second.phone}\n"
        f"S-3;5;EURO;yesterday;{second.phone}\n"
        f"S-1;19,90;EUR;2026-03-03T10:00:00Z;{first.phone}\n"
        "S-4;7.5;usd;2026-03-03T11:00:00Z;+33612345678\n"
    )
    url = reverse("admin:campaigns_conversion_upload")

    response = admin_client.post(url, {"file": SimpleUploadedFile("orders.csv", csv_text.encode())})

    page = response.content.decode()
    assert 'data-created="2" data-duplicates="1" data-rejected="2"' in page
    assert "<td>3</td><td>value:" in page and "<td>4</td><td>currency:" in page
    assert set(Conversion.objects.values_list("order_id", "campaign_id")) == {("S-1", campaign.pk), ("S-4", None)}
    again = admin_client.post(url, {"file": SimpleUploadedFile("orders.csv", csv_text.encode())}).content.decode()
    assert 'data-created="0" data-duplicates="3" data-rejected="2"' in again
    campaign.refresh_from_db()
    assert campaign.converted == 1
    assert_counters_match_recount(campaign)


def test_the_demo_shop_orders_through_the_service_after_clicks(db):
    from campaigns.conversions import demo_orders

    campaign = delivered_campaign(4)
    assert demo_orders(campaign_id=campaign.pk, count=2, now=DELIVERED_AT) == 0  # nobody clicked yet
    for row in recipients(campaign)[:3]:
        click_record(token=recipient_token(row.pk), at=DELIVERED_AT, counted=True)
    assert demo_orders(campaign_id=campaign.pk, count=2, now=DELIVERED_AT + dt.timedelta(minutes=1)) == 2
    assert demo_orders(campaign_id=campaign.pk, count=2, now=DELIVERED_AT + dt.timedelta(minutes=2)) == 0  # once
    assert set(Conversion.objects.values_list("campaign_id", "via")) == {(campaign.pk, Conversion.Via.CLICK)}
    assert_counters_match_recount(campaign)


def test_create_campaign_button_url_and_campaign_stats_json(db, capsys):
    import json

    from django.core.management import call_command
    from django.core.management.base import CommandError

    from tests.factories.audiences import AudienceFactory

    template = MessageTemplateFactory(
        components=[
            {"type": "BODY", "text": "Spring sale"},
            {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Shop", "url": "https://go.example/r/{{1}}"}]},
        ]
    )
    AudienceFactory(name="All")
    args = ["--name", "Linked", "--template", template.name, "--language", "en_US", "--audience", "All"]
    call_command("create_campaign", *args, "--button-url", DESTINATION)
    campaign = Campaign.objects.get(pk=int(capsys.readouterr().out.strip()))
    assert campaign.link_url == DESTINATION
    with pytest.raises(CommandError, match="--button-url"):
        call_command("create_campaign", *args, "--button-url", "javascript:alert(1)")

    call_command("campaign_stats", str(campaign.pk), "--json")
    stats = json.loads(capsys.readouterr().out)
    assert {"clicked", "clickers", "replied", "converted", "revenue"} <= set(stats)


def test_the_campaign_form_takes_a_link_destination(admin_client, db):
    from campaigns.forms import CampaignForm
    from tests.factories.audiences import AudienceFactory

    template = MessageTemplateFactory(components=[{"type": "BODY", "text": "Spring sale"}])
    audience = AudienceFactory()
    data = {"name": "Linked", "template": template.pk, "audience": audience.pk, "priority": 1}
    good = CampaignForm(data={**data, "link_url": DESTINATION})
    assert good.is_valid(), good.errors
    bad = CampaignForm(data={**data, "link_url": "javascript:alert(1)"})
    assert not bad.is_valid() and "link_url" in bad.errors


def test_a_campaign_without_a_destination_answers_404_and_records_nothing(client, db):
    campaign = delivered_campaign(1, link_url="")
    (recipient,) = recipients(campaign)
    assert tap(client, recipient_token(recipient.pk)).status_code == 404
    assert Click.objects.count() == 0
    assert_counters_match_recount(campaign)
