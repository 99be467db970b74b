"""Benchmark: import a 100,000-row contacts CSV (create, then --update) on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/aud_bench .venv/bin/python bench/import_contacts.py [--rows N]

The file has 1% bad phones, 2% duplicate phones and five extra columns. The
reference in the same run is a set-based INSERT ... SELECT generate_series of
the same number of rows: the floor for writing that many contacts at all.
Prints one JSON line. Uses (and empties) the audiences tables of that database.
"""

import argparse
import json
import random
import tempfile
import time

from _setup import django_on_postgres


def write_csv(path, rows: int) -> None:
    rng = random.Random(3)
    cities = ["Paris", "Lyon", "Lille", "Nice", "Nantes", "Rome", "Berlin", "Madrid"]
    with open(path, "w", encoding="utf-8") as out:
        out.write("mobile,full_name,language,tags,tier,city,total_spent,zip,signup\n")
        for n in range(rows):
            if n % 100 == 7:
                phone = f"12ab{n}"  # invalid
            elif n % 50 == 3 and n:
                phone = f"1415{2000000 + n - 1:07d}"  # duplicate of the previous row, WhatsApp style
            else:
                phone = f"+1 415 {2000000 + n:07d}"
            tags = ",".join(rng.sample(["vip", "new", "loyal", "churn-risk"], rng.randint(0, 2)))
            out.write(
                f'{phone},Person {n} Smith,en_US,"{tags}",{rng.choice(["gold", "silver", "bronze"])},'
                f"{rng.choice(cities)},{rng.randint(0, 100000) / 100},{rng.randint(1000, 99999):05d},"
                f"2024-01-{n % 28 + 1:02d}\n"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    django_on_postgres()
    from django.db import connection
    from django.utils import timezone

    from audiences.services import contacts_import

    def empty() -> None:
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE audiences_contact_tags, audiences_contact, audiences_tag RESTART IDENTITY CASCADE")

    with tempfile.NamedTemporaryFile(suffix=".csv") as tmp:
        write_csv(tmp.name, args.rows)
        empty()
        started = time.perf_counter()
        with open(tmp.name, "rb") as file:
            created = contacts_import(file=file, now=timezone.now(), tag="bench")
        create_s = time.perf_counter() - started

        started = time.perf_counter()
        with open(tmp.name, "rb") as file:
            unchanged = contacts_import(file=file, now=timezone.now(), update=False)
        reimport_s = time.perf_counter() - started

        started = time.perf_counter()
        with open(tmp.name, "rb") as file:
            updated = contacts_import(file=file, now=timezone.now(), tag="bench-2", update=True)
        update_s = time.perf_counter() - started

    empty()
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO audiences_contact (phone, name, first_name, language, attributes, subscription,
                                           subscription_reason, created_at, updated_at)
            SELECT '+1415' || lpad((2000000 + g)::text, 7, '0'), 'Person ' || g, 'Person', 'en_US',
                   jsonb_build_object('tier', 'gold', 'city', 'Paris', 'total_spent', g %% 1000),
                   'subscribed', 'import', now(), now()
            FROM generate_series(0, %s - 1) AS g
            """,
            [args.rows],
        )
    insert_select_s = time.perf_counter() - started
    empty()

    print(
        json.dumps(
            {
                "bench": "import_contacts",
                "database": connection.vendor,
                "rows": args.rows,
                "create_s": round(create_s, 2),
                "create_summary": created.summary,
                "reimport_unchanged_s": round(reimport_s, 2),
                "reimport_summary": unchanged.summary,
                "update_s": round(update_s, 2),
                "update_summary": updated.summary,
                "rows_per_s_create": round(args.rows / create_s),
                "insert_select_same_rows_s": round(insert_select_s, 2),
                "note": "create_s / update_s: parse + normalise + bulk write of the CSV "
                "(target < 60 s for 100,000 rows); "
                "compared in the same run with insert_select_same_rows_s, a set-based INSERT ... SELECT "
                "generate_series of the same number of contacts (no parsing, no tags)",
            }
        )
    )


if __name__ == "__main__":
    main()
