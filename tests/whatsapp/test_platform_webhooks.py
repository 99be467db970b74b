"""Meta's platform webhooks through the real signed view: parsed into events, recorded, alerted; hostile values
never a 500 (docs/architecture.md, "Platform events")."""

import json
import time

import pytest
from django.core.management import call_command

from tests.factories.whatsapp import MessageTemplateFactory
from tests.whatsapp import payloads
from whatsapp import signals
from whatsapp.events import AccountEvent, LimitEvent, TemplateCategoryEvent, TemplateQualityEvent, TemplateStatusEvent
from whatsapp.models import MessageTemplate, PlatformAlert, Sender, WebhookEvent
from whatsapp.parsing import parse_events
from whatsapp.platform import sending_blocked
from whatsapp.tiers import messaging_limit, tier_from

pytestmark = pytest.mark.django_db


def body(field, value, *, at=None) -> bytes:
    entry = {"id": payloads.WABA_ID, "time": int(at if at is not None else time.time()),
             "changes": [{"field": field, "value": value}]}  # fmt: skip
    return json.dumps({"object": "whatsapp_business_account", "entry": [entry]}).encode()


def template_status(template, event, *, at=None, **extra):
    value = {
        "event": event,
        "message_template_id": int(template.external_id or 0) or 1234,
        "message_template_name": template.name,
        "message_template_language": template.language,
        "reason": extra.pop("reason", "NONE"),
        "message_template_category": template.category,
        **extra,
    }
    return body("message_template_status_update", value, at=at)


@pytest.fixture
def platform_events():
    seen = []

    def record(sender, event, **kwargs):
        seen.append(event)

    signals.platform_event_received.connect(record, weak=False, dispatch_uid="test-platform-recorder")
    yield seen
    signals.platform_event_received.disconnect(dispatch_uid="test-platform-recorder")


# --- every field is parsed into its event ------------------------------------------------------------------


def test_each_platform_field_becomes_its_event(post_webhook, platform_events):
    template = MessageTemplateFactory(name="spring_sale", external_id="900000000000002")
    bodies = [
        template_status(template, "PAUSED", other_info={"title": "FIRST_PAUSE", "description": "Paused 3 hours."}),
        body("message_template_quality_update", {"previous_quality_score": "GREEN", "new_quality_score": "RED",
             "message_template_id": 900000000000002, "message_template_name": "spring_sale",
             "message_template_language": "en_US"}),  # fmt: skip
        body("template_category_update", {"message_template_id": 900000000000002, "message_template_name":
             "spring_sale", "message_template_language": "en_US", "previous_category": "UTILITY",
             "new_category": "MARKETING"}),  # fmt: skip
        body("account_update", {"event": "ACCOUNT_VIOLATION", "violation_info": {"violation_type": "SCAM"}}),
        body("business_capability_update", {"max_daily_conversations_per_business": 10000,
             "max_phone_numbers_per_business": 2}),  # fmt: skip
        body("phone_number_quality_update", {"display_phone_number": "15550001111", "event": "UPGRADE",
             "old_limit": "TIER_2K", "current_limit": "TIER_10K", "max_daily_conversations_per_business": "TIER_10K"}),
    ]  # fmt: skip
    for raw in bodies:
        assert post_webhook(raw).status_code == 200

    kinds = [type(event) for event in platform_events]
    assert kinds == [TemplateStatusEvent, TemplateQualityEvent, TemplateCategoryEvent, AccountEvent, LimitEvent,
                     LimitEvent]  # fmt: skip
    paused = platform_events[0]
    assert (paused.event, paused.title, paused.description) == ("PAUSED", "FIRST_PAUSE", "Paused 3 hours.")
    assert platform_events[3].violation_type == "SCAM"
    assert [e.tier for e in platform_events[4:]] == ["TIER_10K", "TIER_10K"]
    assert platform_events[5].old_tier == "TIER_2K" and platform_events[5].event == "UPGRADE"
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {WebhookEvent.Status.PROCESSED}


