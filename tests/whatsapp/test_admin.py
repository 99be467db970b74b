"""Admin: template list and sync action, webhook list and replay action (smoke-tested with admin_client)."""

import pytest
from django.urls import reverse

from tests.factories.whatsapp import MessageTemplateFactory
from tests.whatsapp import payloads as p
from whatsapp.backends.locmem import LocmemBackend
from whatsapp.models import MessageTemplate, WebhookEvent

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
        {"action": "replay", "_selected_action": [event.pk]},
        follow=True,
    )
    assert b"Replayed 1 webhook(s)." in response.content
    event.refresh_from_db()
    assert (event.status, event.error, event.replay_count) == (WebhookEvent.Status.PROCESSED, "", 1)
    assert [e.message_id for e in received.of("status")] == ["wamid.A", "wamid.A"]
