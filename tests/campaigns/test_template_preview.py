"""Template preview: the campaign form shows the message as a sample contact will see it, and what is wrong with it."""

import json

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from audiences.models import Contact
from campaigns.preview import Button, preview_contact, template_preview
from tests.factories.audiences import AudienceFactory, ContactFactory
from tests.factories.campaigns import CampaignFactory
from tests.factories.users import UserFactory
from tests.factories.whatsapp import MessageTemplateFactory
from whatsapp.models import MessageTemplate

PREVIEW = reverse("admin:campaigns_campaign_preview")
BODY = {"type": "BODY", "text": "Our spring sale starts in {{1}}: {{2}} off everything."}


def template(*components, status=MessageTemplate.Status.APPROVED) -> MessageTemplate:
    """An unsaved template: the preview needs no database."""
    return MessageTemplate(name="spring_sale", language="en_US", status=status, components=list(components))


def ana(**kwargs) -> Contact:
    return Contact(name="Ana Silva", first_name="Ana", phone="+14155550123", attributes={"city": "Lisbon"}, **kwargs)


def preview(
    tpl, parameters=("{{contact.attributes.city|your city}}", "20%"), header=(), media_url="", contact=None, buttons=()
):
    return template_preview(
        template=tpl,
        parameters=list(parameters),
        header_parameters=list(header),
        button_parameters=list(buttons),
        header_media_url=media_url,
        contact=contact or ana(),
    )


def test_header_body_footer_and_buttons_are_filled_for_the_contact():
    shown = preview(
        template(
            {"type": "HEADER", "format": "TEXT", "text": "Hello {{1}}"},
            BODY,
            {"type": "FOOTER", "text": "Tap Stop promotions to opt out"},
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "QUICK_REPLY", "text": "Stop promotions"},
                    {"type": "URL", "text": "Shop now", "url": "https://shop.example.com/spring"},
                    {"type": "PHONE_NUMBER", "text": "Call us", "phone_number": "+14155550100"},
                ],
            },
        ),
        header=["{{contact.first_name|there}}"],
    )
    assert shown.header_text == "Hello Ana"
    assert shown.body == "Our spring sale starts in Lisbon: 20% off everything."
    assert shown.footer == "Tap Stop promotions to opt out"
    assert shown.buttons == [
        Button("QUICK_REPLY", "Stop promotions"),
        Button("URL", "Shop now", "https://shop.example.com/spring"),
        Button("PHONE_NUMBER", "Call us", "+14155550100"),
    ]
    assert shown.warnings == []
    assert shown.contact.startswith("Ana Silva")


def test_contact_placeholders_fall_back_to_their_defaults():
    shown = preview(
        template({"type": "HEADER", "format": "TEXT", "text": "Hello {{1}}"}, BODY),
        header=["{{contact.first_name|there}}"],
        contact=Contact(name="", first_name="", phone="+14155550123", attributes={}),
    )
    assert (shown.header_text, shown.body) == (
        "Hello there",
        "Our spring sale starts in your city: 20% off everything.",
    )


def test_a_missing_parameter_stays_visible_and_the_count_is_warned():
    shown = preview(template(BODY), parameters=["Lisbon"])
    assert shown.body == "Our spring sale starts in Lisbon: {{2}} off everything."
    assert '<mark class="wa-missing">{{2}}</mark>' in shown.body_html
    assert shown.warnings == ["Template spring_sale (en_US) takes 2 body parameter(s); the campaign has 1."]


def test_too_many_header_parameters_are_warned():
    shown = preview(template(BODY), header=["{{contact.first_name}}"])
    assert shown.warnings == ["Template spring_sale (en_US) takes 0 header parameter(s); the campaign has 1."]


def test_a_value_empty_for_the_contact_is_warned():
    shown = preview(template(BODY), parameters=["{{contact.attributes.city}}", "20%"], contact=ana(language="pt"))
    assert shown.body == "Our spring sale starts in Lisbon: 20% off everything."
    nowhere = Contact(name="Bo", first_name="Bo", phone="+14155550124", attributes={})
    shown = preview(template(BODY), parameters=["{{contact.attributes.city}}", "20%"], contact=nowhere)
    assert shown.body == "Our spring sale starts in : 20% off everything."
    assert len(shown.warnings) == 1 and "Body parameter {{1}} is empty for this contact" in shown.warnings[0]


@pytest.mark.parametrize("kind", ["IMAGE", "VIDEO", "DOCUMENT"])
def test_a_media_header_shows_its_kind_and_url(kind):
    tpl = template({"type": "HEADER", "format": kind}, BODY)
    shown = preview(tpl, media_url="https://cdn.example.com/spring.jpg")
    assert (shown.header_media, shown.header_media_url, shown.header_text) == (
        kind.lower(),
        "https://cdn.example.com/spring.jpg",
        "",
    )
    assert shown.warnings == []
    assert "set its media URL" in preview(tpl).warnings[0]


