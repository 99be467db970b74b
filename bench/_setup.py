"""Shared start-up for the benchmarks: Django on the PostgreSQL in DATABASE_URL, migrated."""

import os
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def django_on_postgres():
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "1")  # a throw-away key; nothing here is served
    os.environ.setdefault("LOG_STREAM", "stderr")  # stdout carries the one JSON line
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("set DATABASE_URL=postgres://... (the figures are about PostgreSQL)")
    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def bench_template_and_audience():
    """The approved two-parameter template and the "everyone" audience the campaign benchmarks use."""
    from audiences.models import Audience
    from whatsapp.models import MessageTemplate

    template, _ = MessageTemplate.objects.update_or_create(
        name="bench_template",
        language="en_US",
        defaults={
            "status": MessageTemplate.Status.APPROVED,
            "category": "MARKETING",
            "components": [{"type": "BODY", "text": "Hi {{1}}, news from {{2}}."}],
        },
    )
    audience, _ = Audience.objects.update_or_create(name="bench everyone", defaults={"rules": {"everyone": True}})
    return template, audience


def ensure_database(url: str) -> None:
    """CREATE DATABASE of the URL's name unless it exists: each bench runs in one command on a fresh server."""
    from urllib.parse import urlsplit

    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def generate_contacts(cursor, rows: int) -> None:
    """`rows` plain subscribed contacts (ids 1..rows), by set-based SQL; kept when the count already matches."""
    cursor.execute("SELECT count(*) FROM audiences_contact")
    if cursor.fetchone()[0] == rows:
        return
    cursor.execute("TRUNCATE audiences_contact, campaigns_recipient RESTART IDENTITY CASCADE")
    cursor.execute(
        """
        INSERT INTO audiences_contact (phone, name, first_name, language, attributes, subscription,
                                       subscription_reason, created_at, updated_at)
        SELECT '+1415' || lpad((2000000 + g)::text, 7, '0'), 'Person ' || g, 'Person', 'en_US',
               jsonb_build_object('city', (ARRAY['Paris', 'Lyon', 'Rome'])[1 + g %% 3]),
               'subscribed', '', now(), now()
        FROM generate_series(0, %s - 1) AS g
        """,
        [rows],
    )
    cursor.execute("ANALYZE audiences_contact")
