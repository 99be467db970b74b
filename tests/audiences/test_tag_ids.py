"""Contact.tag_ids on PostgreSQL: always equal to the contact's tags, whoever changes them, and the
array-compiled tag rules select exactly the contacts the EXISTS-compiled ones select."""

import datetime as dt
import io
import random
import threading
import time

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiences.models import Audience, Contact, Tag
from audiences.rules import rules_q
from audiences.selectors import audience_contacts, audience_preview
from audiences.services import contacts_import
from tests.factories.audiences import AudienceFactory, ContactFactory, TagFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
Links = Contact.tags.through


def assert_tag_ids_equal_links():
    links: dict[int, list[int]] = {}
    for contact_id, tag_id in Links.objects.order_by("tag_id").values_list("contact_id", "tag_id"):
        links.setdefault(contact_id, []).append(tag_id)
    arrays = dict(Contact.objects.values_list("pk", "tag_ids"))
    assert arrays == {pk: links.get(pk, []) for pk in arrays}


def commit_checks():
    """Run now what COMMIT runs: the deferred tag_ids checks (and the deferred foreign keys)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def contact_row_updates() -> int:
    """UPDATEs of contact rows in this transaction so far (an ON CONFLICT DO UPDATE counts)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'audiences_contact'")
        row = cursor.fetchone()
    return row[0] if row else 0


def tag_ids(contact: Contact) -> list[int]:
    contact.refresh_from_db(fields=["tag_ids"])
    return contact.tag_ids


def ids(*tags: Tag) -> list[int]:
    return sorted(t.pk for t in tags)


def test_tag_ids_follow_add_remove_set_and_clear_from_both_sides():
    vip, new, loyal = TagFactory(name="vip"), TagFactory(name="new"), TagFactory(name="loyal")
    ann, bob = ContactFactory(), ContactFactory()
    assert tag_ids(ann) == []
    ann.tags.add(vip, new)
    assert tag_ids(ann) == ids(vip, new)
    ann.tags.add(vip)  # already there: no link inserted, nothing changes
    ann.tags.remove(new)
    assert tag_ids(ann) == ids(vip)
    ann.tags.set([loyal, new])
    assert tag_ids(ann) == ids(loyal, new)
    loyal.contacts.add(bob)
    vip.contacts.set([ann, bob])
    assert (tag_ids(ann), tag_ids(bob)) == (ids(vip, new, loyal), ids(vip, loyal))
    ann.tags.clear()
    assert tag_ids(ann) == []
    assert_tag_ids_equal_links()


def test_tag_ids_follow_the_admin_change_form(admin_client):
    vip, new = TagFactory(name="vip"), TagFactory(name="new")
    ann = ContactFactory(tags=[vip], phone="+14155550123")
    form = {"phone": ann.phone, "name": "Ann", "first_name": "Ann", "language": "en_US", "attributes": "{}"}
    response = admin_client.post(reverse("admin:audiences_contact_change", args=[ann.pk]), {**form, "tags": [new.pk]})
    assert response.status_code == 302
    assert tag_ids(ann) == ids(new)
    admin_client.post(reverse("admin:audiences_contact_change", args=[ann.pk]), form)
    assert tag_ids(ann) == []


def test_tag_ids_written_by_anything_but_the_links_are_recomputed_at_commit_and_new_rows_start_empty():
    vip, new = TagFactory(name="vip"), TagFactory(name="new")
    ann = ContactFactory(tags=[vip])
    stale = Contact.objects.get(pk=ann.pk)
    ann.tags.add(new)  # after `stale` was loaded
    stale.name = "Ann"
    stale.save()
    bob = ContactFactory(tags=[new])
    Contact.objects.filter(pk=bob.pk).update(tag_ids=[12345])
    clone = Contact.objects.get(pk=ann.pk)
    clone.pk, clone.phone = None, "+14155550999"
    clone.save()  # a copy of the row, not of its links
    commit_checks()
    assert (tag_ids(ann), tag_ids(bob), tag_ids(clone)) == (ids(vip, new), ids(new), [])
    assert_tag_ids_equal_links()


def test_tag_ids_follow_the_csv_import_service_and_command(tmp_path):
    data = b'phone,name,tags\n+14155550101,Ann,"vip, new"\n+14155550102,Bob,\n+14155550103,Cat,loyal\n'
    contacts_import(file=io.BytesIO(data), now=NOW, tag="march")
    assert_tag_ids_equal_links()  # written by the import itself, before any commit-time check
    ann = Contact.objects.get(phone="+14155550101")
    assert tag_ids(ann) == ids(*Tag.objects.filter(name__in=["vip", "new", "march"]))

    path = tmp_path / "update.csv"
    path.write_bytes(b"phone,name,tags\n+14155550101,Ann,loyal\n+14155550104,Dan,vip\n")
    call_command("import_contacts", str(path), "--tag", "april", "--update", stdout=io.StringIO())
    assert_tag_ids_equal_links()
    assert tag_ids(ann) == ids(*Tag.objects.filter(name__in=["vip", "new", "march", "loyal", "april"]))
    commit_checks()
    assert_tag_ids_equal_links()


def test_a_tagged_import_writes_each_contact_row_once():
    """No second write by the link triggers: it would double the heap a big import leaves behind."""
    before = contact_row_updates()
    contacts_import(file=io.BytesIO(b"phone,tags\n+14155550101,vip\n+14155550102,new\n"), now=NOW, tag="march")
    commit_checks()
    assert contact_row_updates() == before
    contacts_import(file=io.BytesIO(b"phone,tags\n+14155550101,new\n"), now=NOW, update=True)
    commit_checks()
    assert contact_row_updates() == before + 1  # the upsert itself
    assert_tag_ids_equal_links()


