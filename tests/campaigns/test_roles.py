"""Roles: the migration's two groups, the admin enforcing them, and every operator action in the admin history."""

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps as global_apps
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone

from audiences.models import Contact
from campaigns.models import Campaign, Recipient
from campaigns.services import campaign_pause, campaign_recount
from tests.campaigns.helpers import START, running_campaign, statuses
from tests.factories.audiences import ContactFactory
from tests.factories.campaigns import CampaignFactory
from tests.factories.users import MANAGERS, VIEWERS, UserFactory
from whatsapp.backends.locmem import LocmemBackend
from whatsapp.models import MessageTemplate, WebhookEvent

pytestmark = pytest.mark.django_db
roles_migration = importlib.import_module("campaigns.migrations.0006_operator_roles")
# Models added after 0006 join the roles in their own migration.
later_role_migrations = [
    ("audiences", "0004_suppression"),
    ("whatsapp", "0008_platform_alert_roles"),
    ("campaigns", "0014_cost_rate_cards_budget"),
    ("campaigns", "0015_engagement_roles"),
    ("whatsapp", "0011_sender_roles"),
]
phones_migration = importlib.import_module("audiences.migrations.0005_contact_view_phone_numbers")
APPS = ("campaigns", "audiences", "whatsapp")
CHANGELIST = reverse("admin:campaigns_campaign_changelist")


def granted(group_name: str) -> set[str]:
    perms = Group.objects.get(name=group_name).permissions.values_list("content_type__app_label", "codename")
    return {f"{app}.{codename}" for app, codename in perms}


def every_permission_of_the_apps() -> set[str]:
    perms = Permission.objects.filter(content_type__app_label__in=APPS)
    return {f"{p.content_type.app_label}.{p.codename}" for p in perms.select_related("content_type")}


# --- The migration --------------------------------------------------------------


def test_managers_get_every_permission_of_the_campaign_apps_and_the_batch_schedule():
    expected = every_permission_of_the_apps() | {
        "django_celery_beat.view_periodictask",
        "django_celery_beat.change_periodictask",
    }
    assert granted(MANAGERS) == expected
    assert {"campaigns.activate_campaign", "campaigns.export_recipients", "audiences.add_contact"} <= expected


def test_viewers_get_view_permissions_only():
    """...of the models: whole phone numbers (audiences.view_phone_numbers) are the managers' alone."""
    perms = granted(VIEWERS)
    assert perms == {p for p in granted(MANAGERS) if p.split(".")[1].startswith("view_")} - {
        "audiences.view_phone_numbers"
    }
    assert {"campaigns.view_campaign", "campaigns.view_recipient", "audiences.view_contact"} <= perms
    assert not perms & {"campaigns.activate_campaign", "campaigns.export_recipients", "campaigns.change_campaign"}


def test_the_migration_creates_the_permissions_it_needs_runs_twice_safely_and_reverses():
    """As on a fresh `migrate`: no permission rows yet (post_migrate has not run), the migration's model state."""
    state_apps = MigrationExecutor(connection).loader.project_state(("campaigns", "0006_operator_roles")).apps
    editor = SimpleNamespace(connection=connection)
    expected = {name: granted(name) for name in (MANAGERS, VIEWERS)}

    roles_migration.delete_roles(state_apps, editor)
    assert not Group.objects.filter(name__in=[MANAGERS, VIEWERS]).exists()
    Permission.objects.filter(content_type__app_label__in=[*APPS, "django_celery_beat"]).delete()

    roles_migration.create_roles(state_apps, editor)
    roles_migration.create_roles(state_apps, editor)
    for app_label, name in later_role_migrations:
        later_apps = MigrationExecutor(connection).loader.project_state((app_label, name)).apps
        for _ in range(2):
            importlib.import_module(f"{app_label}.migrations.{name}").grant_roles(later_apps, editor)
    # ...then, as on a fresh `migrate`, audiences 0005 adds the permission it creates to the managers' role.
    phones_state = (
        MigrationExecutor(connection).loader.project_state(("audiences", "0005_contact_view_phone_numbers")).apps
    )
    phones_migration.grant_to_managers(phones_state, editor)
    phones_migration.grant_to_managers(phones_state, editor)
    assert {name: granted(name) for name in (MANAGERS, VIEWERS)} == expected
    assert Group.objects.filter(name__in=[MANAGERS, VIEWERS]).count() == 2
    # The real app registry finds the same rows: post_migrate will add nothing twice.
    roles_migration.create_roles(global_apps, editor)
    assert {name: granted(name) for name in (MANAGERS, VIEWERS)} == expected


