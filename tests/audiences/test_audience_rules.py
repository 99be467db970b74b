"""Audience rules: every operator, on SQLite and PostgreSQL; unsubscribed never included."""

import operator
import random

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiences.models import Audience, Contact
from audiences.rules import RuleError, validate_rules
from audiences.selectors import audience_contacts, audience_preview
from tests.factories.audiences import AudienceFactory, ContactFactory, TagFactory

pytestmark = pytest.mark.django_db


def phones(audience):
    return set(audience_contacts(audience=audience).values_list("name", flat=True))


@pytest.fixture
def base():
    vip, new, blocked = TagFactory(name="vip"), TagFactory(name="new"), TagFactory(name="blocked")
    ContactFactory(
        name="ann", tags=[vip], language="en_US", attributes={"tier": "gold", "total_spent": 250, "city": "Paris"}
    )
    ContactFactory(name="bob", tags=[vip, new], language="fr_FR", attributes={"tier": "silver", "total_spent": 99.5})
    ContactFactory(
        name="cat", tags=[new], language="fr_FR", attributes={"tier": "gold", "total_spent": "n/a", "city": "Lyon"}
    )
    ContactFactory(name="dan", tags=[vip, blocked], attributes={"total_spent": 1000, "city": "Saint-Paris"})
    ContactFactory(name="eve", attributes={})
    ContactFactory(name="zed", tags=[vip, new], unsubscribed=True, attributes={"tier": "gold", "total_spent": 5000})


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ({"everyone": True}, {"ann", "bob", "cat", "dan", "eve"}),
        ({"everyone": True, "exclude_tags": ["blocked"]}, {"ann", "bob", "cat", "eve"}),
        ({"include_tags": ["vip", "new"], "match": "any"}, {"ann", "bob", "cat", "dan"}),
        ({"include_tags": ["vip", "new"], "match": "all"}, {"bob"}),
        ({"include_tags": ["vip"], "exclude_tags": ["blocked"]}, {"ann", "bob"}),
        ({"languages": ["fr_FR"]}, {"bob", "cat"}),
        ({"conditions": [{"key": "tier", "op": "eq", "value": "gold"}]}, {"ann", "cat"}),
        ({"conditions": [{"key": "total_spent", "op": "eq", "value": "250"}]}, {"ann"}),
        ({"conditions": [{"key": "tier", "op": "in", "value": ["gold", "silver"]}]}, {"ann", "bob", "cat"}),
        ({"conditions": [{"key": "city", "op": "in", "value": "Paris, Lyon"}]}, {"ann", "cat"}),
        ({"conditions": [{"key": "total_spent", "op": "gt", "value": 100}]}, {"ann", "dan"}),
        ({"conditions": [{"key": "total_spent", "op": "gte", "value": "250"}]}, {"ann", "dan"}),
        ({"conditions": [{"key": "total_spent", "op": "lt", "value": 250}]}, {"bob"}),
        ({"conditions": [{"key": "total_spent", "op": "lte", "value": 250}]}, {"ann", "bob"}),
        ({"conditions": [{"key": "city", "op": "contains", "value": "paris"}]}, {"ann", "dan"}),
        (
            {
                "include_tags": ["vip"],
                "languages": ["en_US", "fr_FR"],
                "conditions": [
                    {"key": "Total Spent", "op": "gt", "value": 50},
                    {"key": "tier", "op": "eq", "value": "gold"},
                ],
            },
            {"ann"},
        ),
    ],
)
def test_every_rule_operator_selects_the_right_contacts(base, rules, expected):
    audience = AudienceFactory(rules=rules)
    assert phones(audience) == expected


def test_unsubscribed_contacts_are_never_in_an_audience_whatever_the_rules(base):
    for rules in (
        {"everyone": True},
        {"include_tags": ["vip"]},
        {"conditions": [{"key": "total_spent", "op": "gt", "value": 1}]},
    ):
        assert "zed" not in phones(AudienceFactory(rules=rules))


def test_numeric_comparison_skips_text_values_without_crashing(base):
    # cat's total_spent is "n/a": neither above nor below, and PostgreSQL must not fail casting it.
    audience = AudienceFactory(rules={"conditions": [{"key": "total_spent", "op": "lt", "value": 1_000_000}]})
    assert phones(audience) == {"ann", "bob", "dan"}


# --- Numeric rules: a JSON number compared, anything else never matches, on every database -------

NUMBERS = [-3, 0, 1, 99.5, 100, 100.25, 250, 1000, 10**15]
NOT_NUMBERS = ["n/a", "250", "", True, False, None, [1000], {"value": 1000}]
COMPARE = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


@pytest.fixture
def spenders():
    """One contact per value, twice over, plus contacts without the key; returns {pk: value or MISSING}."""
    rng = random.Random(5)
    values = {}
    for value in [*NUMBERS, *NOT_NUMBERS] * 2 + ["MISSING"] * 3:
        attributes = {} if value == "MISSING" else {"total_spent": value}
        attributes["tier"] = rng.choice(["gold", "silver"])
        values[ContactFactory(attributes=attributes).pk] = value
    return values


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(op=st.sampled_from(sorted(COMPARE)), value=st.sampled_from(NUMBERS + [99, 100.2, -1000, 2.5e15]))
def test_numeric_rules_match_json_numbers_only_and_compare_them_exactly(spenders, op, value):
    expected = {
        pk
        for pk, stored in spenders.items()
        if isinstance(stored, int | float) and not isinstance(stored, bool) and COMPARE[op](stored, value)
    }
    audience = Audience(name="probe", rules={"conditions": [{"key": "total_spent", "op": op, "value": value}]})
    assert set(audience_contacts(audience=audience).values_list("pk", flat=True)) == expected
    assert audience_preview(audience=audience)["count"] == len(expected)