@pytest.mark.parametrize(
    ("raw", "tier"),
    [("TIER_50", "TIER_50"), ("TIER_250", "TIER_250"), ("TIER_1K", "TIER_1K"), ("TIER_2K", "TIER_2K"),
     ("tier_10k", "TIER_10K"), ("TIER_100K", "TIER_100K"), ("TIER_UNLIMITED", "TIER_UNLIMITED"), (2000, "TIER_2K"),
     ("250", "TIER_250"), (-1, "TIER_UNLIMITED"), ("TIER_NOT_SET", ""), (1234, ""), ("lots", ""), (None, ""),
     (True, ""), ({"current_limit": "TIER_2K"}, "TIER_2K"), ([1], "")],
)  # fmt: skip
def test_tiers_are_read_from_every_shape_meta_uses(raw, tier):
    assert tier_from(raw) == tier


# --- templates: status, quality, category recorded and alerted ----------------------------------------------


def test_a_template_status_is_recorded_with_metas_words_and_a_replay_changes_nothing(post_webhook):
    template = MessageTemplateFactory(name="spring_sale")
    raw = template_status(template, "PAUSED", other_info={"title": "FIRST_PAUSE", "description": "Low quality."})
    post_webhook(raw)
    template.refresh_from_db()
    assert template.status == MessageTemplate.Status.PAUSED
    assert "FIRST_PAUSE" in template.status_detail and "Low quality." in template.status_detail
    alert = PlatformAlert.objects.get()
    assert alert.severity == "error" and "FIRST_PAUSE" in alert.words

    post_webhook(raw)  # Meta retries; the admin replays
    assert PlatformAlert.objects.count() == 1


def test_an_older_status_event_does_not_undo_a_newer_one(post_webhook):
    template = MessageTemplateFactory(name="spring_sale")
    now = int(time.time())
    post_webhook(template_status(template, "PAUSED", at=now))
    post_webhook(template_status(template, "APPROVED", at=now - 600))  # late, out of order
    template.refresh_from_db()
    assert template.status == MessageTemplate.Status.PAUSED


def test_quality_and_category_changes_are_recorded_on_the_template_and_alerted(post_webhook):
    template = MessageTemplateFactory(name="spring_sale", quality="GREEN", category="UTILITY")
    ids = {"message_template_id": 1, "message_template_name": "spring_sale", "message_template_language": "en_US"}
    post_webhook(body("message_template_quality_update",
                      {"previous_quality_score": "GREEN", "new_quality_score": "RED", **ids}))  # fmt: skip
    post_webhook(body("template_category_update", {"previous_category": "UTILITY", "new_category": "MARKETING", **ids}))
    template.refresh_from_db()
    assert (template.quality, template.previous_quality) == ("RED", "GREEN")
    assert (template.category, template.previous_category) == ("MARKETING", "UTILITY")
    assert template.quality_changed_at and template.category_changed_at
    assert set(PlatformAlert.objects.values_list("kind", flat=True)) == {"template_quality", "template_category"}


# --- the account: a restriction blocks sending until lifted -----------------------------------------------------


def test_an_account_restriction_blocks_until_its_expiration(post_webhook):
    from django.utils import timezone

    expiration = "2099-01-01T00:00:00+0000"
    post_webhook(body("account_update", {"event": "ACCOUNT_RESTRICTION", "restriction_info": [
        {"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING", "expiration": expiration}]}))  # fmt: skip
    blocked = sending_blocked(now=timezone.now())
    assert blocked is not None and blocked.until.year == 2099
    assert sending_blocked(now=blocked.until) is None  # lifted by itself when it expires