# --- Campaign actions: a viewer is refused each one, a manager can, and it is recorded --------------------------


def _draft():
    ContactFactory.create_batch(2)
    return CampaignFactory(), {}


def _running():
    return running_campaign(2, tag="roles"), {}


def _top_up():
    campaign = running_campaign(1, tag="roles")
    ContactFactory(tags=["roles"])
    return campaign, {}


def _paused():
    campaign = running_campaign(1)
    campaign_pause(campaign=campaign, reason="by hand", now=START)
    return campaign, {}


def _with(status):
    def setup():
        campaign = running_campaign(1)
        Recipient.objects.filter(campaign=campaign).update(status=status)
        campaign_recount(campaign=campaign)
        return campaign, {}

    return setup


def _cancel():
    return running_campaign(2), {"post": "yes"}


def _send_test():
    return running_campaign(1), {"phone": "+14155550123"}


ACTIONS = {
    # action: (a set-up in which the action would work -> (campaign, extra POST data), a manager's history entry)
    "activate": (_draft, "Activation started in the background (job "),
    "top_up": (_top_up, "Top-up started in the background (job "),
    "pause": (_running, "Paused"),
    "resume": (_paused, "Resumed: running"),
    "cancel": (_cancel, "Cancelled: 2 pending recipients"),
    "retry_failed": (_with(Recipient.Status.FAILED), "Retry 1 of 1 failed. Requeued: 1."),
    "resend_unknown": (_with(Recipient.Status.UNKNOWN), "Resent: 1 unknown requeued"),
    "send_test": (_send_test, "Sent a test to +14155550123: message "),
    "clone": (_draft, "Cloned from "),
}


def snapshot(outbox) -> tuple:
    campaigns = list(Campaign.objects.order_by("pk").values_list("pk", "status", "total", "pending", "cancelled"))
    recipients = [statuses(c) for c in Campaign.objects.order_by("pk")]
    return campaigns, recipients, len(outbox)


def act(client, action, campaign, data):
    # "confirm": the dangerous actions' confirmation page answered yes (the others ignore it).
    return client.post(
        CHANGELIST, {"action": action, ACTION_CHECKBOX_NAME: [campaign.pk], "confirm": "yes", **data}, follow=True
    )


def offered_actions(client) -> set[str]:
    form = client.get(CHANGELIST).context["action_form"]  # None when no action is allowed at all
    return {name for name, _ in form.fields["action"].choices if name} if form else set()


@pytest.mark.parametrize("action", ACTIONS)
def test_a_viewer_is_neither_offered_nor_allowed_any_campaign_action(viewer_client, action, outbox):
    setup, _ = ACTIONS[action]
    campaign, data = setup()
    assert action not in offered_actions(viewer_client)
    before = snapshot(outbox)
    response = act(viewer_client, action, campaign, data)
    assert response.status_code == 200
    assert snapshot(outbox) == before
    assert not LogEntry.objects.exists()


@pytest.mark.parametrize("action", ACTIONS)
def test_a_manager_runs_each_campaign_action_and_it_is_recorded(
    manager_client, action, outbox, eager_celery, django_capture_on_commit_callbacks
):
    setup, history = ACTIONS[action]
    campaign, data = setup()
    assert action in offered_actions(manager_client)
    before = snapshot(outbox)
    with django_capture_on_commit_callbacks(execute=True):  # activation and top-up run as tasks after the commit
        act(manager_client, action, campaign, data)
    assert snapshot(outbox) != before
    entry = LogEntry.objects.get()
    assert entry.user.username == "manager"
    assert entry.get_change_message().startswith(history)


def test_a_refused_service_call_is_reported_but_not_recorded(manager_client):
    campaign = CampaignFactory(status=Campaign.Status.COMPLETED)
    response = act(manager_client, "pause", campaign, {})
    assert "it cannot become paused" in response.content.decode()
    assert not LogEntry.objects.exists()


def test_the_history_page_shows_what_was_done(manager_client):
    campaign, _ = _running()
    act(manager_client, "pause", campaign, {})
    act(manager_client, "resume", campaign, {})
    page = manager_client.get(reverse("admin:campaigns_campaign_history", args=[campaign.pk])).content.decode()
    assert "Paused" in page and "Resumed: running" in page


