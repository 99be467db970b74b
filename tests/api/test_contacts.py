"""Contacts through the API: create or update by phone, bulk upsert and imports by the import's service, opt-outs."""

import time

import pytest
from django.contrib.admin.models import LogEntry

from audiences.models import Contact, Suppression

pytestmark = pytest.mark.django_db


def test_a_post_creates_then_updates_the_contact_of_that_phone(manager_api):
    first = manager_api.post("/api/v1/contacts/", {"phone": "+1 (415) 555-0123", "name": "Ana Lopez",
                                                   "tags": ["vip"]}, format="json")  # fmt: skip
    assert first.status_code == 201 and first.json()["phone"] == "+14155550123"
    again = manager_api.post("/api/v1/contacts/", {"phone": "14155550123", "name": "Ana María",
                                                   "attributes": {"city": "Lima"}}, format="json")  # fmt: skip
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    contact = Contact.objects.get()
    assert (contact.name, contact.first_name, contact.attributes) == ("Ana María", "Ana", {"city": "Lima"})
    assert list(contact.tags.values_list("name", flat=True)) == ["vip"]  # tags left alone when not sent
    assert [e.change_message for e in LogEntry.objects.order_by("id")] == ["Added (API)", "Changed (API)"]


def test_a_suppressed_phone_is_created_unsubscribed(manager_api):
    Suppression.objects.create(phone="+14155550123", reason="keyword", suppressed_at="2026-01-01T00:00:00Z")
    created = manager_api.post("/api/v1/contacts/", {"phone": "+14155550123"}, format="json").json()
    assert created["subscription"] == "unsubscribed"


def test_bulk_upsert_writes_the_good_items_and_reports_the_bad_ones_by_index(manager_api):
    items = [
        {"phone": "+14155550001", "name": "Ana", "attributes": {"tier": "gold"}, "tags": ["vip"]},
        {"phone": "not a phone"},
        {"phone": "+14155550002", "language": "es_ES"},
    ]
    answer = manager_api.post("/api/v1/contacts/bulk/", {"contacts": items, "tag": "api"}, format="json")
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert (body["created"], body["invalid_count"], [row["index"] for row in body["invalid"]]) == (2, 1, [1])
    ana = Contact.objects.get(phone="+14155550001")
    assert ana.attributes == {"tier": "gold"} and sorted(ana.tags.values_list("name", flat=True)) == ["api", "vip"]
    clashing = {"contacts": [{"phone": "+14155550003", "attributes": {"Phone": "x"}}]}
    clash = manager_api.post("/api/v1/contacts/bulk/", clashing, format="json")
    assert clash.status_code == 400 and list(clash.json()["errors"]["contacts"]) == ["0"]


def test_unsubscribe_and_resubscribe_go_through_the_suppression_list(manager_api):
    contact_id = manager_api.post("/api/v1/contacts/", {"phone": "+14155550123"}, format="json").json()["id"]
    out = manager_api.post(f"/api/v1/contacts/{contact_id}/unsubscribe/", {"reason": "asked by phone"}, format="json")
    assert out.json()["subscription"] == "unsubscribed"
    suppression = Suppression.objects.get()
    assert (suppression.phone, suppression.reason, suppression.source) == (
        "+14155550123", "admin", "api: api-manager: asked by phone")  # fmt: skip
    back = manager_api.post(f"/api/v1/contacts/{contact_id}/resubscribe/", {}, format="json")
    assert back.json()["subscription"] == "subscribed" and not Suppression.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_import_is_a_job_with_progress_and_its_rejected_rows(live_celery_worker, manager_api, tmp_path):
    csv = tmp_path / "contacts.csv"
    csv.write_text("phone,name,city\n+14155550001,Ana,Lima\nnope,Bad,X\n+14155550002,Bo,Rome\n")
    with csv.open("rb") as file:
        started = manager_api.post("/api/v1/imports/", {"file": file, "tag": "spring"}, format="multipart")
    assert started.status_code == 202, started.json()
    deadline = time.monotonic() + 60
    job = started.json()
    while not job["finished"] and time.monotonic() < deadline:
        time.sleep(0.2)
        job = manager_api.get(started["Location"]).json()
    assert (job["ok"], job["result"]["created"], job["result"]["invalid_count"]) == (True, 2, 1)
    assert [row["line"] for row in job["rejected"]] == [3]
    assert Contact.objects.get(phone="+14155550001").attributes == {"city": "Lima"}
