"""Events are raised where things happen, recorded in that transaction, sent after its commit, signed."""

import datetime as dt
import json
import time

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audiences import jobs
from audiences.models import Contact
from audiences.tasks import import_contacts_task
from campaigns import states
from campaigns.batch import batch_send
from campaigns.models import Campaign
from campaigns.services import campaign_pause
from outbound.models import Delivery, Endpoint, Event, EventType
from outbound.signing import verify
from tests.campaigns.helpers import START
from tests.factories.audiences import ContactFactory
from tests.factories.campaigns import CampaignFactory
from tests.whatsapp import payloads as p

C = Campaign.Status
pytestmark = pytest.mark.usefixtures("deliver_inline")


def endpoint(receiver, *types: str) -> Endpoint:
    return Endpoint.objects.create(url=receiver.url, event_types=list(types))


def received_json(request) -> dict:
    return json.loads(request.body)


@pytest.mark.django_db(transaction=True)
def test_an_endpoint_receives_a_correctly_signed_campaign_completed(receiver):
    hook = endpoint(receiver, EventType.CAMPAIGN_COMPLETED)
    campaign = CampaignFactory(status=C.RUNNING)  # nothing left to send: the batch completes it

    batch_send(now=START)

    [request] = receiver.wait_for(1)
    # What a receiver does: the raw body, the three headers, the endpoint's secret, its own clock.
    verify(secret=hook.secret, headers=request.headers, body=request.body, now=time.time())
    event = received_json(request)
    assert event["type"] == "campaign.completed"
    assert event["id"] == request.headers["webhook-id"]
    assert dt.datetime.fromisoformat(event["created_at"]).utcoffset() is not None  # ISO 8601 with its offset
    assert event["data"]["campaign"] == {"id": campaign.pk, "name": campaign.name}
    assert (event["data"]["status"], event["data"]["previous_status"]) == ("completed", "running")
    assert Delivery.objects.get().status == Delivery.Status.SUCCEEDED
    with pytest.raises(ValueError, match="no signature matches"):
        verify(secret=hook.secret, headers=request.headers, body=request.body.replace(b"completed", b"cancelled"),
               now=time.time())  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_a_stop_webhook_through_the_real_view_sends_contact_opted_out(receiver, client):
    hook = endpoint(receiver, EventType.CONTACT_OPTED_OUT, EventType.CONTACT_OPTED_IN)
    ContactFactory(phone="+14155550123")
    raw = p.body(p.text_message("14155550123", "STOP"))

    answer = client.generic(
        "POST", reverse("whatsapp:webhook"), raw, content_type="application/json",
        headers={"X-Hub-Signature-256": p.signature(raw)},
    )  # fmt: skip

    assert answer.status_code == 200
    [request] = receiver.wait_for(1)
    verify(secret=hook.secret, headers=request.headers, body=request.body, now=time.time())
    event = received_json(request)
    assert event["type"] == "contact.opted_out"
    assert event["data"]["phone"] == "+14155550123"
    assert event["data"]["reason"] == Contact.SubscriptionReason.KEYWORD
    # The same STOP again changes nothing, so it raises nothing.
    client.generic("POST", reverse("whatsapp:webhook"), raw, content_type="application/json",
                   headers={"X-Hub-Signature-256": p.signature(raw)})  # fmt: skip
    assert Event.objects.filter(type="contact.opted_out").count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_import_sends_import_finished_with_its_counts(receiver, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    endpoint(receiver, EventType.IMPORT_FINISHED, EventType.CONTACT_OPTED_OUT)
    csv = b"phone,name,subscribed\n+14155550101,Ana,yes\n+14155550102,Bo,no\nnot a phone,Cy,yes\n"
    token = jobs.import_upload_store(chunks=[csv])

    import_contacts_task.apply(args=[token, {"region": "US"}, False, None], task_id="job-42", throw=True)

    requests = receiver.wait_for(2)
    by_type = {received_json(r)["type"]: received_json(r)["data"] for r in requests}
    assert by_type["contact.opted_out"]["phone"] == "+14155550102"
    finished = by_type["import.finished"]
    assert (finished["import_id"], finished["ok"]) == ("job-42", True)
    assert (finished["created"], finished["invalid"], finished["rows"]) == (2, 1, 3)


@pytest.mark.django_db(transaction=True)
def test_a_preview_dry_run_sends_nothing(receiver, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    endpoint(receiver, EventType.IMPORT_FINISHED, EventType.CONTACT_OPTED_OUT)
    token = jobs.import_upload_store(chunks=[b"phone,subscribed\n+14155550102,no\n"])

    import_contacts_task.apply(args=[token, {"region": "US"}, True, None], throw=True)

    assert not Event.objects.exists()
    assert receiver.requests == []


@pytest.mark.django_db(transaction=True)
def test_events_raised_in_a_rolled_back_transaction_are_never_sent(receiver):
    endpoint(receiver, EventType.CAMPAIGN_PAUSED)
    rolled_back, committed = CampaignFactory(status=C.RUNNING), CampaignFactory(status=C.RUNNING)

    with pytest.raises(RuntimeError), transaction.atomic():
        campaign_pause(campaign=rolled_back, reason="by hand", now=START)
        raise RuntimeError("the caller fails after the move")
    campaign_pause(campaign=committed, reason="quality", now=START)

    [request] = receiver.wait_for(1)
    data = received_json(request)["data"]
    assert (data["campaign"]["id"], data["reason"]) == (committed.pk, "quality")
    assert Event.objects.count() == 1
    assert Campaign.objects.get(pk=rolled_back.pk).status == C.RUNNING


@pytest.mark.django_db
def test_an_emission_failure_never_fails_the_move(receiver, monkeypatch, caplog):
    endpoint(receiver, EventType.CAMPAIGN_PAUSED)
    campaign = CampaignFactory(status=C.RUNNING)

    def broken(*args, **kwargs):
        raise RuntimeError("the outbox is broken")

    monkeypatch.setattr(Delivery.objects, "bulk_create", broken)
    with transaction.atomic():  # the caller's own transaction goes on (a savepoint took the failure)
        campaign_pause(campaign=campaign, reason="by hand", now=START)
        assert Campaign.objects.filter(status=C.PAUSED).count() == 1

    assert Campaign.objects.get(pk=campaign.pk).status == C.PAUSED
    assert not Event.objects.exists()
    assert "campaign.paused event(s) not recorded" in caplog.text


@pytest.mark.django_db
def test_bulk_moves_stay_set_based_whatever_the_number_of_campaigns(receiver, django_capture_on_commit_callbacks):
    endpoint(receiver, EventType.CAMPAIGN_COMPLETED)

    def complete(count: int) -> int:
        CampaignFactory.create_batch(count, status=C.RUNNING)
        with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks():
            moved = states.campaigns_move(Campaign.objects.filter(status=C.RUNNING), to=C.COMPLETED, now=START)
        assert moved == count
        return len(queries)

    assert complete(3) == complete(60)
    assert Event.objects.filter(type="campaign.completed").count() == 63
    assert Delivery.objects.count() == 63


@pytest.mark.django_db(transaction=True)
def test_a_bulk_move_reaches_every_endpoint_for_every_campaign(receiver, monkeypatch):
    from outbound import services

    monkeypatch.setattr(services, "ENQUEUE_CHUNK", 2)  # 6 deliveries: three messages to split
    endpoint(receiver, EventType.CAMPAIGN_COMPLETED)
    endpoint(receiver, EventType.CAMPAIGN_COMPLETED, EventType.CAMPAIGN_PAUSED)
    campaigns = CampaignFactory.create_batch(3, status=C.RUNNING)

    batch_send(now=START)

    requests = receiver.wait_for(6)
    ids = sorted(received_json(r)["data"]["campaign"]["id"] for r in requests)
    assert ids == sorted([c.pk for c in campaigns] * 2)
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SUCCEEDED}


@pytest.mark.django_db
def test_pause_carries_its_reason_and_activation_and_resume_have_their_events(django_capture_on_commit_callbacks):
    Endpoint.objects.create(url="http://127.0.0.1:9/", event_types=[t.value for t in EventType], active=True)
    campaign = CampaignFactory(status=C.RUNNING)

    with django_capture_on_commit_callbacks():
        states.campaign_move(campaign_id=campaign.pk, to=C.PAUSED, now=START, pause_reason="Error 131048",
                             pause_error_code=131048)  # fmt: skip
        states.campaign_move(campaign_id=campaign.pk, to=C.RUNNING, now=START)
        states.campaign_move(campaign_id=campaign.pk, to=C.CANCELLED, now=START)

    events = list(Event.objects.order_by("created_at", "type").values_list("type", "data"))
    assert [t for t, _ in events] == ["campaign.cancelled", "campaign.paused", "campaign.resumed"]
    paused = dict(events)["campaign.paused"]
    assert (paused["reason"], paused["error_code"], paused["previous_status"]) == ("Error 131048", 131048, "running")


@pytest.mark.django_db
def test_nothing_is_recorded_when_no_endpoint_listens(django_capture_on_commit_callbacks):
    Endpoint.objects.create(url="http://127.0.0.1:9/", event_types=[EventType.CAMPAIGN_PAUSED], active=False)
    campaign = CampaignFactory(status=C.RUNNING)
    with django_capture_on_commit_callbacks() as callbacks:
        campaign_pause(campaign=campaign, reason="x", now=START)
    assert not Event.objects.exists()
    assert callbacks == []


@pytest.mark.django_db(transaction=True)
def test_a_template_meta_pauses_raises_alert_raised_once(receiver, client):
    """The platform's one alert entry point (whatsapp/platform.py alert_raise) announces each new alert."""
    from tests.campaigns.helpers import running_campaign

    hook = endpoint(receiver, EventType.ALERT_RAISED)
    campaign = running_campaign(2)
    value = {"event": "PAUSED", "message_template_id": 4321, "message_template_name": campaign.template.name,
             "message_template_language": campaign.template.language, "reason": "NONE",
             "other_info": {"title": "FIRST_PAUSE", "description": "Paused for 3 hours."}}  # fmt: skip
    entry = {"id": p.WABA_ID, "time": int(time.time()), "changes": [{"field": "message_template_status_update",
                                                                       "value": value}]}  # fmt: skip
    raw = json.dumps({"object": "whatsapp_business_account", "entry": [entry]}).encode()

    for _ in range(2):  # a replay raises nothing new
        answer = client.generic("POST", reverse("whatsapp:webhook"), raw, content_type="application/json",
                                headers={"X-Hub-Signature-256": p.signature(raw)})  # fmt: skip
        assert answer.status_code == 200

    [request] = receiver.wait_for(1)
    verify(secret=hook.secret, headers=request.headers, body=request.body, now=time.time())
    event = received_json(request)
    assert event["type"] == "alert.raised"
    assert event["data"]["alert"]["severity"] == "error"
    assert campaign.template.name in event["data"]["alert"]["message"]
    assert Event.objects.filter(type="alert.raised").count() == 1


@pytest.mark.django_db
def test_the_admins_bulk_unsubscribe_and_resubscribe_raise_one_event_per_phone(django_capture_on_commit_callbacks):
    from audiences.erasure import contact_erase
    from audiences.services import contacts_set_subscription

    Endpoint.objects.create(
        url="http://127.0.0.1:9/", event_types=[EventType.CONTACT_OPTED_OUT, EventType.CONTACT_OPTED_IN]
    )
    ana, bo, erased = (ContactFactory(phone=f"+1415555010{n}") for n in (1, 2, 3))
    everyone = Contact.objects.filter(pk__in=[ana.pk, bo.pk])
    R = Contact.SubscriptionReason

    with django_capture_on_commit_callbacks():
        contacts_set_subscription(contacts=everyone, subscribed=False, reason=R.ADMIN, at=START)
        contacts_set_subscription(contacts=everyone, subscribed=False, reason=R.ADMIN, at=START)  # nothing new
        contacts_set_subscription(contacts=everyone.filter(pk=ana.pk), subscribed=True, reason=R.ADMIN, at=START)
        contact_erase(contact=erased, now=START)

    events = sorted(Event.objects.values_list("type", "data__phone"))
    assert events == [
        ("contact.opted_in", "+14155550101"),
        ("contact.opted_out", "+14155550101"),
        ("contact.opted_out", "+14155550102"),
    ]  # the erased number suppressed, but not announced
