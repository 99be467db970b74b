"""The audience preview: the live count and the first contacts by id, in two queries, however the audience is spread."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audiences import selectors
from audiences.selectors import audience_contacts, audience_preview
from tests.factories.audiences import AudienceFactory, ContactFactory, TagFactory

pytestmark = pytest.mark.django_db


def preview_with_queries(audience, sample=3):
    with CaptureQueriesContext(connection) as ctx:
        preview = audience_preview(audience=audience, sample=sample)
    return preview, [q["sql"] for q in ctx.captured_queries]


@pytest.fixture
def scattered():
    """Tagged contacts far apart in id order, among untagged ones: what a sample walk in id order is slow on."""
    rare = TagFactory(name="rare")
    for n in range(5):
        ContactFactory(id=1 + n * 1_000_000, tags=[rare])
        ContactFactory(id=2 + n * 1_000_000)
    ContactFactory(id=3, tags=[rare], unsubscribed=True)
    return AudienceFactory(rules={"include_tags": ["rare"]})


@pytest.mark.parametrize("walk_limit", [0, 10**9])
def test_the_sample_is_the_first_subscribed_contacts_by_id_whether_walked_or_sorted(scattered, monkeypatch, walk_limit):
    monkeypatch.setattr(selectors, "SAMPLE_WALK_LIMIT", walk_limit)
    preview, queries = preview_with_queries(scattered)
    assert preview["count"] == audience_contacts(audience=scattered).count() == 5
    assert [c.pk for c in preview["sample"]] == [1, 1_000_001, 2_000_001]
    assert len(queries) == 2


def test_a_few_contacts_far_apart_are_sorted_not_walked(scattered):
    preview, queries = preview_with_queries(scattered)
    assert [c.pk for c in preview["sample"]] == [1, 1_000_001, 2_000_001]
    assert '"id" + 0)' in queries[1]


def test_one_recent_import_is_walked_from_its_first_contact():
    ContactFactory.create_batch(20)
    batch = TagFactory(name="march-import")
    recent = [ContactFactory(tags=[batch]) for _ in range(6)]
    preview, queries = preview_with_queries(AudienceFactory(rules={"include_tags": ["march-import"]}))
    assert preview["count"] == 6
    assert [c.pk for c in preview["sample"]] == [c.pk for c in recent[:3]]
    assert f'"id" >= {recent[0].pk}' in queries[1]


def test_everyone_is_counted_and_walked_without_first_and_last_ids():
    TagFactory(name="blocked")
    contacts = [ContactFactory(tags=["blocked"] if n == 0 else []) for n in range(4)]
    preview, queries = preview_with_queries(AudienceFactory(rules={"everyone": True, "exclude_tags": ["blocked"]}))
    assert (preview["count"], [c.pk for c in preview["sample"]]) == (3, [c.pk for c in contacts[1:]])
    assert "MIN(" not in queries[0].upper()


def test_an_empty_audience_is_one_query():
    TagFactory(name="nobody")
    preview, queries = preview_with_queries(AudienceFactory(rules={"include_tags": ["nobody"]}))
    assert preview == {"count": 0, "sample": []}
    assert len(queries) == 1
