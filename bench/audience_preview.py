"""Benchmark: audience previews over 1,000,000 contacts on PostgreSQL (target: under 300 ms each).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/aud_bench .venv/bin/python bench/audience_preview.py

Generates the contacts with set-based SQL (INSERT ... SELECT generate_series;
kept between runs when the count already matches), runs `audience_preview`
(count + 10 sample, the admin change page's two queries) for one audience per
kind of rule, and compares in the same run with a plain COUNT(*) of the whole
table (an index-only scan) and with the floor of any rule no index narrows:
COUNT, MIN(id), MAX(id) of the subscribed contacts, a parallel sequential scan
of the table that tests nothing else (index scans off for it: the partial index
aud_contact_subscribed alone would answer it). Each figure is the median of 9 runs after
one warm-up. The attribute indexes the audiences need are built first
(audiences/indexes.py, as saving them in the admin does), and the attribute
previews are timed again without them. Also the audience builder's list of
attribute keys and its check of a key no contact has. Prints one JSON line.

Tags: vip 10 %, new 30 %, loyal 40 % (every vip is loyal) and churn-risk 5 % of
the contacts, spread by different strides; rare on 20 contacts far apart; and
spring-import on the last 50,000 contacts, as one recent import's --tag leaves
it. The last two are the shapes where the sample of 10, not the count, is slow.

Outcome rules (retargeting): a campaign "bench outcomes" reached every contact
(recipient rows by INSERT ... SELECT: 55 % read, 35 % delivered, 5 % failed,
15 % clicked, 5 % replied by one of two buttons, 1 % converted), and audiences
on it: read and did not click, replied with a button, clicked, failed with a
code. Each preview's count is checked against a recount of the recipient rows.
"""

import argparse
import json
import statistics
import time

from _setup import django_on_postgres

AUDIENCES = {
    "everyone": {"everyone": True},
    "everyone_minus_tag": {"everyone": True, "exclude_tags": ["churn-risk"]},
    "tag_any": {"include_tags": ["vip", "loyal"]},
    "tag_all_exclude": {"include_tags": ["vip", "loyal"], "match": "all", "exclude_tags": ["churn-risk"]},
    "tag_rare": {"include_tags": ["rare"]},
    "tag_recent_import": {"include_tags": ["spring-import"], "exclude_tags": ["churn-risk"]},
    "language": {"languages": ["fr_FR"]},
    "attr_equals": {"conditions": [{"key": "tier", "op": "eq", "value": "gold"}]},
    "attr_equals_other_case": {"conditions": [{"key": "tier", "op": "eq", "value": "GOLD"}]},
    "attr_equals_number": {"conditions": [{"key": "total_spent", "op": "eq", "value": 500}]},
    "attr_one_of": {"conditions": [{"key": "city", "op": "in", "value": ["Paris", "Lyon"]}]},
    "attr_greater_than": {"conditions": [{"key": "total_spent", "op": "gt", "value": 900}]},
    "attr_contains": {"conditions": [{"key": "city", "op": "contains", "value": "ari"}]},
    "combined": {
        "include_tags": ["vip"],
        "languages": ["es_ES"],
        "conditions": [
            {"key": "tier", "op": "eq", "value": "gold"},
            {"key": "total_spent", "op": "gte", "value": 500},
        ],
    },
}

TAGS = ["vip", "new", "loyal", "churn-risk", "rare", "spring-import"]

