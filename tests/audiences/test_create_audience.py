import io

import pytest
from django.core.management import CommandError, call_command

from audiences.models import Audience
from tests.factories.audiences import ContactFactory

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command("create_audience", *args, stdout=out)
    return out.getvalue().strip()


def test_create_audience_prints_id_and_count_and_replaces_by_name():
    ContactFactory(tags=["vip"], attributes={"tier": "gold", "total_spent": 300})
    ContactFactory(tags=["vip", "blocked"], attributes={"tier": "gold"})
    ContactFactory(tags=["new"], attributes={"tier": "silver"})
    ContactFactory(tags=["vip"], unsubscribed=True)
    first = run("VIP", "--tag", "vip", "--exclude-tag", "blocked")
    audience = Audience.objects.get()
    assert first == f'audience {audience.pk} "VIP" count=1'
    assert run("VIP", "--tag", "vip", "--tag", "new") == f'audience {audience.pk} "VIP" count=3'
    assert run("VIP", "--tag", "vip", "--tag", "new", "--match", "all") == f'audience {audience.pk} "VIP" count=0'
    assert Audience.objects.count() == 1
    assert run("Everyone", "--all").endswith("count=3")
    assert run("Gold", "--attr", "tier=gold,platinum", "--attr", "total_spent>100").endswith("count=1")


def test_create_audience_refuses_bad_rules_with_the_reason():
    with pytest.raises(CommandError, match="unknown tag"):
        run("X", "--tag", "nope")
    with pytest.raises(CommandError, match="choose at least one"):
        run("X")
    with pytest.raises(CommandError, match="needs a number"):
        run("X", "--attr", "total>lots")
    assert not Audience.objects.exists()