def test_a_restriction_that_leaves_templates_alone_only_warns(post_webhook):
    from django.utils import timezone

    post_webhook(
        body(
            "account_update",
            {
                "event": "ACCOUNT_RESTRICTION",
                "restriction_info": [
                    {"restriction_type": "RESTRICTED_ADD_PHONE_NUMBER_ACTION", "expiration": "2099-01-01T00:00:00+0000"}
                ],
            },
        )
    )
    assert sending_blocked(now=timezone.now()) is None
    assert PlatformAlert.objects.get().severity == "warning"


def test_a_disabled_account_blocks_until_meta_reinstates_it(post_webhook):
    from django.utils import timezone

    now = int(time.time())
    post_webhook(body("account_update", {"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "DISABLE",
                                         "waba_ban_date": "2026-12-01"}}, at=now - 60))  # fmt: skip
    assert sending_blocked(now=timezone.now()) is not None
    post_webhook(body("account_update", {"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "REINSTATE"}},
                      at=now))  # fmt: skip
    assert sending_blocked(now=timezone.now()) is None


# --- hostile and unknown values: parsed, stored, never a 500 ---------------------------------------------------

HOSTILE = [
    ("message_template_status_update", {"event": {"x": 1}, "message_template_name": ["a"]}),
    (
        "message_template_status_update",
        {
            "event": "SOMETHING_NEW",
            "message_template_id": 10**40,
            "message_template_name": "x" * 5000,
            "message_template_language": 7,
            "other_info": "not an object",
        },
    ),  # fmt: skip
    ("message_template_quality_update", {"new_quality_score": "PURPLE", "message_template_id": "abc"}),
    ("template_category_update", {"new_category": None, "previous_category": [1, 2]}),
    ("account_update", {"event": "ACCOUNT_RESTRICTION", "restriction_info": "everything"}),
    (
        "account_update",
        {
            "event": "ACCOUNT_RESTRICTION",
            "restriction_info": [{"restriction_type": {"a": 1}, "expiration": "never"}, 5, None],
        },
    ),  # fmt: skip
    ("account_update", {"event": "BRAND_NEW_EVENT", "ban_info": [], "violation_info": "x"}),
    ("business_capability_update", {"max_daily_conversations_per_business": "lots"}),
    ("business_capability_update", {"max_daily_conversations_per_business": 10**30}),
    ("business_capability_update", {"max_daily_conversations_per_business": {"nested": [[[1]]]}}),
    ("phone_number_quality_update", {"event": 5, "current_limit": "TIER_9000", "old_limit": None}),
    ("phone_number_quality_update", {}),
    ("message_template_status_update", "not an object"),
]


@pytest.mark.parametrize(("field", "value"), HOSTILE)
def test_hostile_platform_values_are_stored_and_never_a_500(post_webhook, field, value):
    MessageTemplateFactory(name="x" * 40)
    raw = json.dumps({"object": "whatsapp_business_account", "entry": [
        {"id": "1", "time": "not a time", "changes": [{"field": field, "value": value}]}]}).encode()  # fmt: skip
    response = post_webhook(raw)
    assert response.status_code == 200
    stored = WebhookEvent.objects.get()
    assert bytes(stored.body) == raw
    assert stored.status == WebhookEvent.Status.PROCESSED, stored.error
    assert not Sender.objects.exclude(messaging_tier="").exists()  # no unknown tier applied


def test_an_unknown_template_event_is_kept_on_the_template_without_changing_its_status(post_webhook):
    template = MessageTemplateFactory(name="spring_sale")
    post_webhook(template_status(template, "SOMETHING_NEW", reason="A reason Meta invents later"))
    template.refresh_from_db()
    assert template.status == MessageTemplate.Status.APPROVED
    assert template.status_event == "SOMETHING_NEW" and "A reason Meta invents later" in template.status_detail


def test_parse_events_reads_a_realistic_capability_body_and_skips_other_capabilities():
    from django.utils import timezone

    raw = json.loads(body("business_capability_update", {"max_phone_numbers_per_business": 2}))
    assert parse_events(raw, received_at=timezone.now()) == []


# --- the messaging limit: webhooks update it at once, the sync reads it over HTTP ------------------------------


def test_a_capability_webhook_sets_the_limit_at_once(post_webhook, settings):
    from django.utils import timezone

    settings.WHATSAPP_DAILY_LIMIT = None
    assert messaging_limit(timezone.now()).source == "default"
    post_webhook(body("business_capability_update", {"max_daily_conversations_per_business": 2000}))
    limit = messaging_limit(timezone.now())
    assert (limit.value, limit.tier, limit.source) == (2000, "TIER_2K", "webhook")
    settings.WHATSAPP_DAILY_LIMIT = 1000
    limit = messaging_limit(timezone.now())
    assert (limit.value, limit.tier, limit.source) == (1000, "TIER_2K", "setting")


def test_sync_messaging_limit_reads_the_tier_from_the_sandbox_over_http(sandbox, cloud_backend, settings, capsys):
    from django.utils import timezone

    server = sandbox(messaging_tier="TIER_2K", quality_rating="YELLOW")
    cloud_backend(server, WHATSAPP_ACCESS_TOKEN="test-access-token", WHATSAPP_PHONE_NUMBER_ID=server.phone_number_id)
    settings.WHATSAPP_DAILY_LIMIT = None

    call_command("sync_messaging_limit")

    sender = Sender.objects.get()
    assert (sender.messaging_tier, sender.quality_rating, sender.tier_source) == ("TIER_2K", "YELLOW", "sync")
    assert list(server.phone_number_reads) == [server.phone_number_id]
    assert messaging_limit(timezone.now()).value == 2000
    assert "limit in force: 2000 (sync, tier TIER_2K)" in capsys.readouterr().out

    server.messaging_tier = "TIER_10K"  # Meta raised it; the next sync sees it
    call_command("sync_messaging_limit")
    assert messaging_limit(timezone.now()).tier == "TIER_10K"
    assert len(server.phone_number_reads) == 2


def test_sync_without_credentials_reads_nothing_and_the_setting_stays(settings, capsys):
    settings.WHATSAPP_BACKEND = "whatsapp.backends.console.ConsoleBackend"
    settings.WHATSAPP_DAILY_LIMIT = 300
    call_command("sync_messaging_limit")
    out = capsys.readouterr().out
    assert "cannot ask Meta" in out and "limit in force: 300 (setting)" in out


def test_the_admin_button_syncs_the_limit(admin_client, settings):
    from django.urls import reverse

    from whatsapp.backends.locmem import LocmemBackend

    LocmemBackend.phone_numbers[settings.WHATSAPP_PHONE_NUMBER_ID] = {
        "whatsapp_business_manager_messaging_limit": "TIER_100K", "quality_rating": "GREEN"}  # fmt: skip
    response = admin_client.post(reverse("admin:whatsapp_sender_changelist"), {"action": "sync_messaging_limit"},
                                 follow=True)  # fmt: skip
    assert response.status_code == 200
    assert Sender.objects.get().messaging_tier == "TIER_100K"


def test_today_keeps_errors_and_blocks_until_resolved_and_lets_old_notices_go():
    import datetime as dt

    from django.utils import timezone

    from whatsapp.platform import alert_raise, open_alerts

    now = timezone.now()
    old = now - dt.timedelta(days=8)
    error = alert_raise(kind="template_stopped", severity="error", message="paused", now=old, key="e")
    alert_raise(kind="messaging_limit", severity="info", message="tier", now=old, key="i")
    block = alert_raise(kind="account_blocked", severity="error", message="restricted", now=old, key="b",
                        blocks_sending=True, until=now + dt.timedelta(hours=1))  # fmt: skip
    assert alert_raise(kind="x", severity="info", message="again", now=now, key="e") == error  # idempotent by key
    assert {a.key for a in open_alerts(now=now)} == {"e", "b"}
    assert {a.key for a in open_alerts(now=block.until)} == {"e"}  # the block expired by itself
