"""Shared start-up for the benchmarks: Django on the PostgreSQL in DATABASE_URL, migrated."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def django_on_postgres():
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "1")  # a throw-away key; nothing here is served
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("set DATABASE_URL=postgres://... (the figures are about PostgreSQL)")
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