def test_a_variable_url_button_is_filled_from_its_own_parameter_or_warned():
    """Issue 13: the URL button's suffix is a placeholder of the campaign like the body's, sent and previewed."""
    tpl = template(
        BODY, {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Track", "url": "https://x.example/{{1}}"}]}
    )
    shown = preview(tpl)
    assert shown.buttons == [Button("URL", "Track", "https://x.example/{{1}}")]
    assert "takes 1 URL button suffix(es); the campaign has 0" in shown.warnings[0]
    assert "needs the end of its link" in shown.warnings[1]
    shown = preview(tpl, buttons=["order/{{contact.attributes.city|0}}"])
    assert shown.buttons == [Button("URL", "Track", "https://x.example/order/Lisbon")]
    assert shown.warnings == []


def test_an_unapproved_template_is_warned():
    shown = preview(template(BODY, status=MessageTemplate.Status.PAUSED))
    assert shown.warnings == ["Template spring_sale (en_US) is PAUSED: it cannot be sent."]


def test_the_body_is_escaped_and_keeps_its_line_breaks():
    shown = preview(template({"type": "BODY", "text": "Hi {{1}}\nSee you"}), parameters=["<b>Ana</b>"])
    assert shown.body_html == "Hi &lt;b&gt;Ana&lt;/b&gt;<br>See you"


def test_whatsapp_formatting_is_shown_as_on_the_phone():
    shown = preview(template({"type": "BODY", "text": "*{{1}}* _sale_ ~old~ ```CODE20``` on snake_case 2*3*4"}))
    assert shown.body_html == (
        "<strong>Lisbon</strong> <em>sale</em> <s>old</s> <code>CODE20</code> on snake_case 2*3*4"
    )


@pytest.mark.django_db
def test_the_sample_is_the_audiences_first_subscribed_contact():
    ContactFactory(tags=["vip"], unsubscribed=True)
    first = ContactFactory(tags=["vip"])
    ContactFactory(tags=["vip"])
    assert preview_contact(audience=AudienceFactory(rules={"include_tags": ["vip"]})) == first


@pytest.mark.django_db
def test_without_a_subscribed_contact_the_sample_is_alex():
    for audience in (AudienceFactory(rules={"include_tags": ["nobody"]}), None):
        sample = preview_contact(audience=audience)
        assert (sample.pk, sample.name, sample.first_name) == (None, "Alex Sample", "Alex")
    shown = preview(template(BODY), parameters=["{{contact.first_name}}", "x"], contact=sample)
    assert shown.body.startswith("Our spring sale starts in Alex") and "placeholder" in shown.contact


# --- The admin endpoint and the form -----------------------------------------------------


def form_values(campaign_template, **overrides) -> dict:
    """What preview.js sends: the form fields' current values."""
    values = {
        "template": campaign_template.pk,
        "audience": "",
        "parameters": json.dumps(["{{contact.attributes.city|your city}}", "30%"]),
        "header_parameters": json.dumps(["{{contact.first_name|there}}"]),
        "header_media_url": "",
    }
    return {**values, **overrides}


@pytest.mark.django_db
def test_the_endpoint_renders_the_forms_current_values(admin_client):
    ContactFactory(tags=["lisbon"], name="Rita Gomes", first_name="Rita", attributes={"city": "Lisbon"})
    audience = AudienceFactory(rules={"include_tags": ["lisbon"]})
    response = admin_client.get(PREVIEW, form_values(MessageTemplateFactory(), audience=audience.pk))
    assert response.status_code == 200
    data = response.json()
    assert data["preview"]["header_text"] == "Hello Rita"
    assert data["preview"]["body"] == "Our spring sale starts in Lisbon: 30% off everything."
    assert data["preview"]["buttons"] == [{"kind": "QUICK_REPLY", "text": "Stop promotions", "target": ""}]
    assert 'class="wa-bubble"' in data["html"] and "Rita Gomes" in data["html"] and "Stop promotions" in data["html"]


@pytest.mark.django_db
def test_the_endpoint_shows_parameter_problems(admin_client):
    values = form_values(MessageTemplateFactory(), parameters='["Lisbon"]')
    data = admin_client.get(PREVIEW, values).json()
    assert "{{2}}" in data["preview"]["body"] and "wa-missing" in data["html"]
    assert "takes 2 body parameter(s); the campaign has 1" in data["html"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"template": ""}, "Choose a template."),
        ({"template": "abc"}, "No template 'abc'."),
        ({"template": "999999"}, "No template '999999'."),
        ({"audience": "x"}, "No audience 'x'."),
        ({"parameters": '["Lisbon", '}, "The parameters are not valid JSON"),
        ({"parameters": '{"city": "Lisbon"}'}, "The parameters must be a JSON list of texts"),
        ({"header_parameters": "[[1]]"}, "The header parameters must be a JSON list of texts"),
    ],
)
def test_bad_input_is_a_400_that_says_what_is_wrong(admin_client, overrides, message):
    response = admin_client.get(PREVIEW, form_values(MessageTemplateFactory(), **overrides))
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)


@pytest.mark.django_db
def test_the_endpoint_needs_the_add_or_change_permission(client):
    user = UserFactory()
    user.user_permissions.add(Permission.objects.get(codename="view_campaign"))
    client.force_login(user)
    values = form_values(MessageTemplateFactory())
    assert client.get(PREVIEW, values).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="change_campaign"))
    assert client.get(PREVIEW, values).status_code == 200


@pytest.mark.django_db
def test_the_change_page_shows_the_saved_campaigns_preview_without_javascript(admin_client):
    ContactFactory(name="Rita Gomes", first_name="Rita", attributes={"city": "Porto"})
    campaign = CampaignFactory()
    content = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert "Message preview" in content and "campaigns/preview.js" in content
    assert "Hello Rita" in content and "Our spring sale starts in Porto: 20% off everything." in content
    assert f'data-url="{PREVIEW}"' in content


@pytest.mark.django_db
def test_the_add_page_has_the_preview_box(admin_client):
    content = admin_client.get(reverse("admin:campaigns_campaign_add")).content.decode()
    assert 'id="campaign-preview-box"' in content and "Choose a template to see the message." in content
