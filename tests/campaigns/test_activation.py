"""Activation: validation first (nothing changes on failure), set-based materialisation, top-up adds only new."""

import datetime as dt

import pytest
from django.core.management import call_command

from audiences.models import Contact
from campaigns.models import Campaign, CampaignDay, Recipient
from campaigns.services import CampaignValidationError, campaign_activate, campaign_top_up
from tests.factories.audiences import ContactFactory
from tests.factories.campaigns import CampaignFactory
from tests.factories.whatsapp import MessageTemplateFactory
from whatsapp.models import MessageTemplate

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def test_activation_materialises_the_audience_in_contact_order_with_estimates(settings):
    settings.WHATSAPP_DAILY_LIMIT = 2
    contacts = ContactFactory.create_batch(5)
    ContactFactory(unsubscribed=True)
    campaign = CampaignFactory()
    result = campaign_activate(campaign=campaign, now=NOW)
    assert result.recipients_added == 5
    assert result.status == Campaign.Status.SCHEDULED  # start (03-02) is after now
    rows = list(Recipient.objects.filter(campaign=campaign).order_by("position"))
    assert [r.contact_id for r in rows] == [c.pk for c in sorted(contacts, key=lambda c: c.pk)]
    assert [r.position for r in rows] == [0, 1, 2, 3, 4]
    start = dt.date(2026, 3, 2)
    assert [r.estimated_send_date for r in rows] == [start + dt.timedelta(days=d) for d in (0, 0, 1, 1, 2)]
    campaign.refresh_from_db()
    assert (campaign.total, campaign.pending) == (5, 5)
    assert campaign.estimated_completion_date == start + dt.timedelta(days=2)


def test_activation_with_a_past_start_runs_at_once():
    ContactFactory()
    campaign = CampaignFactory(start_at=NOW - dt.timedelta(hours=1))
    assert campaign_activate(campaign=campaign, now=NOW).status == Campaign.Status.RUNNING


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"template__status": MessageTemplate.Status.PENDING}, "not APPROVED"),
        ({"parameters": ["only one"]}, "takes 2 body parameter(s); the campaign has 1"),
        ({"header_parameters": []}, "takes 1 header parameter(s); the campaign has 0"),
        ({"start_at": None, "end_at": NOW - dt.timedelta(minutes=1)}, "The end date has passed"),
        ({"parameters": ["{{contact.first_name}}", " "]}, "Body placeholder {{2}} is empty"),
    ],
)
def test_an_invalid_campaign_is_refused_with_a_clear_message_and_nothing_changes(change, message):
    ContactFactory()
    campaign = CampaignFactory(**change)
    with pytest.raises(CampaignValidationError) as excinfo:
        campaign_activate(campaign=campaign, now=NOW)
    assert any(message in m for m in excinfo.value.messages)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert not Recipient.objects.exists()


def test_an_empty_start_means_as_soon_as_activated():
    """Issue 13: an empty "Start at" is not refused; activation starts the campaign at its own `now`."""
    ContactFactory()
    campaign = CampaignFactory(start_at=None)
    result = campaign_activate(campaign=campaign, now=NOW)
    campaign.refresh_from_db()
    assert (result.status, campaign.start_at) == (Campaign.Status.RUNNING, NOW)
    assert Recipient.objects.get(campaign=campaign).estimated_send_date == NOW.date()


def test_activation_plans_from_the_quota_really_left_today(settings):
    """Issue 13: with today's limit already used, activation plans nothing for today (it said "250 today")."""
    from campaigns.quota import quota_reserve

    settings.WHATSAPP_DAILY_LIMIT = 4
    ContactFactory.create_batch(6)
    quota_reserve(now=NOW - dt.timedelta(hours=1), campaign_id=None, recipient_ids=[None] * 3)  # 1 left today
    campaign = CampaignFactory(start_at=None)
    campaign_activate(campaign=campaign, now=NOW)
    days = list(
        Recipient.objects.filter(campaign=campaign).order_by("position").values_list("estimated_send_date", flat=True)
    )
    today = NOW.date()
    assert days == [today] + [today + dt.timedelta(days=1)] * 4 + [today + dt.timedelta(days=2)]
    campaign.refresh_from_db()
    assert campaign.estimated_completion_date == today + dt.timedelta(days=2)
    assert CampaignDay.objects.get(campaign=campaign, day=today).planned == 1


