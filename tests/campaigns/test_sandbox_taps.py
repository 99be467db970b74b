"""The sandbox plays the people: after reading, they tap the tracked link (a real GET of /r/<token> on the live
server) and quick replies (signed webhooks with context.id through the real view); every tap lands on its own
recipient and the counters equal a recount (docs/architecture.md, "Engagement")."""

import pytest

from campaigns.batch import batch_send
from campaigns.engagement import engagement_counts
from campaigns.models import Click, Recipient
from tests.campaigns.helpers import START, assert_counters_match_recount, running_campaign
from tests.factories.whatsapp import MessageTemplateFactory
from whatsapp.sandbox import TEMPLATES

LINK_TEMPLATE = next(t for t in TEMPLATES if t["name"] == "spring_sale_link")


@pytest.mark.sandbox(read_rate=1.0, click_rate=1.0, reply_rate=1.0, seed=3)
def test_sandbox_taps_land_on_their_recipients(cloud_sandbox):
    template = MessageTemplateFactory(name="spring_sale_link", components=LINK_TEMPLATE["components"])
    campaign = running_campaign(
        6,
        template=template,
        header_parameters=[],
        parameters=["{{contact.first_name|there}}"],
        link_url="https://shop.example/spring?utm_source=whatsapp",
    )
    assert batch_send(now=START).sent == 6
    assert cloud_sandbox.wait_idle(timeout=30)

    assert {status for kind, _id, status in cloud_sandbox.taps if kind == "click"} == {302}
    rows = Recipient.objects.filter(campaign=campaign)
    assert rows.filter(clicks__gt=0).count() == 6
    assert set(rows.values_list("reply_payload", flat=True)) <= {"Show me more", "Not now"}
    assert rows.filter(replied_at__isnull=False).count() == 6
    # Each click is its own recipient's: the message the sandbox tapped carried that recipient's token.
    clicked_messages = [message_id for kind, message_id, _status in cloud_sandbox.taps if kind == "click"]
    by_message = dict(rows.values_list("message_id", "pk"))
    assert sorted(Click.objects.values_list("recipient_id", flat=True)) == sorted(
        by_message[m] for m in clicked_messages
    )
    counts = engagement_counts(campaign_id=campaign.pk)
    assert (counts["clickers"], counts["replied"], counts["clicked"]) == (6, 6, len(clicked_messages))
    assert_counters_match_recount(campaign)


pytestmark = pytest.mark.django_db(transaction=True)
