"""The campaign form fills the template's placeholders field by field: nobody types JSON (issue 13)."""

import pytest
from django.urls import reverse

from campaigns.models import Campaign
from tests.factories.audiences import AudienceFactory, ContactFactory
from tests.factories.campaigns import CampaignFactory
from tests.factories.whatsapp import MessageTemplateFactory

pytestmark = pytest.mark.django_db
ADD = reverse("admin:campaigns_campaign_add")
URL_BUTTON = {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Track", "url": "https://shop.example/o/{{1}}"}]}


def form_data(template, audience, **slots) -> dict:
    data = {"name": "Spring", "template": template.pk, "audience": audience.pk, "priority": 1, "header_media_url": ""}
    data |= {"start_at_0": "", "start_at_1": "", "end_at_0": "", "end_at_1": "", "daily_cap": ""}
    data |= {"skip_reached_by_source": "on"}
    for name, (source, text) in slots.items():
        data[f"{name}_0"], data[f"{name}_1"] = source, text
    return data


def test_the_form_has_one_picker_per_placeholder_with_contact_fields_and_the_attribute_keys_in_the_data(admin_client):
    ContactFactory(attributes={"city": "Lisbon", "total_spent": 212.5, "address": {"zip": "1000"}})
    template = MessageTemplateFactory()
    page = admin_client.get(ADD + f"?template={template.pk}").content.decode()
    for name in ("header_1", "body_1", "body_2"):
        assert f'name="{name}_0"' in page and f'name="{name}_1"' in page
    assert "body_3" not in page
    assert 'value="first_name"' in page
    for key in ("city", "total_spent", "address.zip"):
        assert f'value="attributes.{key}"' in page
    assert "Our spring sale starts in {{1}}" in page  # each field says where it goes in the text
    assert 'id="id_parameters"' not in page  # no JSON box


def test_saving_the_fields_stores_the_usual_parameter_lists(admin_client):
    template, audience = MessageTemplateFactory(), AudienceFactory()
    ContactFactory()
    data = form_data(
        template,
        audience,
        header_1=("first_name", "there"),
        body_1=("attributes.city", "your city"),
        body_2=("", "20%"),
    )
    response = admin_client.post(ADD, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    campaign = Campaign.objects.get()
    assert campaign.header_parameters == ["{{contact.first_name|there}}"]
    assert campaign.parameters == ["{{contact.attributes.city|your city}}", "20%"]
    assert campaign.button_parameters == []
    assert campaign.start_at is None  # "as soon as activated"


def test_values_written_by_the_command_line_come_back_in_the_fields(admin_client):
    campaign = CampaignFactory(parameters=["{{contact.attributes.city|your city}}", "{{contact.first_name}} & co"])
    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert '<option value="attributes.city" selected>city</option>' in page  # a stored key is offered
    assert 'name="body_1_1" value="your city"' in page
    assert 'name="body_2_1" value="{{contact.first_name}} &amp; co"' in page  # mixed text stays free text


def test_a_url_button_suffix_is_a_field_stored_and_sent(admin_client, outbox):
    from campaigns.services import batch_send, campaign_activate
    from tests.campaigns.helpers import START

    template = MessageTemplateFactory(components=[{"type": "BODY", "text": "Hi {{1}}"}, URL_BUTTON])
    audience = AudienceFactory()
    ContactFactory(attributes={"order": "A-17"})
    data = form_data(template, audience, body_1=("first_name", "there"), button_1=("attributes.order", ""))
    assert admin_client.post(ADD, data).status_code == 302
    campaign = Campaign.objects.get()
    assert campaign.button_parameters == ["{{contact.attributes.order}}"]
    campaign_activate(campaign=campaign, now=START)
    batch_send(now=START)
    button = outbox[0]["components"][-1]
    assert button == {
        "type": "button",
        "sub_type": "url",
        "index": "0",
        "parameters": [{"type": "text", "text": "A-17"}],
    }


def test_saving_says_everything_activation_would_refuse(admin_client):
    template, audience = MessageTemplateFactory(), AudienceFactory(rules={"include_tags": ["nobody"]})
    data = form_data(template, audience, header_1=("first_name", "there"), body_1=("", ""), body_2=("", "20%"))
    response = admin_client.post(ADD, data, follow=True)
    page = response.content.decode()
    assert "activation would refuse it" in page
    assert "Body placeholder {{1}} is empty" in page
    assert "has no subscribed contacts" in page
    assert Campaign.objects.get().status == "draft"


def test_an_end_before_the_start_is_an_error_on_the_form(admin_client):
    template, audience = MessageTemplateFactory(), AudienceFactory()
    data = form_data(template, audience, header_1=("", "a"), body_1=("", "b"), body_2=("", "c"))
    data |= {"start_at_0": "2026-03-02", "start_at_1": "09:00", "end_at_0": "2026-03-01", "end_at_1": "09:00"}
    response = admin_client.post(ADD, data)
    assert response.status_code == 200
    assert "The end must be after the start." in response.content.decode()
    assert not Campaign.objects.exists()


def test_changing_the_template_fetches_its_fields_and_keeps_the_values_that_still_fit(admin_client):
    other = MessageTemplateFactory(components=[{"type": "BODY", "text": "Winter deals for {{1}} in {{2}} and {{3}}."}])
    url = reverse("admin:campaigns_campaign_placeholders")
    data = admin_client.get(url, {"template": other.pk, "body_1_0": "first_name", "body_1_1": "friend"}).json()
    assert data["count"] == 3
    assert 'name="body_3_0"' in data["html"] and "header_1" not in data["html"]
    assert '<option value="first_name" selected>' in data["html"]
    assert 'value="friend"' in data["html"]


def test_the_preview_reads_the_fields(admin_client):
    template = MessageTemplateFactory()
    query = {
        "template": template.pk,
        "header_1_0": "first_name",
        "header_1_1": "there",
        "body_1_0": "",
        "body_1_1": "Porto",
    }
    query |= {"body_2_0": "", "body_2_1": "30%"}
    data = admin_client.get(reverse("admin:campaigns_campaign_preview"), query).json()
    assert data["preview"]["body"] == "Our spring sale starts in Porto: 30% off everything."
    assert data["preview"]["header_text"] == "Hello Alex"


def test_a_viewer_sees_the_stored_values_read_only(viewer_client):
    campaign = CampaignFactory()
    page = viewer_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert "{{contact.attributes.city|your city}}" in page
    assert 'name="body_1_0"' not in page
