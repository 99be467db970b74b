"""The admin's roles apply unchanged: a viewer's key reads (phones masked), a manager's key acts; keys are hashed."""

import io

import pytest
from django.contrib.admin.models import LogEntry
from django.core.management import call_command
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from api.keys import api_key_revoke
from api.models import ApiKey, IdempotencyRecord
from audiences.models import Audience, Contact, Suppression, Tag
from campaigns.models import Campaign, Recipient, TestSend
from tests.api.conftest import client_for, ensure_roles
from tests.factories.audiences import AudienceFactory, ContactFactory, TagFactory
from tests.factories.campaigns import CampaignFactory, RecipientFactory
from tests.factories.users import MANAGERS, UserFactory
from whatsapp.models import MessageTemplate, WebhookEvent

pytestmark = pytest.mark.django_db
PHONE = "+14155550123"


def world() -> dict:
    """One of each resource, so every operation's path has an id that exists."""
    tag = TagFactory(name="vip")
    contact = ContactFactory(phone=PHONE, tags=["vip"])
    campaign = CampaignFactory(audience=AudienceFactory(rules={"include_tags": ["vip"]}))
    RecipientFactory(campaign=campaign, contact=contact, phone=PHONE)
    event = WebhookEvent.objects.create(received_at=timezone.now(), body=b"{}")
    return {"contact": contact.pk, "tag": tag.pk, "audience": campaign.audience_id, "campaign": campaign.pk,
            "template": campaign.template_id, "webhookevent": event.pk, "id": campaign.pk}  # fmt: skip


def state() -> tuple:
    """Everything a write could change."""
    return (
        list(Contact.objects.order_by("pk").values()),
        list(Suppression.objects.values()),
        list(Tag.objects.values()),
        list(Audience.objects.values()),
        list(Campaign.objects.values()),
        list(Recipient.objects.values()),
        list(MessageTemplate.objects.values()),
        list(WebhookEvent.objects.values("pk", "status", "replay_count")),
        TestSend.objects.count(),
        LogEntry.objects.count(),
        IdempotencyRecord.objects.count(),
    )


def write_operations():
    schema = SchemaGenerator(patterns=None).get_schema(request=None, public=True)
    for path, operations in schema["paths"].items():
        for method in operations:
            if method in ("post", "put", "patch", "delete"):
                yield method, path


def test_every_write_operation_is_listed():
    writes = list(write_operations())
    assert len(writes) >= 25
    assert ("post", "/api/v1/campaigns/{id}/activate/") in writes


def test_a_viewers_key_is_refused_every_write_and_nothing_changes(viewer_api):
    ids = world()
    before = state()
    for method, path in write_operations():
        url = path.replace("{id}", str(ids["id"])).replace("{campaign_pk}", str(ids["campaign"]))
        for name, pk in ids.items():
            if f"/{name}s/" in url or (name == "webhookevent" and "webhook-events" in url):
                url = path.replace("{id}", str(pk))
        body = {"phone": PHONE, "name": "x", "reason": "x", "rules": {"everyone": True}}
        response = getattr(viewer_api, method)(url, body, format="json", HTTP_IDEMPOTENCY_KEY=f"{method}{path}")
        assert response.status_code == 403, (method, url, response.status_code, response.content[:300])
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["status"] == 403
    assert state() == before


def test_a_viewer_sees_phones_masked_as_the_admin_masks_them_and_a_manager_whole(viewer_api, manager_api):
    ids = world()
    masked = viewer_api.get(f"/api/v1/contacts/{ids['contact']}/").json()["phone"]
    assert masked != PHONE and masked.endswith("23") and "•" in masked
    assert manager_api.get(f"/api/v1/contacts/{ids['contact']}/").json()["phone"] == PHONE
    rows = viewer_api.get(f"/api/v1/campaigns/{ids['campaign']}/recipients/").json()["results"]
    assert [row["phone"] for row in rows] == [masked]
    preview = viewer_api.get(f"/api/v1/audiences/{ids['audience']}/preview/").json()
    assert [row["phone"] for row in preview["sample"]] == [masked]


def test_without_a_key_or_with_a_wrong_or_revoked_one_the_answer_is_401(manager_key):
    anonymous = APIClient()
    assert anonymous.get("/api/v1/campaigns/").status_code == 401
    assert client_for("wcm_not-a-real-key-at-all").get("/api/v1/campaigns/").status_code == 401
    assert client_for(manager_key).get("/api/v1/campaigns/").status_code == 200
    api_key_revoke(key=ApiKey.objects.get(), now=timezone.now())
    refused = client_for(manager_key).get("/api/v1/campaigns/")
    assert refused.status_code == 401 and refused["WWW-Authenticate"] == "Bearer"
    assert refused.json()["detail"] == "Unknown or revoked API key."


def test_create_api_key_prints_the_key_once_as_its_last_line_and_stores_only_its_hash():
    ensure_roles()
    UserFactory(username="shop", groups=[MANAGERS])
    out = io.StringIO()
    call_command("create_api_key", "shop", "--name", "the shop", stdout=out, stderr=io.StringIO())
    raw = out.getvalue().strip().splitlines()[-1]
    key = ApiKey.objects.get()
    assert (key.user.username, key.name, raw[: len(key.prefix)]) == ("shop", "the shop", key.prefix)
    assert raw not in str(list(ApiKey.objects.values()))  # only the prefix and the hash are stored
    assert client_for(raw).get("/api/v1/campaigns/").status_code == 200


def test_the_browsable_api_takes_the_admins_session(manager_client):
    assert manager_client.get("/api/v1/campaigns/", HTTP_ACCEPT="text/html").status_code == 200


def test_a_key_is_made_in_the_admin_and_shown_once(admin_client):
    user = UserFactory(username="crm")
    response = admin_client.post("/admin/api/apikey/add/", {"name": "crm", "user": user.pk}, follow=True)
    assert response.status_code == 200
    key = ApiKey.objects.get(user=user)
    shown = [str(m) for m in response.context["messages"]]
    raw = next(word for m in shown for word in m.split() if word.startswith(key.prefix))
    assert client_for(raw).get("/api/v1/campaigns/").status_code in (200, 403)  # a user with no role: 403
    assert key.hashed and raw not in key.hashed


def test_requests_are_throttled_per_key(manager_key, viewer_key, monkeypatch):
    from django.core.cache import cache

    from api.throttling import ApiKeyThrottle

    cache.clear()
    monkeypatch.setattr(ApiKeyThrottle, "THROTTLE_RATES", {"api_key": "2/minute"})
    manager = client_for(manager_key)
    assert [manager.get("/api/v1/tags/").status_code for _ in range(2)] == [200, 200]
    throttled = manager.get("/api/v1/tags/")
    assert throttled.status_code == 429 and throttled["Content-Type"] == "application/problem+json"
    assert int(throttled["Retry-After"]) > 0
    assert client_for(viewer_key).get("/api/v1/tags/").status_code == 200  # another key has its own budget
    cache.clear()


def test_the_roles_read_the_sender_numbers_and_their_tier(manager_api, viewer_api):
    """whatsapp 0010/0011: the numbers (tier, quality) are the roles' to see; before, only superusers saw them."""
    from whatsapp.models import Sender

    Sender.objects.create(phone_number_id="100000000000009", display_phone_number="+351 910 000 009")
    for api in (manager_api, viewer_api):
        answer = api.get("/api/v1/senders/")
        assert answer.status_code == 200
        assert [s["phone_number_id"] for s in answer.json()["results"]] == ["100000000000009"]
