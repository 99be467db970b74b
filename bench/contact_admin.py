"""Benchmark: the contact list in the admin over 1,000,000 contacts on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/aud_bench .venv/bin/python bench/contact_admin.py

The same contacts as bench/audience_preview.py (generated there, kept between
runs; 5 % unsubscribed, tags vip 10 %, loyal 40 %, rare on 20 contacts). Each
page is the whole request through django.test.Client logged in as a superuser
(session, the list's queries, 100 rows, the filters, the template), median of 5
after a warm-up: the first page, page 500, a search by a full number, by a
fragment of a number and by name, and the subscription, tag and reason filters.

Compared in the same run with:
- `tag_vip_django_filter`: the same tag through Django's own filter on the
  `tags` relation (`?tags__id__exact=`, which old links still use): a join on
  the links, so DISTINCT over every column, page and count;
- each search `without_trigram_index`: the same request with bitmap scans off
  for the session, the only way a GIN index is read (migration 0003's
  trigram indexes), so the search scans the table as it would without them.

Prints one JSON line.
"""

import argparse
import json
import statistics
import time

from _setup import django_on_postgres
from audience_preview import TAGS, generate

SEARCHES = {"search_phone_full": "+14152000123", "search_phone_fragment": "2000123", "search_name": "Person 123456"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    django_on_postgres()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from audiences.models import Contact, Tag

    if Contact.objects.count() != args.rows or Tag.objects.filter(name__in=TAGS).count() != len(TAGS):
        generate(args.rows)
    settings.ALLOWED_HOSTS = ["testserver"]
    user, _ = get_user_model().objects.update_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    changelist = "/admin/audiences/contact/"

    def page_ms(query: dict) -> float:
        def get():
            response = client.get(changelist, query)
            assert response.status_code == 200, (query, response.status_code)
            return response

        get()
        times = []
        for _ in range(5):
            started = time.perf_counter()
            get()
            times.append((time.perf_counter() - started) * 1000)
        return round(statistics.median(times), 1)

    vip = Tag.objects.get(name="vip")
    pages = {
        "first_page": {},
        "page_500": {"p": 500},
        **{name: {"q": term} for name, term in SEARCHES.items()},
        "subscription_unsubscribed": {"subscription__exact": "unsubscribed"},
        "tag_vip": {"tag": "vip"},
        "tag_rare": {"tag": "rare"},
        "reason_import": {"subscription_reason__exact": "import"},
    }
    figures = {name: {"ms": page_ms(query)} for name, query in pages.items()}
    figures["tag_vip_django_filter"] = {"ms": page_ms({"tags__id__exact": vip.pk})}
    with connection.cursor() as cursor:
        cursor.execute("SET enable_bitmapscan = off")
    try:
        for name, term in SEARCHES.items():
            if name != "search_phone_full":  # an exact lookup on the unique btree, not a trigram search
                figures[name]["without_trigram_index_ms"] = page_ms({"q": term})
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET enable_bitmapscan")
    worst = max(figures[name]["ms"] for name in pages)
    print(
        json.dumps(
            {
                "bench": "contact_admin",
                "database": connection.vendor,
                "contacts": Contact.objects.count(),
                "worst_page_ms": worst,
                "pages": figures,
                "note": "each page = one GET of the contact changelist through django.test.Client as a superuser, "
                "median of 5 after a warm-up; compared in the same run with tag_vip_django_filter (Django's filter "
                "on the tags relation: join + DISTINCT) and, for the searches, without_trigram_index_ms (bitmap "
                "scans off for the session, so the trigram indexes are not read)",
            }
        )
    )


if __name__ == "__main__":
    main()
