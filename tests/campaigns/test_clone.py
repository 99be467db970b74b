"""Clone: a new draft with the same message and targeting, nothing of the original's run."""

import datetime as dt

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import ADDITION, LogEntry
from django.urls import reverse

from campaigns.models import Campaign
from campaigns.services import campaign_clone, campaign_pause
from tests.campaigns.helpers import START, running_campaign
from tests.factories.campaigns import CampaignFactory

pytestmark = pytest.mark.django_db
LATER = START + dt.timedelta(days=3)
COPIED = ("template_id", "parameters", "header_parameters", "header_media_url", "audience_id", "priority", "daily_cap")


def test_a_clone_is_a_draft_with_the_same_message_and_targeting():
    original = CampaignFactory(
        name="Spring sale",
        header_media_url="https://cdn.example.com/spring.jpg",
        priority=3,
        daily_cap=500,
        end_at=START + dt.timedelta(days=30),
    )
    copy = campaign_clone(campaign=original, now=LATER)
    copy.refresh_from_db()
    assert copy.pk != original.pk
    assert copy.name == "Copy of Spring sale"
    assert {f: getattr(copy, f) for f in COPIED} == {f: getattr(original, f) for f in COPIED}
    assert copy.status == Campaign.Status.DRAFT
    assert (copy.start_at, copy.end_at, copy.estimated_completion_date) == (None, None, None)
    assert (copy.created_at, copy.updated_at) == (LATER, LATER)


def test_a_clone_of_a_running_campaign_has_no_recipients_counters_or_pause():
    original = running_campaign(3)
    campaign_pause(campaign=original, reason="by hand", now=START)
    copy = campaign_clone(campaign=original, now=LATER)
    copy.refresh_from_db()
    assert not copy.recipients.exists() and not copy.days.exists()
    counters = ("total", "pending", "queued", "sent", "delivered", "read", "failed", "skipped", "unknown", "cancelled")
    assert {c: getattr(copy, c) for c in counters} == dict.fromkeys(counters, 0)
    assert (copy.status, copy.pause_reason, copy.pause_error_code) == (Campaign.Status.DRAFT, "", None)
    original.refresh_from_db()
    assert (original.status, original.total) == (Campaign.Status.PAUSED, 3)  # untouched


def test_a_clone_can_be_named_and_a_long_name_is_cut_to_fit():
    original = CampaignFactory(name="x" * 200)
    assert campaign_clone(campaign=original, name="Autumn sale", now=LATER).name == "Autumn sale"
    assert campaign_clone(campaign=original, now=LATER).name == ("Copy of " + "x" * 200)[:200]


def test_a_clone_does_not_share_its_parameter_lists_with_the_original():
    original = CampaignFactory(parameters=["a", "b"])
    copy = campaign_clone(campaign=original, now=LATER)
    copy.parameters.append("c")
    assert original.parameters == ["a", "b"]


def test_the_clone_button_creates_the_draft_and_opens_it(admin_client):
    original = CampaignFactory(name="Spring sale")
    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[original.pk])).content.decode()
    clone_url = reverse("admin:campaigns_campaign_clone", args=[original.pk])
    assert f'action="{clone_url}"' in page

    response = admin_client.post(clone_url)
    copy = Campaign.objects.exclude(pk=original.pk).get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:campaigns_campaign_change", args=[copy.pk])
    entry = LogEntry.objects.get()
    assert (entry.object_id, entry.action_flag) == (str(copy.pk), ADDITION)
    assert entry.get_change_message() == f"Cloned from Spring sale (#{original.pk})"
    page = admin_client.get(response["Location"]).content.decode()
    assert "Spring sale: cloned as the draft Copy of Spring sale." in page


def test_the_clone_button_only_answers_a_post(admin_client):
    original = CampaignFactory()
    assert admin_client.get(reverse("admin:campaigns_campaign_clone", args=[original.pk])).status_code == 405
    assert admin_client.post(reverse("admin:campaigns_campaign_clone", args=[original.pk + 1])).status_code == 404
    assert Campaign.objects.count() == 1


def test_the_clone_action_clones_each_selected_campaign(admin_client):
    first, second = CampaignFactory(name="A"), CampaignFactory(name="B")
    response = admin_client.post(
        reverse("admin:campaigns_campaign_changelist"),
        {"action": "clone", ACTION_CHECKBOX_NAME: [first.pk, second.pk]},
        follow=True,
    )
    assert sorted(Campaign.objects.filter(status="draft").values_list("name", flat=True)) == [
        "A",
        "B",
        "Copy of A",
        "Copy of B",
    ]
    assert "A: cloned as the draft Copy of A." in response.content.decode()
    assert LogEntry.objects.filter(action_flag=ADDITION).count() == 2


# --- Issue 13: a clone remembers its source and does not re-message whoever the source reached -----------------


def half_sent_source():
    """A running campaign over 4 contacts: 2 sent (reached), 1 failed, 1 still pending."""
    from campaigns.models import Recipient

    source = running_campaign(4)
    rows = list(Recipient.objects.filter(campaign=source).order_by("position"))
    for row, status in zip(rows, ["sent", "delivered", "failed", "pending"], strict=True):
        Recipient.objects.filter(pk=row.pk).update(status=status)
    return source, rows


def test_activating_a_clone_leaves_out_whoever_the_source_already_reached():
    from campaigns.models import Recipient
    from campaigns.services import campaign_activate

    source, rows = half_sent_source()
    copy = campaign_clone(campaign=source, now=LATER)
    assert (copy.cloned_from_id, copy.skip_reached_by_source) == (source.pk, True)
    copy.start_at = None
    result = campaign_activate(campaign=copy, now=LATER)
    assert result.recipients_added == 2
    assert set(Recipient.objects.filter(campaign=copy).values_list("phone", flat=True)) == {
        rows[2].phone,
        rows[3].phone,
    }


def test_the_operator_may_choose_to_message_them_again():
    from campaigns.services import campaign_activate

    source, _rows = half_sent_source()
    copy = campaign_clone(campaign=source, now=LATER)
    Campaign.objects.filter(pk=copy.pk).update(skip_reached_by_source=False)
    copy.refresh_from_db()
    assert campaign_activate(campaign=copy, now=LATER).recipients_added == 4


def test_the_clones_activation_page_says_how_many_are_left_out_and_the_choice_is_kept(
    admin_client, eager_celery, django_capture_on_commit_callbacks
):
    from campaigns.models import Recipient

    source, _rows = half_sent_source()
    copy = campaign_clone(campaign=source, now=LATER)
    url = reverse("admin:campaigns_campaign_lifecycle", args=[copy.pk, "activate"])
    page = admin_client.get(url).content.decode()
    assert "2 of them were already reached by" in page
    assert "2 recipients will be added." in page
    assert 'name="skip_reached_by_source" checked' in page
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(url, {"confirm": "yes"})  # the box unticked: message them again
    copy.refresh_from_db()
    assert copy.skip_reached_by_source is False
    assert Recipient.objects.filter(campaign=copy).count() == 4