OUTCOME_ROWS = """
INSERT INTO campaigns_recipient (campaign_id, contact_id, phone, position, status, message_id, attempts,
                                 sent_at, delivered_at, read_at, failed_at, error_code, error_title, error_details,
                                 error_reason, clicks, clicked_at, last_clicked_at, replied_at, reply_payload,
                                 reply_text, converted_at)
SELECT %(c)s, c.id, c.phone, c.id, s.status, 'wamid.outcome.' || c.id, 1, s.at,
       CASE WHEN s.status IN ('delivered', 'read') THEN s.at END, CASE WHEN s.status = 'read' THEN s.at END,
       CASE WHEN s.status = 'failed' THEN s.at END, CASE WHEN s.status = 'failed' THEN 131026 END, '', '', '',
       CASE WHEN s.h %% 100 < 15 AND s.status <> 'failed' THEN 1 ELSE 0 END,
       CASE WHEN s.h %% 100 < 15 AND s.status <> 'failed' THEN s.at END,
       CASE WHEN s.h %% 100 < 15 AND s.status <> 'failed' THEN s.at END,
       CASE WHEN s.h %% 100 BETWEEN 20 AND 24 AND s.status <> 'failed' THEN s.at END,
       CASE WHEN s.h %% 100 BETWEEN 20 AND 24 AND s.status <> 'failed'
            THEN (ARRAY['YES', 'NO'])[1 + s.h %% 2] ELSE '' END,
       '',
       CASE WHEN s.h %% 100 = 0 AND s.status <> 'failed' THEN s.at END
FROM audiences_contact c,
     LATERAL (SELECT (c.id * 2654435761) %% 10007 AS h) hh,
     LATERAL (SELECT hh.h,
                     CASE WHEN hh.h %% 20 = 19 THEN 'failed' WHEN hh.h %% 20 < 11 THEN 'read' ELSE 'delivered' END
                         AS status,
                     now() - interval '2 days' AS at) s
"""


def outcome_campaign():
    """The campaign "bench outcomes", its recipient rows over every contact (kept when already complete)."""
    from _setup import bench_template_and_audience
    from django.db import connection

    from audiences.models import Contact
    from campaigns.models import Campaign, Recipient

    template, audience = bench_template_and_audience()
    campaign, _ = Campaign.objects.get_or_create(
        name="bench outcomes", defaults={"template": template, "audience": audience, "status": "completed"}
    )
    if Recipient.objects.filter(campaign=campaign).count() != Contact.objects.count():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM campaigns_recipient WHERE campaign_id = %s", [campaign.pk])
            cursor.execute(OUTCOME_ROWS, {"c": campaign.pk})
            cursor.execute("VACUUM ANALYZE campaigns_recipient")
    return campaign


def outcome_audiences(campaign_id: int) -> dict:
    return {
        "outcome_read_not_clicked": {
            "outcomes": [
                {"campaign": campaign_id, "outcome": "read"},
                {"campaign": campaign_id, "outcome": "not_clicked"},
            ]
        },
        "outcome_replied_yes": {"outcomes": [{"campaign": campaign_id, "outcome": "replied", "value": "YES"}]},
        "outcome_clicked": {"outcomes": [{"campaign": campaign_id, "outcome": "clicked"}]},
        "outcome_failed_code": {"outcomes": [{"campaign": campaign_id, "outcome": "failed", "value": 131026}]},
        "outcome_converted_vip": {
            "include_tags": ["vip"],
            "outcomes": [{"campaign": campaign_id, "outcome": "converted"}],
        },
    }


def outcome_recount(campaign_id: int, name: str) -> int:
    """What the outcome audience must count, straight from the recipient rows (subscribed contacts only)."""
    from django.db.models import Q

    from campaigns.models import Recipient

    rows = Recipient.objects.filter(campaign_id=campaign_id, contact__subscription="subscribed")
    tests = {
        "outcome_read_not_clicked": Q(status="read", clicked_at__isnull=True),
        "outcome_replied_yes": Q(replied_at__isnull=False, reply_payload="YES"),
        "outcome_clicked": Q(clicked_at__isnull=False),
        "outcome_failed_code": Q(status="failed", error_code=131026),
        "outcome_converted_vip": Q(converted_at__isnull=False, contact__tags__name="vip"),
    }
    return rows.filter(tests[name]).values("contact_id").distinct().count()