@pytest.mark.postgres
def test_numeric_rules_are_a_range_of_the_indexed_expression_on_postgresql(base):
    # What audiences/indexes.py indexes: (attributes -> key); test_attribute_indexes checks the plan uses it.
    above = AudienceFactory(rules={"conditions": [{"key": "total_spent", "op": "gte", "value": 250}]})
    sql, params = audience_contacts(audience=above).query.sql_with_params()
    assert '("audiences_contact"."attributes" -> %s::text) >= %s::jsonb' in sql and "< 'false'::jsonb" in sql
    assert params[:2] == ("total_spent", "250")
    below = AudienceFactory(rules={"conditions": [{"key": "total_spent", "op": "lt", "value": 99.5}]})
    sql, params = audience_contacts(audience=below).query.sql_with_params()
    assert "jsonb_typeof" in sql and params[:2] == ("total_spent", "99.5")


def test_audience_is_one_query_and_preview_count_equals_the_real_count(base, django_assert_max_num_queries):
    audience = AudienceFactory(rules={"include_tags": ["vip", "new"]})
    with CaptureQueriesContext(connection) as ctx:
        rows = list(audience_contacts(audience=audience))
    assert len(ctx.captured_queries) == 1
    with django_assert_max_num_queries(2):
        preview = audience_preview(audience=audience, sample=2)
    assert preview["count"] == len(rows) == 4
    assert [c.name for c in preview["sample"]] == ["ann", "bob"]
    # Everyone minus some tags: subscribed minus excluded, still one count and one sample.
    everyone = AudienceFactory(rules={"everyone": True, "exclude_tags": ["blocked", "new"]})
    with django_assert_max_num_queries(2):
        preview = audience_preview(audience=everyone, sample=5)
    assert preview["count"] == audience_contacts(audience=everyone).count() == 2
    assert [c.name for c in preview["sample"]] == ["ann", "eve"]


def test_rules_are_stored_validated_and_clean_names_the_wrong_rule(base):
    audience = Audience(
        name="bad",
        rules={
            "conditions": [{"key": "tier", "op": "eq", "value": "gold"}, {"key": "total", "op": "gt", "value": "lots"}]
        },
    )
    with pytest.raises(ValidationError) as exc:
        audience.full_clean()
    assert exc.value.messages == [
        "condition 2: total greater than: needs a number, got 'lots' (for example 100, 99.5 or 99,5)"
    ]
    with pytest.raises(RuleError):
        audience.save()
    assert not Audience.objects.filter(name="bad").exists()


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({}, "choose at least one"),
        ({"everyone": True, "include_tags": ["vip"]}, "cannot be combined"),
        ({"include_tags": ["vip"], "exclude_tags": ["vip"]}, "both included and excluded"),
        ({"include_tags": ["vip"], "match": "most"}, "match"),
        ({"conditions": [{"key": "tier", "op": "like", "value": "x"}]}, "condition 1: tier: unknown operator"),
        ({"conditions": [{"key": "", "op": "eq", "value": "x"}]}, "condition 1: attribute name is empty"),
        ({"conditions": [{"key": "total", "op": "gt", "value": float("inf")}]}, "total greater than: needs a number"),
        ({"conditions": [{"key": "tier", "op": "in", "value": []}]}, "needs at least one value"),
        ({"colour": "red", "everyone": True}, "unknown rule"),
    ],
)
def test_invalid_rules_report_which_rule_is_wrong(rules, message):
    with pytest.raises(RuleError) as exc:
        validate_rules(rules)
    assert any(message in m for m in exc.value.messages), exc.value.messages


def test_clean_reports_unknown_tags(db):
    audience = Audience(name="ghost", rules={"include_tags": ["nobody-has-this"]})
    with pytest.raises(ValidationError, match="unknown tag"):
        audience.full_clean()


@pytest.mark.postgres
def test_equals_a_number_uses_jsonb_containment_and_equals_text_the_lowered_key_on_postgresql(base):
    number = AudienceFactory(rules={"conditions": [{"key": "total_spent", "op": "eq", "value": 250}]})
    assert "@>" in str(audience_contacts(audience=number).query)
    text = AudienceFactory(rules={"conditions": [{"key": "tier", "op": "eq", "value": "gold"}]})
    assert 'lower(("audiences_contact"."attributes" ->> tier::text))' in str(audience_contacts(audience=text).query)
    assert Contact.objects.count() == 6


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"key": "city", "op": "eq", "value": "paris"}, {"ann"}),
        ({"key": "city", "op": "eq", "value": "PARIS"}, {"ann"}),
        ({"key": "city", "op": "in", "value": "paris, lyon"}, {"ann", "cat"}),
        ({"key": "tier", "op": "in", "value": ["GOLD", "Silver"]}, {"ann", "bob", "cat"}),
        ({"key": "total_spent", "op": "eq", "value": "250"}, {"ann"}),  # a number stays exact
        ({"key": "total_spent", "op": "gt", "value": "99,4"}, {"ann", "bob", "dan"}),  # a decimal comma
    ],
)
def test_text_equals_and_one_of_ignore_case_and_numbers_take_a_decimal_comma(base, condition, expected):
    assert phones(AudienceFactory(rules={"conditions": [condition]})) == expected