def test_an_empty_audience_is_refused():
    ContactFactory(unsubscribed=True)
    with pytest.raises(CampaignValidationError, match="no subscribed contacts"):
        campaign_activate(campaign=CampaignFactory(), now=NOW)


def test_top_up_adds_only_new_matches_and_says_how_many():
    ContactFactory.create_batch(3)
    campaign = CampaignFactory()
    campaign_activate(campaign=campaign, now=NOW)
    ContactFactory.create_batch(2)
    assert campaign_top_up(campaign=campaign, now=NOW).recipients_added == 2
    assert campaign_top_up(campaign=campaign, now=NOW).recipients_added == 0
    assert list(
        Recipient.objects.filter(campaign=campaign).order_by("position").values_list("position", flat=True)
    ) == [
        0,
        1,
        2,
        3,
        4,
    ]
    campaign.refresh_from_db()
    assert (campaign.total, campaign.pending) == (5, 5)


def test_commands_create_activate_and_top_up(capsys):
    ContactFactory.create_batch(2)
    template = MessageTemplateFactory(name="spring", language="en_US")
    from tests.factories.audiences import AudienceFactory

    AudienceFactory(name="Everyone")
    call_command(
        "create_campaign",
        "--name=Spring",
        f"--template={template.name}",
        "--language=en_US",
        "--audience=Everyone",
        "--header-param={{contact.first_name}}",
        "--param={{contact.first_name}}",
        "--param=20%",
        "--start=2026-03-02T09:00:00+00:00",
    )
    campaign_id = int(capsys.readouterr().out.strip())
    campaign = Campaign.objects.get(pk=campaign_id)
    assert campaign.status == Campaign.Status.DRAFT
    assert campaign.parameters == ["{{contact.first_name}}", "20%"]
    call_command("activate_campaign", str(campaign_id))
    assert "recipients_added: 2" in capsys.readouterr().out
    call_command("activate_campaign", str(campaign_id), "--top-up")
    assert "recipients_added: 0" in capsys.readouterr().out
    assert Contact.objects.count() == 2


def test_create_campaign_takes_url_button_suffixes_and_an_empty_start(capsys):
    from tests.factories.audiences import AudienceFactory

    url = {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Order", "url": "https://shop.example/{{1}}"}]}
    template = MessageTemplateFactory(components=[{"type": "BODY", "text": "Hi {{1}}"}, url])
    AudienceFactory(name="All")
    ContactFactory()
    call_command(
        "create_campaign", "--name=Orders", f"--template={template.name}", "--language=en_US", "--audience=All",
        "--param={{contact.first_name|there}}", "--button-param=o/{{contact.attributes.order|latest}}",
    )  # fmt: skip
    campaign = Campaign.objects.get(pk=int(capsys.readouterr().out.strip()))
    assert (campaign.button_parameters, campaign.start_at) == (["o/{{contact.attributes.order|latest}}"], None)
    call_command("activate_campaign", str(campaign.pk))
    assert "recipients_added: 1" in capsys.readouterr().out


@pytest.mark.postgres
def test_postgres_materialises_with_set_based_inserts(django_assert_max_num_queries):
    ContactFactory.create_batch(50)
    campaign = CampaignFactory()
    # A constant number of statements, whatever the audience's size: the cost estimate adds two (the rate card, the
    # estimate's UPDATE), the messaging limit's tier one (whatsapp/tiers.py), the outbound endpoints' subscriptions
    # one (read by the campaign's move).
    with django_assert_max_num_queries(24):
        assert campaign_activate(campaign=campaign, now=NOW).recipients_added == 50
    assert sorted(Recipient.objects.filter(campaign=campaign).values_list("position", flat=True)) == list(range(50))
