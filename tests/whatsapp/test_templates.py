"""Templates: sync from the account (paging, upsert, disappeared ones marked), only APPROVED offered, helpers."""

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.factories.whatsapp import MessageTemplateFactory
from whatsapp.backends.locmem import LocmemBackend
from whatsapp.models import MessageTemplate
from whatsapp.services import templates_sync

pytestmark = pytest.mark.django_db


def test_sync_templates_pages_through_the_sandbox_and_upserts(sandbox, cloud_backend):
    cloud_backend(sandbox(templates_page_size=2))
    call_command("sync_templates")
    assert MessageTemplate.objects.count() == 6
    assert set(MessageTemplate.objects.approved().values_list("name", flat=True)) == {
        "hello_world", "spring_sale", "new_collection", "order_update", "spring_sale_link"}  # fmt: skip
    paused = MessageTemplate.objects.get(name="winter_promo")
    assert paused.status == MessageTemplate.Status.PAUSED
    spring = MessageTemplate.objects.get(name="spring_sale")
    assert (spring.header_parameter_count(), spring.body_parameter_count(), spring.quality) == (1, 2, "GREEN")

    call_command("sync_templates")  # again: nothing new
    assert MessageTemplate.objects.count() == 6


def test_templates_that_disappeared_are_marked_missing_and_no_longer_offered():
    LocmemBackend.templates[:] = [
        {"name": "a", "language": "en_US", "status": "APPROVED", "category": "MARKETING", "components": []},
        {"name": "b", "language": "en_US", "status": "APPROVED", "category": "MARKETING", "components": []},
    ]
    now = timezone.now()
    assert str(templates_sync(now=now)) == "2 created, 0 updated, 0 marked missing"
    LocmemBackend.templates[:] = LocmemBackend.templates[:1]
    result = templates_sync(now=now)
    assert (result.created, result.updated, result.missing) == (0, 1, 1)
    assert MessageTemplate.objects.get(name="b").status == MessageTemplate.Status.MISSING
    assert list(MessageTemplate.objects.approved().values_list("name", flat=True)) == ["a"]


def test_only_approved_templates_are_offered():
    approved = MessageTemplateFactory()
    MessageTemplateFactory(status=MessageTemplate.Status.PAUSED)
    MessageTemplateFactory(status=MessageTemplate.Status.REJECTED)
    assert list(MessageTemplate.objects.approved()) == [approved]


def test_parameter_counts_and_preview():
    template = MessageTemplateFactory()
    assert template.header_parameter_count() == 1
    assert template.body_parameter_count() == 2
    assert template.render_preview(["Porto", "30%"], ["Ana"]) == (
        "Hello Ana\nOur spring sale starts in Porto: 30% off everything.\nTap Stop promotions to opt out"
    )
    assert "{{2}}" in template.render_preview(["Porto"], ["Ana"])  # a missing parameter stays visible


def test_media_header_takes_no_text_parameter():
    template = MessageTemplateFactory(
        components=[{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "Hi {{name}}, {{name}}!"}]
    )
    assert template.header_parameter_count() == 0
    assert template.body_parameter_count() == 1
    assert template.render_preview(["Bo"]) == "[image]\nHi Bo, Bo!"
