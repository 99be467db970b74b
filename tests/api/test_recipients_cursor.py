"""A campaign's recipients by cursor: every row once, in send order, no COUNT, filters kept across pages."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.models import Recipient
from tests.factories.campaigns import CampaignFactory

R = Recipient.Status


def recipients(campaign, rows: int) -> None:
    statuses = [R.PENDING, R.SENT, R.FAILED, R.DELIVERED]
    Recipient.objects.bulk_create(
        [
            Recipient(
                campaign=campaign,
                phone=f"+1415555{i:04d}",
                position=rows - i,  # position order != id order
                status=statuses[i % 4],
                error_code=131026 if i % 4 == 2 else None,
            )
            for i in range(rows)
        ],  # fmt: skip
        batch_size=1000,
    )


def walk(api, url: str, params: dict) -> tuple[list[dict], int]:
    rows, pages = [], 0
    page = api.get(url, params).json()
    while True:
        pages += 1
        rows += page["results"]
        if not page["next"]:
            return rows, pages
        page = api.get(page["next"]).json()


@pytest.mark.postgres
@pytest.mark.django_db
def test_walking_every_page_gives_every_recipient_once_in_send_order(manager_api):
    campaign = CampaignFactory()
    other = CampaignFactory()
    recipients(campaign, 1234)
    recipients(other, 50)
    url = f"/api/v1/campaigns/{campaign.pk}/recipients/"
    rows, pages = walk(manager_api, url, {"limit": 100})
    expected = list(Recipient.objects.filter(campaign=campaign).order_by("position").values_list("id", flat=True))
    assert [row["id"] for row in rows] == expected and pages == 13
    failed, _pages = walk(manager_api, url, {"limit": 37, "status": "failed", "error_code": 131026})
    assert [row["id"] for row in failed] == [pk for pk in expected if Recipient.objects.get(pk=pk).status == R.FAILED]
    # Backwards from the last page gives the same rows.
    page = manager_api.get(url, {"limit": 100, "status": "sent"}).json()
    second = manager_api.get(page["next"]).json()
    back = manager_api.get(second["previous"]).json()
    assert back["results"] == page["results"]


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_page_never_counts_and_reads_through_the_position_index(manager_api):
    campaign = CampaignFactory()
    recipients(campaign, 300)
    url = f"/api/v1/campaigns/{campaign.pk}/recipients/"
    first = manager_api.get(url, {"limit": 50}).json()
    with CaptureQueriesContext(connection) as captured:
        manager_api.get(first["next"])
    sql = [q["sql"] for q in captured.captured_queries if "campaigns_recipient" in q["sql"]]
    assert len(sql) == 1 and "COUNT(" not in sql[0].upper()
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")  # a 300-row table: ask which index serves it, as at 1,000,000
        cursor.execute("EXPLAIN " + sql[0])
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
    assert "campaigns_rcpt_position" in plan and "Sort" not in plan