def generate(rows: int) -> None:
    """Contacts and tags as the importer writes them: each contact row once, with its tag_ids, in one transaction."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE audiences_contact_tags, audiences_contact, audiences_tag RESTART IDENTITY CASCADE")
        # Which contact id has which tag (the shares are in the module docstring).
        cursor.execute(
            "CREATE TEMPORARY TABLE tagging (name text, modulus int, remainders int[], from_id int) ON COMMIT DROP"
        )
        cursor.execute(
            "INSERT INTO tagging VALUES ('vip', 10, '{0}', 1), ('new', 10, '{1,2,3}', 1), ('loyal', 5, '{0,4}', 1), "
            "('churn-risk', 20, '{7}', 1), ('rare', 50000, '{25000}', 1), ('spring-import', 1, '{0}', %s)",
            [rows - 50_000 + 1],
        )
        cursor.execute("INSERT INTO audiences_tag (name) SELECT name FROM tagging")
        # RESTART IDENTITY: contact g gets id g + 1.
        cursor.execute(
            """
            INSERT INTO audiences_contact (phone, name, first_name, language, attributes, subscription,
                                           subscription_changed_at, subscription_reason, created_at, updated_at,
                                           tag_ids)
            SELECT '+1415' || lpad((2000000 + g)::text, 7, '0'),
                   'Person ' || g, 'Person',
                   (ARRAY['en_US', 'en_US', 'en_US', 'fr_FR', 'es_ES'])[1 + g %% 5],
                   jsonb_build_object(
                       'tier', (ARRAY['gold', 'silver', 'bronze', 'bronze'])[1 + (g / 7) %% 4],
                       'city', (ARRAY['Paris', 'Lyon', 'Lille', 'Nice', 'Nantes', 'Rome', 'Berlin', 'Madrid'])
                               [1 + (g / 3) %% 8],
                       'total_spent', CASE WHEN g %% 97 = 0 THEN to_jsonb('n/a'::text)
                                           ELSE to_jsonb(((g::bigint * 7919) %% 100000) / 100.0) END),
                   CASE WHEN g %% 20 = 0 THEN 'unsubscribed' ELSE 'subscribed' END,
                   now(), 'import', now(), now(),
                   ARRAY(SELECT t.id FROM audiences_tag t JOIN tagging r USING (name)
                         WHERE mod(g + 1, r.modulus) = ANY (r.remainders) AND g + 1 >= r.from_id ORDER BY t.id)
            FROM generate_series(0, %s - 1) AS g
            """,
            [rows],
        )
        cursor.execute(
            """
            INSERT INTO audiences_contact_tags (contact_id, tag_id)
            SELECT c.id, t.id FROM audiences_contact c
            JOIN (audiences_tag t JOIN tagging r USING (name))
              ON mod(c.id, r.modulus) = ANY (r.remainders) AND c.id >= r.from_id
            """
        )
    with connection.cursor() as cursor:
        # What autovacuum does to tables at rest: statistics and the visibility map (index-only scans).
        for table in ("audiences_contact", "audiences_contact_tags", "audiences_tag"):
            cursor.execute(f"VACUUM ANALYZE {table}")


def timed(fn, repeat: int = 9):
    fn()  # warm-up: caches, plans
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    django_on_postgres()
    from django.db import connection, transaction

    from audiences.indexes import PREFIX, attribute_indexes_sync, wanted_indexes
    from audiences.models import Audience, Contact, Tag
    from audiences.selectors import attribute_keys, audience_contacts, audience_preview, audience_rule_warnings

    generated_s = None
    if Contact.objects.count() != args.rows or Tag.objects.filter(name__in=TAGS).count() != len(TAGS):
        started = time.perf_counter()
        generate(args.rows)
        generated_s = round(time.perf_counter() - started, 1)

    def plain_count():
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM audiences_contact")
            return cursor.fetchone()[0]

    def full_scan_floor():
        # A sequential scan, whatever the indexes: aud_contact_subscribed answers this query alone.
        with transaction.atomic(), connection.cursor() as cursor:
            for setting in ("enable_indexscan", "enable_indexonlyscan", "enable_bitmapscan"):
                cursor.execute(f"SET LOCAL {setting} = off")
            cursor.execute(
                "SELECT COUNT(*), MIN(id), MAX(id) FROM audiences_contact WHERE subscription = %s", ["subscribed"]
            )
            return cursor.fetchone()

    count_all_ms, total = timed(plain_count)
    floor_ms, _ = timed(full_scan_floor)
    started = time.perf_counter()
    outcomes = outcome_campaign()
    outcome_rows_s = round(time.perf_counter() - started, 1)
    audiences = {
        name: Audience.objects.update_or_create(name=f"bench {name}", defaults={"rules": rules})[0]
        for name, rules in {**AUDIENCES, **outcome_audiences(outcomes.pk)}.items()
    }
    # What saving them in the admin queues for the worker: the attribute indexes their rules need.
    index_sync = attribute_indexes_sync()

    def preview_ms(audience) -> tuple[float, int]:
        ms, preview = timed(lambda: audience_preview(audience=audience, sample=10))
        assert preview["count"] == audience_contacts(audience=audience).count()
        assert len(preview["sample"]) == min(10, preview["count"])
        return round(ms, 1), preview["count"]

    previews = {}
    for name, audience in audiences.items():
        ms, count = preview_ms(audience)
        previews[name] = {"ms": ms, "count": count}
        if name.startswith("outcome_"):
            previews[name]["equals_recount"] = count == outcome_recount(outcomes.pk, name)
    # The same previews without the attribute indexes, then the indexes back as they were.
    with connection.cursor() as cursor:
        for index in wanted_indexes():
            cursor.execute(f"DROP INDEX IF EXISTS {index}")
    for name, audience in audiences.items():
        if audience.rules["conditions"]:
            previews[name]["without_attribute_indexes_ms"] = preview_ms(audience)[0]
    rebuild = attribute_indexes_sync()
    # The builder's other reads: the attribute keys it offers, and the check of a key no contact has
    # (made only when a rule finds nobody: it reads every contact).
    keys_ms, keys = timed(attribute_keys)
    missing_key_ms, warnings = timed(
        lambda: audience_rule_warnings(rules={"conditions": [{"key": "totl_spent", "op": "gt", "value": 1}]}), 3
    )
    worst = max(previews.values(), key=lambda p: p["ms"])
    print(
        json.dumps(
            {
                "bench": "audience_preview",
                "database": connection.vendor,
                "contacts": total,
                "generated_s": generated_s,
                "plain_count_all_ms": round(count_all_ms, 1),
                "full_scan_floor_ms": round(floor_ms, 1),
                "attribute_indexes": sorted(set(index_sync.created) | set(index_sync.kept)),
                "attribute_indexes_build_s": round(rebuild.seconds, 1),
                "outcome_rows_s": outcome_rows_s,
                "worst_outcome_preview_ms": max(v["ms"] for k, v in previews.items() if k.startswith("outcome_")),
                "worst_preview_ms": worst["ms"],
                "under_300ms": worst["ms"] < 300,
                "previews": previews,
                "attribute_keys_ms": round(keys_ms, 1),
                "attribute_keys": [f"{k['key']} ({k['type']})" for k in keys],
                "missing_key_warning_ms": round(missing_key_ms, 1),
                "missing_key_warning": warnings,
                "note": "each preview = audience_preview(): COUNT of the audience + first 10 by id, median of 9 "
                "after a warm-up; compared in the same run with plain_count_all_ms, a SELECT COUNT(*) of the "
                "whole contacts table, and full_scan_floor_ms, COUNT/MIN/MAX(id) of the subscribed contacts by "
                "a sequential scan: the least any preview that reads every contact can cost; and, for the "
                f"previews of attribute rules, without the {PREFIX}* indexes that "
                "attribute_indexes_sync builds for them (attribute_indexes_build_s: dropping and rebuilding them), "
                "as the builder's live preview of a rule not yet saved runs; attribute_keys_ms: the builder's "
                "list of keys (a TABLESAMPLE plus the latest contacts); missing_key_warning_ms: the check "
                "made when a rule finds nobody",
            }
        )
    )


if __name__ == "__main__":
    main()
