"""Benchmark: peak memory and time of importing a generated 50 MB contacts CSV, new code against the old.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/aud_bench .venv/bin/python bench/import_memory.py [--mb 50]

Writes a CSV of about --mb megabytes (1 % bad phones, 2 % phones repeated
further down the file, seven extra columns, decimal commas in a semicolon
file as European spreadsheets save them), then imports it into an emptied
contacts table twice, each time in a child process of its own so that its
peak resident memory (getrusage ru_maxrss) is the import's: once with
`contacts_import` as it is, once with the code as it was before the streamed
import (`audiences/imports.py`, `services.py` and `attributes.py` of commit
OLD_COMMIT, loaded from git under another package name). `baseline_mb` is
a child's peak after Django's start-up, before reading the file. Target: peak
under 200 MB, and not slower than the old code. Each code runs twice, in the
order new, old, old, new (--rounds 1: new, old), each on an emptied table, and
the faster run of each is compared. Prints one JSON line. Uses (and empties)
the audiences tables of that database.
"""

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _setup import ROOT, django_on_postgres

OLD_COMMIT = "70bd9dc"  # the last commit that parsed the whole file before writing
OLD_FILES = {
    "imports": "audiences/imports.py",
    "services": "audiences/services.py",
    "attributes": "audiences/attributes.py",
}


def write_csv(path: Path, megabytes: int) -> int:
    rng = random.Random(5)
    cities = ["Paris", "Lyon", "Lille", "Nice", "Nantes", "Rome", "Berlin", "Madrid"]
    rows, target = 0, megabytes * 1_000_000
    with open(path, "w", encoding="utf-8") as out:
        out.write("mobile;full_name;language;tags;tier;city;total_spent;zip;signup;score\n")
        while out.tell() < target:
            n = rows
            if n % 100 == 7:
                phone = f"12ab{n}"
            elif n % 50 == 3 and n > 5000:
                phone = f"1415{2000000 + n - 5000:07d}"  # a phone 5,000 rows (several batches) earlier
            else:
                phone = f"+1 415 {2000000 + n:07d}"
            tags = ",".join(rng.sample(["vip", "new", "loyal", "churn-risk"], rng.randint(0, 2)))
            spent = f"{rng.randint(0, 100000) // 100},{rng.randint(0, 99):02d}"
            out.write(
                f"{phone};Person {n} Smith;en_US;{tags};{rng.choice(['gold', 'silver', 'bronze'])};"
                f"{rng.choice(cities)};{spent};{rng.randint(1000, 99999):05d};2024-01-{n % 28 + 1:02d};"
                f"{rng.random():.4f}\n"
            )
            rows += 1
    return rows


def load_old_code(workdir: Path):
    """The old import modules as package `old_import`, their imports of each other pointed at it."""
    package = workdir / "old_import"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text("")
    for name, path in OLD_FILES.items():
        source = subprocess.run(
            ["git", "show", f"{OLD_COMMIT}:{path}"], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout
        for module in OLD_FILES:
            source = source.replace(f"from audiences.{module} import", f"from old_import.{module} import")
        (package / f"{name}.py").write_text(source)
    sys.path.insert(0, str(workdir))
    from old_import.services import contacts_import

    return contacts_import


def child(which: str, csv_path: str) -> None:
    django_on_postgres()
    from django.conf import settings
    from django.db import connection

    # As in production: with DEBUG, Django keeps the text of the last 9,000 queries (each batch's
    # INSERT carries its 2,000 rows), which is memory and time no deployment spends.
    settings.DEBUG = False
    from django.utils import timezone

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE audiences_contact_tags, audiences_contact, audiences_tag RESTART IDENTITY CASCADE")
    if which == "old":
        with tempfile.TemporaryDirectory() as workdir:
            contacts_import = load_old_code(Path(workdir))
    else:
        from audiences.services import contacts_import
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with open(csv_path, "rb") as file:
        result = contacts_import(file=file, now=timezone.now(), tag="bench")
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audiences_contact")
        contacts = cursor.fetchone()[0]
    print(
        json.dumps(
            {
                "seconds": round(seconds, 1),
                "peak_mb": round(peak / 1024),
                "baseline_mb": round(baseline / 1024),
                "summary": result.summary,
                "contacts": contacts,
            }
        )
    )


def run_child(which: str, csv_path: Path) -> dict:
    completed = subprocess.run(
        [sys.executable, __file__, "--child", which, str(csv_path)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--child", nargs=2, metavar=("WHICH", "CSV"))
    parser.add_argument("--skip-old", action="store_true", help="only the current code")
    parser.add_argument("--rounds", type=int, default=2, help="2: new, old, old, new; 1: new, old")
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as workdir:
        csv_path = Path(workdir) / "contacts.csv"
        rows = write_csv(csv_path, args.mb)
        size_mb = round(csv_path.stat().st_size / 1_000_000, 1)
        # New, old, old, new: a drift of the machine over the run (caches, autovacuum) weighs on both alike.
        order = ["new"] if args.skip_old else ["new", "old", "old", "new"][: 4 if args.rounds > 1 else 2]
        runs = {"new": [], "old": []}
        for which in order:
            runs[which].append(run_child(which, csv_path))
    best = {which: min(found, key=lambda r: r["seconds"]) for which, found in runs.items() if found}
    figures = {
        "bench": "import_memory",
        "file_mb": size_mb,
        "rows": rows,
        "new": best.get("new"),
        "old": best.get("old"),
        "new_seconds_each_run": [r["seconds"] for r in runs["new"]],
        "old_seconds_each_run": [r["seconds"] for r in runs["old"]],
        "new_peak_mb_each_run": [r["peak_mb"] for r in runs["new"]],
        "old_peak_mb_each_run": [r["peak_mb"] for r in runs["old"]],
        "note": "new / old: the faster of each code's runs; "
        "peak_mb: the importing process's peak resident memory (ru_maxrss), Django included; "
        f"old: the code of commit {OLD_COMMIT} (whole file parsed before writing) in the same run, same file; "
        "target: new peak under 200 MB and new seconds <= old seconds",
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