def test_changing_campaigns_is_not_enough_to_activate_or_export(client):
    """activate_campaign and export_recipients are permissions of their own, beyond change."""
    from tests.factories.users import UserFactory

    editor = UserFactory()
    editor.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_campaign", "change_campaign", "add_campaign"])
    )
    client.force_login(editor)
    campaign, data = _draft()
    assert offered_actions(client) == {"pause", "resume", "cancel", "retry_failed", "resend_unknown", "send_test",
                                       "clone"}  # fmt: skip
    act(client, "activate", campaign, data)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert client.get(reverse("admin:campaigns_campaign_export_recipients", args=[campaign.pk])).status_code == 403
    assert not LogEntry.objects.exists()


# --- The change page, exports and the clone button -------------------------------------------------------------


def test_a_viewer_sees_the_change_page_read_only_without_clone_or_exports(viewer_client):
    campaign = running_campaign(1)
    response = viewer_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "1 of 1" in page or "0 of 1" in page  # the progress block
    assert 'name="_save"' not in page
    for name in ("clone", "export_failures", "export_recipients"):
        assert reverse(f"admin:campaigns_campaign_{name}", args=[campaign.pk]) not in page


def test_a_manager_sees_the_clone_button_and_both_exports(manager_client):
    campaign = running_campaign(1)
    page = manager_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert reverse("admin:campaigns_campaign_clone", args=[campaign.pk]) in page
    assert reverse("admin:campaigns_campaign_export_failures", args=[campaign.pk]) in page
    assert reverse("admin:campaigns_campaign_export_recipients", args=[campaign.pk]) in page


@pytest.fixture
def manager_client_for():
    """A second, separate client for a manager, for tests that compare with a viewer in the same test."""
    from django.test import Client

    from tests.factories.users import UserFactory

    def make():
        other = Client()
        other.force_login(UserFactory(username="manager", groups=[MANAGERS]))
        return other

    return make


@pytest.mark.parametrize("kind", ["failures", "recipients"])
def test_a_viewer_cannot_export_phones(viewer_client, manager_client_for, kind):
    campaign = running_campaign(1)
    url = reverse(f"admin:campaigns_campaign_export_{kind}", args=[campaign.pk])
    assert viewer_client.get(url).status_code == 403
    assert not LogEntry.objects.exists()
    response = manager_client_for().get(url)
    assert response.status_code == 200
    assert LogEntry.objects.count() == 1


def test_a_viewer_cannot_clone_from_the_change_page(viewer_client):
    campaign = CampaignFactory()
    assert viewer_client.post(reverse("admin:campaigns_campaign_clone", args=[campaign.pk])).status_code == 403
    assert Campaign.objects.count() == 1
    assert not LogEntry.objects.exists()


# --- Contacts and WhatsApp: opt-out/in, import, template sync, webhook replay ----------------------------------


@pytest.mark.parametrize("action", ["unsubscribe_selected", "resubscribe_selected"])
def test_a_viewer_cannot_change_a_contacts_subscription(viewer_client, action):
    contact = ContactFactory(unsubscribed=action == "resubscribe_selected")
    before = Contact.objects.get(pk=contact.pk).subscription
    url = reverse("admin:audiences_contact_changelist")
    viewer_client.post(url, {"action": action, ACTION_CHECKBOX_NAME: [contact.pk], "confirm": "yes"})
    assert Contact.objects.get(pk=contact.pk).subscription == before
    assert not LogEntry.objects.exists()


