"""The contact list's searches read migration 0003's trigram indexes, and nothing else does (PostgreSQL)."""

import pytest
from django.db import connection, transaction
from django.urls import reverse

from audiences.models import Contact
from tests.factories.audiences import ContactFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def plan(queryset) -> str:
    """The count's plan with only bitmap scans left: what an index condition can answer, or a scan."""
    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        for setting in ("enable_seqscan", "enable_indexscan", "enable_indexonlyscan"):
            cursor.execute(f"SET LOCAL {setting} = off")
        cursor.execute(f"EXPLAIN SELECT count(*) FROM ({sql}) s", params)  # noqa: S608 (the ORM's own SQL)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize(
    ("term", "index", "name"),
    [("lee", "aud_contact_name_trgm", "Ann Lee"), ("5550123", "aud_contact_phone_trgm", "Ann Lee")],
)
def test_searches_by_name_and_number_fragment_use_the_trigram_indexes(admin_client, term, index, name):
    ContactFactory(phone="+14155550123", name="Ann Lee")
    ContactFactory(phone="+14155550987", name="Bob Stone")
    response = admin_client.get(reverse("admin:audiences_contact_changelist"), {"q": term})
    cl = response.context["cl"]
    assert [c.name for c in cl.result_list] == [name]
    assert index in plan(cl.queryset)


def test_no_trigram_index_answers_a_phone_lookup():
    """The importer's `phone IN (...)` and the webhook's `phone = ...` are for the unique btree.

    A trigram index on the bare column also answers `=` (pg_trgm 1.6), and
    the planner took one for the importer's 2,000-number lookups: 11 to 16 s a
    batch. Without the unique index, nothing but a scan may be left.
    """
    ContactFactory(phone="+14155550123")
    lookups = Contact.objects.filter(phone__in=["+14155550123", "+14155550124"])
    with transaction.atomic():
        with connection.cursor() as cursor:
            # The btree indexes on phone: the unique constraint's and Django's LIKE one.
            cursor.execute(
                "SELECT i.indexrelid::regclass::text, c.conname FROM pg_index i "
                "LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid "
                "WHERE i.indrelid = 'audiences_contact'::regclass "
                "AND pg_get_indexdef(i.indexrelid) ~ 'USING btree \\(phone( varchar_pattern_ops)?\\)$'"
            )
            btrees = cursor.fetchall()
            assert len(btrees) == 2, btrees
            for index, constraint in btrees:
                if constraint:
                    cursor.execute(f"ALTER TABLE audiences_contact DROP CONSTRAINT {constraint}")
                else:
                    cursor.execute(f"DROP INDEX {index}")
        for queryset in (lookups, Contact.objects.filter(phone="+14155550123")):
            assert "Index" not in plan(queryset), plan(queryset)
        transaction.set_rollback(True)
