"""Attribute indexes follow the saved audiences (PostgreSQL), and the compiled rules are what they answer."""

import io
import json

import pytest
from django.core.management import call_command
from django.db import connection, connections

from audiences.indexes import PREFIX, attribute_indexes_sync, index_name
from audiences.models import Audience
from audiences.selectors import audience_contacts
from tests.factories.audiences import AudienceFactory, ContactFactory

SPEND = {"conditions": [{"key": "total_spent", "op": "gt", "value": 100}]}
CITY = {"conditions": [{"key": "city", "op": "contains", "value": "ari"}]}
BOTH = {
    "conditions": [{"key": "total_spent", "op": "lte", "value": 300}, {"key": "city", "op": "contains", "value": "ly"}]
}
NUM, TXT = "aud_attr_num_total_spent", "aud_attr_txt_city"


def attribute_indexes() -> dict[str, bool]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'audiences_contact'::regclass AND c.relname LIKE 'aud\\_attr\\_%%'"
        )
        return dict(cursor.fetchall())


def plan(audience) -> str:
    """The count's plan with sequential scans priced out: which index can answer the compiled rules."""
    sql, params = audience_contacts(audience=audience).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        try:
            cursor.execute(f"EXPLAIN SELECT count(*) FROM ({sql}) s", params)  # noqa: S608 (the ORM's own SQL)
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET enable_seqscan")


@pytest.fixture
def contacts():
    ContactFactory(name="ann", attributes={"total_spent": 250, "city": "Paris"})
    ContactFactory(name="bob", attributes={"total_spent": 99.5, "city": "Lyon"})
    ContactFactory(name="cat", attributes={"total_spent": "n/a", "city": "Saint-Paris"})
    ContactFactory(name="dan", attributes={"total_spent": 1000, "city": "LYON"})
    ContactFactory(name="eve", attributes={"total_spent": [500], "city": 7})


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sync_builds_what_the_audiences_compare_and_search_and_the_rules_use_it(contacts):
    spend, city = AudienceFactory(rules=SPEND), AudienceFactory(rules=CITY)
    names = {a: set(audience_contacts(audience=a).values_list("name", flat=True)) for a in (spend, city)}

    result = attribute_indexes_sync()

    assert (result.created, result.dropped, result.skipped) == ([NUM, TXT], [], {})
    assert attribute_indexes() == {NUM: True, TXT: True}
    assert NUM in plan(spend) and TXT in plan(city)
    both = AudienceFactory(rules=BOTH)
    assert NUM in plan(both) or TXT in plan(both)
    # The indexes change no result.
    assert {a: set(audience_contacts(audience=a).values_list("name", flat=True)) for a in (spend, city)} == names
    assert names == {spend: {"ann", "dan"}, city: {"ann", "cat"}}
    assert set(audience_contacts(audience=both).values_list("name", flat=True)) == {"bob"}
    again = attribute_indexes_sync()
    assert (again.created, again.kept) == ([], [NUM, TXT])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_indexes_no_audience_uses_are_dropped_and_an_invalid_one_is_rebuilt(contacts):
    spend = AudienceFactory(rules=SPEND)
    city = AudienceFactory(rules=CITY)
    attribute_indexes_sync()
    with connection.cursor() as cursor:  # what a failed CREATE INDEX CONCURRENTLY leaves behind
        cursor.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = %s::regclass", [NUM])
    city.delete()

    result = attribute_indexes_sync()

    assert (result.created, result.dropped) == ([NUM], [TXT])
    assert attribute_indexes() == {NUM: True}
    spend.delete()
    assert attribute_indexes_sync().dropped == [NUM]
    assert attribute_indexes() == {}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_sync_at_a_time_and_never_inside_a_transaction(contacts):
    AudienceFactory(rules=SPEND)
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [0x61756469])
            result = attribute_indexes_sync()
            cursor.execute("SELECT pg_advisory_unlock(%s)", [0x61756469])
    finally:
        other.close()
    assert result.busy and result.created == []
    from django.db import transaction

    with transaction.atomic(), pytest.raises(RuntimeError, match="outside a transaction"):
        attribute_indexes_sync()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_create_audience_builds_the_index_and_the_command_reports_in_json(contacts):
    err = io.StringIO()
    out = io.StringIO()
    call_command("create_audience", "Big spenders", "--attr", "total_spent>100", stdout=out, stderr=err)
    assert out.getvalue().strip().endswith("count=2")
    assert f"created index {NUM}" in err.getvalue()
    Audience.objects.all().delete()
    out = io.StringIO()
    call_command("audience_indexes", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert (report["database"], report["dropped"], report["busy"]) == ("postgresql", [NUM], False)


@pytest.mark.django_db(transaction=True)
def test_the_command_says_what_it_did_on_either_database():
    AudienceFactory(rules=SPEND)
    out = io.StringIO()
    call_command("audience_indexes", stdout=out)
    if connection.vendor == "postgresql":
        assert out.getvalue().startswith("created=1 dropped=0 kept=0 skipped=0 ")
        assert f"created {NUM}" in out.getvalue()
    else:
        assert out.getvalue().strip() == "nothing to do on sqlite: attribute indexes are for PostgreSQL"
        assert attribute_indexes_sync().created == []


@pytest.mark.django_db
def test_saving_or_deleting_an_audience_in_the_admin_queues_a_sync_after_the_commit(
    admin_client, django_capture_on_commit_callbacks, monkeypatch
):
    from django.urls import reverse

    from audiences.tasks import sync_attribute_indexes_task

    queued = []
    monkeypatch.setattr(sync_attribute_indexes_task, "delay", lambda: queued.append("sync"))
    form = {"name": "Big spenders", "match": "any", "condition_1_0": "total_spent", "condition_1_1": "gt",
            "condition_1_2": "100"}  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_client.post(reverse("admin:audiences_audience_add"), form)
    assert response.status_code == 302
    assert len(callbacks) == queued.count("sync")  # queued by an on-commit callback, not inside the transaction
    audience = Audience.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("admin:audiences_audience_delete", args=[audience.pk]), {"post": "yes"})
    # PostgreSQL builds indexes; SQLite has none to build, so nothing is queued there.
    expected = ["sync", "sync"] if connection.vendor == "postgresql" else []
    assert queued == expected


def test_index_names_fit_postgresql_and_stay_distinct():
    assert index_name("num", "total_spent") == NUM
    long_a, long_b = "x" * 70 + "a", "x" * 70 + "b"
    names = {index_name("num", long_a), index_name("num", long_b)}
    assert len(names) == 2 and all(len(n) <= 63 and n.startswith(PREFIX) for n in names)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_text_equals_gets_a_lowered_index_that_its_case_insensitive_rule_uses(contacts):
    audience = AudienceFactory(rules={"conditions": [{"key": "city", "op": "in", "value": ["lyon", "PARIS"]}]})
    numbers_only = AudienceFactory(rules={"conditions": [{"key": "total_spent", "op": "eq", "value": 250}]})
    from audiences.models import Contact

    Contact.objects.bulk_create(Contact(phone=f"+3361400{n:04d}", attributes={"city": f"Town {n}"}) for n in range(500))
    result = attribute_indexes_sync()  # analyzes the table too
    assert result.created == ["aud_attr_ci_city"]  # a number "equals" is served by the GIN index
    assert "aud_attr_ci_city" in plan(audience)
    assert set(audience_contacts(audience=audience).values_list("name", flat=True)) == {"ann", "bob", "dan"}
    assert set(audience_contacts(audience=numbers_only).values_list("name", flat=True)) == {"ann"}