def test_a_viewer_cannot_import_contacts(viewer_client, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    url = reverse("admin:audiences_contact_import")
    assert viewer_client.get(url).status_code == 403
    csv = SimpleUploadedFile("c.csv", b"phone,name\n+14155550101,Ann\n")
    assert viewer_client.post(url, {"file": csv}).status_code == 403
    assert "Import CSV" not in viewer_client.get(reverse("admin:audiences_contact_changelist")).content.decode()
    assert not Contact.objects.exists()


@pytest.fixture
def roles_after_a_flush(transactional_db):
    """The roles' groups (a migration's rows), which a transactional test before this one flushed."""
    with connection.schema_editor() as editor:
        roles_migration.create_roles(global_apps, editor)


# A real worker runs the preview and the import.
@pytest.mark.django_db(transaction=True)
def test_a_manager_imports_contacts_and_the_import_is_recorded(
    roles_after_a_flush, live_celery_worker, manager_client, settings, tmp_path
):
    from audiences.tasks import import_contacts_task

    settings.VAR_DIR = tmp_path
    url = reverse("admin:audiences_contact_import")
    csv = SimpleUploadedFile("c.csv", b"phone,name\n+14155550101,Ann\n12ab,Bad\n")
    preview = manager_client.post(url, {"file": csv, "region": "US"})
    import_contacts_task.AsyncResult(preview.url.rstrip("/").split("/")[-1]).get(timeout=60)
    confirm = manager_client.post(preview.url + "confirm/")
    import_contacts_task.AsyncResult(confirm.url.rstrip("/").split("/")[-1]).get(timeout=60)
    assert Contact.objects.count() == 1
    entry = LogEntry.objects.get()
    assert entry.content_type.model_class() is Contact and entry.object_id is None
    assert entry.get_change_message() == "Imported contacts from c.csv: created=1 updated=0 unchanged=0 invalid=1"


def test_a_manager_unsubscribes_a_contact_and_it_is_recorded(manager_client):
    contact = ContactFactory()
    url = reverse("admin:audiences_contact_changelist")
    manager_client.post(url, {"action": "unsubscribe_selected", ACTION_CHECKBOX_NAME: [contact.pk], "confirm": "yes"})
    assert not Contact.objects.get(pk=contact.pk).is_subscribed
    assert LogEntry.objects.get(object_id=str(contact.pk)).get_change_message() == "Unsubscribed (admin action)"


def sync(client):
    return client.post(reverse("admin:whatsapp_messagetemplate_changelist"), {"action": "sync_templates"}, follow=True)


def test_a_viewer_cannot_sync_templates(viewer_client):
    LocmemBackend.templates[:] = [{"name": "hello_world", "language": "en_US", "status": "APPROVED"}]
    page = viewer_client.get(reverse("admin:whatsapp_messagetemplate_changelist")).content.decode()
    assert "Sync templates from WhatsApp" not in page
    sync(viewer_client)
    assert not MessageTemplate.objects.exists()
    assert not LogEntry.objects.exists()
    LocmemBackend.reset()


def test_a_manager_syncs_templates_and_the_sync_is_recorded(manager_client):
    LocmemBackend.templates[:] = [{"name": "hello_world", "language": "en_US", "status": "APPROVED"}]
    assert "Sync templates from WhatsApp" in sync(manager_client).content.decode()
    assert MessageTemplate.objects.get().name == "hello_world"
    entry = LogEntry.objects.get()
    assert entry.content_type.model_class() is MessageTemplate
    assert entry.get_change_message() == (
        "Synced templates from the WhatsApp account: 1 created, 0 updated, 0 marked missing"
    )
    LocmemBackend.reset()


def replay(client, event):
    url = reverse("admin:whatsapp_webhookevent_changelist")
    return client.post(url, {"action": "replay", ACTION_CHECKBOX_NAME: [event.pk], "post": "yes"}, follow=True)


@pytest.fixture
def webhook_event():
    body = b'{"object": "whatsapp_business_account", "entry": []}'
    return WebhookEvent.objects.create(received_at=timezone.now(), body=body, signature="sha256=x")


def test_a_viewer_cannot_replay_a_webhook(viewer_client, webhook_event):
    replay(viewer_client, webhook_event)
    webhook_event.refresh_from_db()
    assert webhook_event.replay_count == 0
    assert not LogEntry.objects.exists()


def test_a_manager_replays_a_webhook_and_the_replay_is_recorded(manager_client, webhook_event):
    assert b"Replayed 1 webhook(s)." in replay(manager_client, webhook_event).content
    webhook_event.refresh_from_db()
    assert webhook_event.replay_count == 1
    entry = LogEntry.objects.get()
    assert (entry.object_id, entry.get_change_message()) == (str(webhook_event.pk), "Replayed: processed, 0 event(s)")


def test_a_manager_changes_a_numbers_rate_but_not_which_number_it_is(client):
    from whatsapp.models import Sender

    sender = Sender.objects.create(phone_number_id="100000000000009", display_phone_number="+351 910 000 009")
    client.force_login(UserFactory(username="manager-senders", groups=[MANAGERS]))
    url = reverse("admin:whatsapp_sender_change", args=[sender.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="throughput_mps"' in page.content.decode() and 'name="phone_number_id"' not in page.content.decode()
