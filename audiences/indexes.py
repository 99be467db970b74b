"""Attribute indexes that follow the audiences (PostgreSQL): what the saved rules filter on gets an index.

`attributes` is free-form, so no migration can know its keys. The GIN index
on the whole column (migration 0001) serves "equals" and "one of" of numbers
and booleans (jsonb containment) for every key; numeric comparisons, text
"equals" / "one of" (which ignore case) and "contains" need an index on the
one key they test, or every preview reads and parses every contact (250-360
ms at 1M contacts on a 2-vCPU machine, against 120-150 ms for a scan that
tests nothing). So for each key that a saved audience compares as a number, a
btree on `(attributes -> key)`; for each key it matches as text ignoring case,
a btree on `lower(attributes ->> key)`; for each key it searches with
"contains", a trigram GIN on `upper(attributes ->> key)` (pg_trgm). The rules
(audiences/rules.py) compile to exactly those expressions.

`attribute_indexes_sync` creates what is missing and drops what no audience
uses any more, all CONCURRENTLY (writes to contacts go on), one sync at a
time (advisory lock). An index left INVALID by a failed build is rebuilt.
Saving or deleting an audience in the admin queues it for the worker,
create_audience runs it (attribute_indexes_follow), and `manage.py
audience_indexes` runs it by hand. Elsewhere than PostgreSQL it does nothing.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass, field

from django.db import connection

from audiences.models import Audience, Contact
from audiences.rules import NUMERIC_OPERATORS

logger = logging.getLogger(__name__)

PREFIX = "aud_attr_"
_SAFE_KEY = re.compile(r"[0-9a-z_]+")  # what normalize_key leaves
_LOCK = 0x61756469  # pg advisory lock key: one sync at a time


@dataclass
class IndexSync:
    database: str
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # index name -> why not
    busy: bool = False  # another sync held the lock
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {
            "database": self.database,
            "created": self.created,
            "dropped": self.dropped,
            "kept": self.kept,
            "skipped": self.skipped,
            "busy": self.busy,
            "seconds": round(self.seconds, 2),
        }


def index_name(kind: str, key: str) -> str:
    """aud_attr_num_total_spent; long keys keep a prefix and a hash (PostgreSQL names stop at 63 bytes)."""
    name = f"{PREFIX}{kind}_{key}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return f"{PREFIX}{kind}_{key[:38]}_{digest}"


def wanted_indexes() -> dict[str, tuple[str, str]]:
    """{index name: (kind, key)} for every attribute key the saved audiences compare or search."""
    wanted = {}
    for rules in Audience.objects.values_list("rules", flat=True):
        for condition in (rules or {}).get("conditions") or []:
            key, op = condition.get("key") or "", condition.get("op")
            if not _SAFE_KEY.fullmatch(key):
                continue  # never from validated rules; never into DDL either
            if op in NUMERIC_OPERATORS:
                wanted[index_name("num", key)] = ("num", key)
            elif op == "contains":
                wanted[index_name("txt", key)] = ("txt", key)
            elif op in ("eq", "in") and any(isinstance(v, str) for v in _listed(condition.get("value"))):
                wanted[index_name("ci", key)] = ("ci", key)
    return wanted


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def _create_sql(name: str, kind: str, key: str) -> str:
    table = connection.ops.quote_name(Contact._meta.db_table)
    if kind == "num":
        expression = f"((attributes -> '{key}'::text))"
        return f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} {expression}"
    if kind == "ci":
        expression = f"(lower((attributes ->> '{key}'::text)))"
        return f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} {expression}"
    expression = f"(upper((attributes ->> '{key}'::text)) gin_trgm_ops)"
    return f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} USING gin {expression}"


def _present(cursor) -> dict[str, bool]:
    """{name: valid} of this module's indexes on the contacts table."""
    cursor.execute(
        """
        SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = %s::regclass AND c.relname LIKE %s
        """,
        [Contact._meta.db_table, PREFIX.replace("_", r"\_") + "%"],
    )
    return dict(cursor.fetchall())


def trigram_ready(cursor) -> str | None:
    """Make sure pg_trgm is there (a trusted extension: the database owner may create it); None or why not."""
    try:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception as exc:  # noqa: BLE001 (any refusal: reported, the other indexes still sync)
        return f"pg_trgm is not available: {exc}".strip()
    return None


def attribute_indexes_sync() -> IndexSync:
    """Create the attribute indexes the saved audiences need and drop the ones none needs (see the module doc).

    Runs outside any transaction (CREATE INDEX CONCURRENTLY cannot run in
    one). Returns what it did; `busy` when another sync was running.
    """
    result = IndexSync(database=connection.vendor)
    if connection.vendor != "postgresql":
        return result
    if connection.in_atomic_block:
        raise RuntimeError("attribute_indexes_sync builds indexes CONCURRENTLY: call it outside a transaction")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_LOCK])
        if not cursor.fetchone()[0]:
            result.busy = True
            return result
        try:
            wanted = wanted_indexes()
            present = _present(cursor)
            for name, valid in sorted(present.items()):
                if name not in wanted or not valid:
                    cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
                    if name not in wanted:
                        result.dropped.append(name)
            trigram_problem = trigram_ready(cursor) if any(k == "txt" for k, _ in wanted.values()) else None
            for name, (kind, key) in sorted(wanted.items()):
                if present.get(name):
                    result.kept.append(name)
                elif kind == "txt" and trigram_problem:
                    result.skipped[name] = trigram_problem
                else:
                    cursor.execute(_create_sql(name, kind, key))
                    result.created.append(name)
            if result.created:
                # Statistics on the new expressions, so the planner knows how selective a rule is.
                cursor.execute(f"ANALYZE {connection.ops.quote_name(Contact._meta.db_table)}")
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_LOCK])
    result.seconds = time.perf_counter() - started
    if result.created or result.dropped or result.skipped:
        logger.info("attribute indexes: %s", result.as_dict())
    return result


def attribute_indexes_follow() -> IndexSync | None:
    """After audiences changed: sync now, or, inside a transaction (the admin's), queue it for after the commit.

    PostgreSQL only; returns the sync's result when it ran here.
    """
    if connection.vendor != "postgresql":
        return None
    if connection.in_atomic_block:
        from audiences.tasks import sync_attribute_indexes_task

        sync_attribute_indexes_task.delay_on_commit()
        return None
    return attribute_indexes_sync()
