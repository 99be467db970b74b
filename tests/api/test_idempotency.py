"""Idempotency-Key: a retried POST gets the first answer and nothing happens twice (docs/architecture.md, "API")."""

import threading

import pytest
from django.db import connection

from api.models import IdempotencyRecord
from campaigns.models import Campaign, TestSend
from tests.api.conftest import client_for
from tests.factories.audiences import AudienceFactory, ContactFactory
from tests.factories.campaigns import CampaignFactory
from tests.factories.whatsapp import MessageTemplateFactory


def campaign_body() -> dict:
    return {
        "name": "Spring sale",
        "template": MessageTemplateFactory().pk,
        "audience": AudienceFactory().pk,
        "header_parameters": ["{{contact.first_name|there}}"],
        "parameters": ["{{contact.attributes.city|your city}}", "20%"],
    }


@pytest.mark.django_db
def test_the_same_post_twice_with_one_key_creates_one_campaign_and_answers_the_same(manager_api):
    body = campaign_body()
    first = manager_api.post("/api/v1/campaigns/", body, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    again = manager_api.post("/api/v1/campaigns/", body, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert Campaign.objects.count() == 1
    other = manager_api.post("/api/v1/campaigns/", body, format="json", HTTP_IDEMPOTENCY_KEY="order-2")
    assert other.status_code == 201 and Campaign.objects.count() == 2


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_a_422_problem_and_does_nothing(manager_api):
    body = campaign_body()
    manager_api.post("/api/v1/campaigns/", body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    reused = manager_api.post("/api/v1/campaigns/", {**body, "name": "Other"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert reused.status_code == 422 and reused["Content-Type"] == "application/problem+json"
    assert reused.json()["type"].endswith("/idempotency_key_reused")
    assert list(Campaign.objects.values_list("name", flat=True)) == ["Spring sale"]


@pytest.mark.django_db
def test_a_refusal_is_replayed_too_and_keys_belong_to_their_user(manager_api, viewer_key):
    body = {**campaign_body(), "template": 999999}
    first = manager_api.post("/api/v1/campaigns/", body, format="json", HTTP_IDEMPOTENCY_KEY="same")
    again = manager_api.post("/api/v1/campaigns/", body, format="json", HTTP_IDEMPOTENCY_KEY="same")
    assert first.status_code == again.status_code == 400 and again.json() == first.json()
    assert again["Content-Type"] == "application/problem+json"
    # The same key string from another user is another key (refused here for the viewer's role, not replayed).
    assert client_for(viewer_key).post("/api/v1/campaigns/", body, format="json",
                                       HTTP_IDEMPOTENCY_KEY="same").status_code == 403  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_one_key_twice_sends_one_test_message_to_the_sandbox_over_http(cloud_sandbox, manager_api):
    ContactFactory(phone="+14155550999", first_name="Ana")
    campaign = CampaignFactory()
    url = f"/api/v1/campaigns/{campaign.pk}/test-send/"
    first = manager_api.post(url, {"phone": "+14155550999"}, format="json", HTTP_IDEMPOTENCY_KEY="test-1")
    again = manager_api.post(url, {"phone": "+14155550999"}, format="json", HTTP_IDEMPOTENCY_KEY="test-1")
    assert first.status_code == again.status_code == 201, first.json()
    assert again.json() == first.json()
    assert [sent["to"] for sent in cloud_sandbox.accepted] == ["14155550999"]  # one request reached the sandbox
    assert TestSend.objects.get().message_id == first.json()["message_id"]
    manager_api.post(url, {"phone": "+14155550999"}, format="json", HTTP_IDEMPOTENCY_KEY="test-2")
    assert len(cloud_sandbox.accepted) == 2  # a new key is a new send


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_create_one_campaign_on_postgresql(manager_key):
    body = campaign_body()
    answers: list = []
    barrier = threading.Barrier(6)

    def post():
        api = client_for(manager_key)
        barrier.wait()
        try:
            answers.append(api.post("/api/v1/campaigns/", body, format="json", HTTP_IDEMPOTENCY_KEY="race"))
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Campaign.objects.count() == 1
    codes = sorted(answer.status_code for answer in answers)
    # Each one got the first answer (201) or was told the first is still running (409, retry later).
    assert set(codes) <= {201, 409} and 201 in codes
    created = {answer.json()["id"] for answer in answers if answer.status_code == 201}
    assert created == {Campaign.objects.get().pk}
    assert IdempotencyRecord.objects.get().status_code == 201


@pytest.mark.django_db
def test_an_expired_key_is_forgotten_and_the_request_runs_again(manager_api, settings):
    import datetime as dt

    body = campaign_body()
    manager_api.post("/api/v1/campaigns/", body, format="json", HTTP_IDEMPOTENCY_KEY="old")
    IdempotencyRecord.objects.update(created_at=IdempotencyRecord.objects.get().created_at - dt.timedelta(hours=25))
    again = manager_api.post("/api/v1/campaigns/", body, format="json", HTTP_IDEMPOTENCY_KEY="old")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert Campaign.objects.count() == 2 and IdempotencyRecord.objects.count() == 1
