"""Errors are RFC 9457 problems (application/problem+json) carrying the services' own field errors."""

import pytest

from campaigns.models import Campaign
from tests.factories.audiences import AudienceFactory
from tests.factories.campaigns import CampaignFactory

pytestmark = pytest.mark.django_db
KEYS = {"type", "title", "status", "detail", "instance"}


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert set(body) >= KEYS and body["status"] == status and body["type"].startswith("/api/v1/problems/")
    return body


def test_a_bad_field_is_a_400_with_the_field_errors(manager_api):
    body = problem(manager_api.post("/api/v1/contacts/", {"phone": "not a phone"}, format="json"), 400)
    assert body["instance"] == "/api/v1/contacts/" and list(body["errors"]) == ["phone"]


def test_an_audience_rule_is_refused_with_the_admins_own_message(manager_api):
    rules = {"include_tags": ["no-such-tag"]}
    body = problem(manager_api.post("/api/v1/audiences/", {"name": "A", "rules": rules}, format="json"), 400)
    assert "no-such-tag" in " ".join(body["errors"]["rules"])


def test_a_lifecycle_move_the_state_does_not_allow_is_a_409(manager_api):
    campaign = CampaignFactory()
    body = problem(manager_api.post(f"/api/v1/campaigns/{campaign.pk}/resume/"), 409)
    assert "draft" in body["detail"]


def test_activating_a_campaign_that_cannot_be_is_a_422_with_every_reason_and_changes_nothing(manager_api):
    campaign = CampaignFactory(parameters=["", ""], audience=AudienceFactory())
    body = problem(manager_api.post(f"/api/v1/campaigns/{campaign.pk}/activate/", {}, format="json"), 422)
    assert body["errors"]["non_field_errors"]
    assert Campaign.objects.get().status == "draft"


def test_unknown_ids_and_routes_are_404_problems(manager_api):
    problem(manager_api.get("/api/v1/campaigns/999999/"), 404)
    problem(manager_api.get("/api/v1/campaigns/999999/recipients/"), 404)


def test_times_are_iso_8601_with_an_offset(manager_api):
    campaign = CampaignFactory()
    start = manager_api.get(f"/api/v1/campaigns/{campaign.pk}/").json()["start_at"]
    assert start in ("2026-03-02T09:00:00Z", "2026-03-02T09:00:00+00:00")
