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