def test_deleting_a_tag_or_a_contact_keeps_every_other_contact_right():
    vip, new = TagFactory(name="vip"), TagFactory(name="new")
    ann, bob, cat = ContactFactory(tags=[vip, new]), ContactFactory(tags=[vip]), ContactFactory(tags=[new])
    vip.delete()
    assert (tag_ids(ann), tag_ids(bob), tag_ids(cat)) == (ids(new), [], ids(new))
    ann.delete()
    Contact.objects.filter(pk=cat.pk).delete()
    assert list(Contact.objects.values_list("pk", "tag_ids")) == [(bob.pk, [])]
    assert not Links.objects.exists()


def test_bulk_link_inserts_updates_deletes_and_truncate_keep_tag_ids_equal():
    tags = [TagFactory(name=f"t{n}") for n in range(5)]
    contacts = [ContactFactory() for _ in range(30)]
    rng = random.Random(7)
    pairs = {(c.pk, t.pk) for c in contacts for t in tags if rng.random() < 0.4}
    Links.objects.bulk_create([Links(contact_id=c, tag_id=t) for c, t in sorted(pairs)])
    assert_tag_ids_equal_links()
    # Conflicting rows are skipped by ON CONFLICT, so they are not in the trigger's new rows.
    Links.objects.bulk_create(
        [Links(contact_id=c.pk, tag_id=t.pk) for c in contacts for t in tags[:2]], ignore_conflicts=True
    )
    assert_tag_ids_equal_links()
    Links.objects.filter(tag_id=tags[0].pk, contact_id__in=[c.pk for c in contacts[::2]]).delete()
    assert_tag_ids_equal_links()
    Links.objects.filter(tag_id=tags[4].pk).update(tag_id=TagFactory(name="moved").pk)
    assert_tag_ids_equal_links()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE refuses pending deferred FK checks
        cursor.execute(f"TRUNCATE {Links._meta.db_table}")
    assert all(t == [] for t in Contact.objects.values_list("tag_ids", flat=True))


@pytest.mark.django_db(transaction=True)
def test_two_transactions_tagging_one_contact_at_once_both_count():
    """The second waits for the first's row lock, then adds to the array the first committed.

    Recounting the links instead would write only its own tag: its snapshot
    predates the first commit.
    """
    vip, new = TagFactory(name="vip"), TagFactory(name="new")
    ann = ContactFactory()
    first_added, release = threading.Event(), threading.Event()

    def first():
        with transaction.atomic():
            ann.tags.add(vip)
            first_added.set()
            release.wait(10)
        connection.close()

    def second():
        ann.tags.add(new)
        connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert first_added.wait(10)
    threads[1].start()
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:  # until the second is blocked on ann's row
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                break
            time.sleep(0.02)
        else:
            pytest.fail("the second transaction never waited for the first")
    release.set()
    for thread in threads:
        thread.join(10)
    assert tag_ids(ann) == ids(vip, new)


# --- Rule equivalence: array-compiled == EXISTS-compiled ----------------------------------------

TAG_NAMES = ["vip", "new", "loyal", "churn-risk", "blocked"]
NAMES = [*TAG_NAMES, "no-such-tag"]  # an audience may outlive its tag


@pytest.fixture
def crowd():
    """60 contacts, each with a random subset of the tags; some unsubscribed, some in French."""
    rng = random.Random(3)
    tags = [TagFactory(name=name) for name in TAG_NAMES]
    for _ in range(60):
        ContactFactory(
            tags=[t for t in tags if rng.random() < 0.35],
            language=rng.choice(["en_US", "fr_FR"]),
            unsubscribed=rng.random() < 0.15,
        )


@st.composite
def tag_rules(draw):
    include = draw(st.lists(st.sampled_from(NAMES), max_size=4, unique=True))
    exclude = draw(st.lists(st.sampled_from([n for n in NAMES if n not in include]), max_size=3, unique=True))
    languages = draw(st.sampled_from([[], ["fr_FR"]]))
    if not include and not languages:
        return {"everyone": True, "exclude_tags": exclude}
    match = draw(st.sampled_from(["any", "all"]))
    return {"include_tags": include, "match": match, "exclude_tags": exclude, "languages": languages}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rules=tag_rules())
def test_array_compiled_rules_select_exactly_the_exists_compiled_contacts(crowd, rules):
    arrays = set(Contact.objects.filter(rules_q(rules, tag_arrays=True)).values_list("pk", flat=True))
    exists = set(Contact.objects.filter(rules_q(rules, tag_arrays=False)).values_list("pk", flat=True))
    assert arrays == exists
    audience = Audience(name="probe", rules=rules)
    subscribed = set(audience_contacts(audience=audience).values_list("pk", flat=True))
    assert subscribed == exists & set(Contact.objects.filter(subscription="subscribed").values_list("pk", flat=True))
    preview = audience_preview(audience=audience, sample=5)
    assert preview["count"] == len(subscribed)
    assert [c.pk for c in preview["sample"]] == sorted(subscribed)[:5]


def test_tag_rules_compile_to_the_array_operators_on_postgresql(crowd):
    audience = AudienceFactory(rules={"include_tags": ["vip", "new"], "match": "all", "exclude_tags": ["blocked"]})
    sql = str(audience_contacts(audience=audience).query)
    assert "@>" in sql and "&&" in sql
    assert "EXISTS" not in sql
    any_sql = str(audience_contacts(audience=AudienceFactory(rules={"include_tags": ["vip", "new"]})).query)
    assert "&&" in any_sql and "EXISTS" not in any_sql
