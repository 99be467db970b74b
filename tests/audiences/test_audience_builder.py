"""The audience builder: a live preview of unsaved rules, the attribute keys offered with their types,
a warning for a key no contact has, attributes shown as a table, and no false 'choose at least one'."""

import pytest
from django.urls import reverse

from audiences.models import Audience
from audiences.selectors import attribute_keys
from tests.factories.audiences import ContactFactory, TagFactory

pytestmark = pytest.mark.django_db
PREVIEW = reverse("admin:audiences_audience_preview")


@pytest.fixture
def contacts():
    TagFactory(name="vip")
    ContactFactory(name="Ann", tags=["vip"], attributes={"city": "Paris", "total_spent": 212.83, "member": True})
    ContactFactory(name="Bob", tags=["vip"], attributes={"city": "paris", "total_spent": 99.5})
    ContactFactory(name="Cat", attributes={"city": "Lyon", "total_spent": 1234.5})
    ContactFactory(name="Dan", attributes={"city": "PARIS", "total_spent": "n/a"}, unsubscribed=True)


def form(**conditions) -> dict:
    data = {"name": "", "match": "any"}
    for n, (key, op, value) in conditions.items():
        data.update({f"{n}_0": key, f"{n}_1": op, f"{n}_2": value})
    return data


def test_the_preview_counts_unsaved_rules_and_shows_attributes_as_a_table(admin_client, contacts):
    response = admin_client.post(PREVIEW, {**form(condition_1=("City", "eq", "paris")), "include_tags": ["vip"]})
    data = response.json()
    assert (data["ok"], data["count"], data["errors"]) == (True, 2, [])
    assert '<th scope="row">total_spent</th><td>212.83</td>' in data["html"]
    assert "{&#x27;" not in data["html"]  # not a Python dict
    assert not Audience.objects.exists()  # nothing saved


def test_a_decimal_comma_is_a_number_and_a_tag_plus_a_condition_is_enough(admin_client, contacts):
    data = admin_client.post(
        PREVIEW, {**form(condition_1=("total_spent", "gt", "100,5")), "include_tags": ["vip"]}
    ).json()
    assert (data["ok"], data["count"]) == (True, 1)
    response = admin_client.post(
        reverse("admin:audiences_audience_add"),
        {**form(condition_1=("total_spent", "gt", "1.000")), "name": "Big", "include_tags": ["vip"]},
    )
    errors = response.context["adminform"].form.errors if response.status_code == 200 else {}
    assert response.status_code == 302, errors
    assert Audience.objects.get().rules["conditions"] == [{"key": "total_spent", "op": "gt", "value": 1.0}]


def test_a_wrong_rule_says_what_is_wrong_and_nothing_else(admin_client, contacts):
    data = admin_client.post(
        PREVIEW, {**form(condition_2=("total_spent", "gt", "lots")), "include_tags": ["vip"]}
    ).json()
    assert data["ok"] is False
    assert data["errors"] == [
        "Condition 2: total_spent greater than: needs a number, got 'lots' (for example 100, 99.5 or 99,5)"
    ]


def test_a_key_no_contact_has_is_named(admin_client, contacts):
    data = admin_client.post(PREVIEW, form(condition_1=("totl_spent", "gt", "100"))).json()
    assert data["count"] == 0
    assert data["warnings"] == [
        "No contact has an attribute “totl_spent”: check its spelling (the known ones are offered as you type)."
    ]
    data = admin_client.post(PREVIEW, form(condition_1=("total_spent", "gt", "100000"))).json()
    assert (data["count"], data["warnings"]) == (0, [])  # the key exists: nobody matches, no warning


def test_attribute_keys_are_offered_with_their_types(admin_client, contacts):
    keys = {k["key"]: k for k in attribute_keys()}
    assert keys["city"]["type"] == "text" and keys["total_spent"]["type"] == "number"
    assert keys["member"]["type"] == "yes/no" and keys["city"]["share"] == 1.0
    html = admin_client.get(reverse("admin:audiences_audience_add")).content.decode()
    assert '<datalist id="attribute-keys">' in html and '<option value="total_spent">' in html
    assert 'list="attribute-keys"' in html and "audiences/audience_builder.js" in html


def test_viewers_may_preview_but_the_endpoint_takes_only_posts(viewer_client, contacts):
    assert viewer_client.get(PREVIEW).status_code == 405
    assert viewer_client.post(PREVIEW, form(condition_1=("city", "eq", "lyon"))).json()["count"] == 1
