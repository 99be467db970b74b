"""Admin: template list and sync action, webhook list and replay action (smoke-tested with admin_client)."""

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories.whatsapp import MessageTemplateFactory
from tests.whatsapp import payloads as p
from whatsapp.backends.locmem import LocmemBackend
from whatsapp.models import MessageTemplate, WebhookEvent, WebhookEventKey

pytestmark = pytest.mark.django_db


def test_template_pages_render(admin_client):
    template = MessageTemplateFactory()
    assert admin_client.get(reverse("admin:whatsapp_messagetemplate_changelist")).status_code == 200
    page = admin_client.get(reverse("admin:whatsapp_messagetemplate_change", args=[template.pk]))
    assert page.status_code == 200
    assert b"Our spring sale starts in {{1}}" in page.content


def test_sync_action_without_a_selection_syncs_the_account(admin_client):
    LocmemBackend.templates[:] = [{"name": "hello_world", "language": "en_US", "status": "APPROVED"}]
    response = admin_client.post(
        reverse("admin:whatsapp_messagetemplate_changelist"), {"action": "sync_templates"}, follow=True
    )
    assert response.status_code == 200
    assert b"Templates synced: 1 created" in response.content
    assert MessageTemplate.objects.approved().get().name == "hello_world"


def test_webhook_pages_render_and_replay_reprocesses_a_failed_event(admin_client, post_webhook, received):
    raw = p.body(p.statuses_value(p.status("wamid.A", "delivered")))
    post_webhook(raw)
    event = WebhookEvent.objects.get()
    WebhookEvent.objects.filter(pk=event.pk).update(status=WebhookEvent.Status.FAILED, error="boom")
    assert admin_client.get(reverse("admin:whatsapp_webhookevent_changelist")).status_code == 200
    page = admin_client.get(reverse("admin:whatsapp_webhookevent_change", args=[event.pk]))
    assert b"wamid.A" in page.content

    response = admin_client.post(
        reverse("admin:whatsapp_webhookevent_changelist"),
        {"action": "replay", "_selected_action": [event.pk], "post": "yes"},
        follow=True,
    )
    assert b"Replayed 1 webhook(s)." in response.content
    event.refresh_from_db()
    assert (event.status, event.error, event.replay_count) == (WebhookEvent.Status.PROCESSED, "", 1)
    assert [e.message_id for e in received.of("status")] == ["wamid.A", "wamid.A"]


# --- Replay asks first -----------------------------------------------------------------------------------


def test_replay_shows_a_confirmation_page_first_and_replays_nothing_until_confirmed(admin_client, post_webhook):
    post_webhook(p.body(p.statuses_value(p.status("wamid.A", "delivered"))))
    event = WebhookEvent.objects.get()
    WebhookEvent.objects.filter(pk=event.pk).update(status=WebhookEvent.Status.FAILED, error="boom")
    changelist = reverse("admin:whatsapp_webhookevent_changelist")

    page = admin_client.post(changelist, {"action": "replay", "_selected_action": [event.pk]})

    assert page.status_code == 200
    html = page.content.decode()
    assert "Replay 1 webhook?" in html and "1 failed" in html and "delivered" in html
    assert 'name="post" value="yes"' in html and f'name="_selected_action" value="{event.pk}"' in html
    event.refresh_from_db()
    assert (event.status, event.replay_count) == (WebhookEvent.Status.FAILED, 0)

    confirmed = admin_client.post(
        changelist, {"action": "replay", "_selected_action": [event.pk], "post": "yes"}, follow=True
    )
    assert b"Replayed 1 webhook(s)." in confirmed.content
    event.refresh_from_db()
    assert event.replay_count == 1


def test_viewers_cannot_replay(viewer_client, post_webhook):
    post_webhook(p.body(p.statuses_value(p.status("wamid.A", "delivered"))))
    event = WebhookEvent.objects.get()
    response = viewer_client.post(
        reverse("admin:whatsapp_webhookevent_changelist"),
        {"action": "replay", "_selected_action": [event.pk], "post": "yes"},
    )
    assert response.status_code in (200, 302, 403)
    event.refresh_from_db()
    assert event.replay_count == 0


# --- Search by phone and message id; what each body carries ---------------------------------------------


@pytest.fixture
def three_bodies(post_webhook):
    post_webhook(p.body(p.statuses_value(p.status("wamid.OUT1", "delivered", recipient="33614000012"))))
    post_webhook(p.body(p.statuses_value(p.status("wamid.OUT2", "read"), p.status("wamid.OUT3", "read"))))
    post_webhook(p.body(p.text_message("447911123456", "STOP", message_id="wamid.IN9")))
    return {event.carries: event for event in WebhookEvent.objects.all()}


def search(client, term):
    response = client.get(reverse("admin:whatsapp_webhookevent_changelist"), {"q": term})
    assert response.status_code == 200
    return {event.pk for event in response.context["cl"].result_list}


def test_webhook_events_are_found_by_phone_in_any_format_and_by_message_id(admin_client, three_bodies):
    delivered, reads, stop = three_bodies["delivered"], three_bodies["read \u00d72"], three_bodies["message (text)"]
    assert search(admin_client, "+33 6 14 00 00 12") == {delivered.pk}
    assert search(admin_client, "33614000012") == {delivered.pk}  # WhatsApp's wa_id
    assert search(admin_client, "+14155550123") == {reads.pk}  # the payloads' default recipient
    assert search(admin_client, "wamid.OUT3") == {reads.pk}
    assert search(admin_client, "+447911123456") == {stop.pk}
    assert search(admin_client, "wamid.IN9") == {stop.pk}
    assert search(admin_client, "wamid.NOPE") == set()
    assert search(admin_client, "15550001111") == set()  # our own display number is not a user's


def test_the_list_says_what_each_body_carries(admin_client, three_bodies):
    html = admin_client.get(reverse("admin:whatsapp_webhookevent_changelist")).content.decode()
    assert "read ×2" in html and "message (text)" in html and "delivered" in html


def test_a_viewer_searching_a_number_finds_the_body_shown_masked(viewer_client, three_bodies):
    assert search(viewer_client, "+33614000012") == {three_bodies["delivered"].pk}
    page = viewer_client.get(reverse("admin:whatsapp_webhookevent_change", args=[three_bodies["delivered"].pk]))
    html = page.content.decode()
    assert "33614000012" not in html and "+33 6 •• •• •• 12" in html
    assert html.count("<label>Error:</label>") == 1


def test_a_body_that_is_not_json_is_stored_without_keys():
    from whatsapp.search import webhook_event_index

    event = WebhookEvent.objects.create(received_at=timezone.now(), body=b"{not json 33614000012")
    assert webhook_event_index(webhook_event=event) == 0
    assert not event.keys.exists() and event.carries == ""


def test_the_migration_indexes_bodies_stored_before_it(admin_client):
    import importlib

    from django.apps import apps as global_apps
    from django.db import connection

    migration = importlib.import_module("whatsapp.migrations.0003_webhook_event_search")
    event = WebhookEvent.objects.create(received_at=timezone.now(), body=p.body(p.text_message("447911123456", "hi")))
    WebhookEventKey.objects.all().delete()
    WebhookEvent.objects.update(carries="")

    migration.index_stored_bodies(global_apps, type("Editor", (), {"connection": connection})())
    migration.index_stored_bodies(global_apps, type("Editor", (), {"connection": connection})())

    assert set(event.keys.values_list("value", flat=True)) == {"+447911123456", "wamid.IN1"}
    event.refresh_from_db()
    assert event.carries == "message (text)"
