"""Contact imports as background jobs: the upload kept under VAR_DIR/imports, a preview job, then the import job.

The admin stores the upload (`import_upload_store`) and starts a dry run
(`import_start(dry_run=True)`): the worker reads the whole file with the
same service as the real import, rolls back, and leaves the counts, the
column mapping, the first rows as they will be stored and the rejected rows
in Celery's result backend, which the progress page shows as the preview.
Confirming starts the real import (`dry_run=False`) with the preview's own
options. The upload is removed when the real import ends, whatever its
outcome, when the preview finds the file unusable, when the operator cancels,
and otherwise once the preview has expired (checked at each new upload). The real
import writes every rejected row to `<token>-rejected.csv` beside it, which
the outcome page offers for download, kept for as long.

The worker must see the web's VAR_DIR (one machine, or a shared volume).
"""

from __future__ import annotations

import re
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audiences.imports import ImportFileError
from audiences.services import contacts_import
from outbound.models import EventType
from outbound.payloads import import_data
from outbound.services import events_emit

UPLOAD_MAX_AGE = 24 * 3600
PROGRESS = "PROGRESS"  # a custom Celery state: meta = {"done", "total", "dry_run"}
_TOKEN = re.compile(r"[0-9a-f]{32}")


# --- Files ----------------------------------------------------------------------------


def imports_dir() -> Path:
    return Path(settings.VAR_DIR) / "imports"


def upload_path(token: str) -> Path:
    if not _TOKEN.fullmatch(token or ""):
        raise ValueError("not an import token")
    return imports_dir() / f"{token}.upload"


def rejected_path(token: str) -> Path:
    return upload_path(token).with_name(f"{token}-rejected.csv")


def import_upload_store(*, chunks, now: float | None = None) -> str:
    """Write an uploaded file (an iterable of byte chunks) under VAR_DIR/imports; its token.

    Old files are removed first, so a preview the operator never confirmed
    leaves nothing behind for long: an upload once its preview can no longer
    be confirmed (Celery forgets the preview after CELERY_RESULT_EXPIRES), a
    rejected-rows file after UPLOAD_MAX_AGE.
    """
    folder = imports_dir()
    folder.mkdir(parents=True, exist_ok=True)
    now = now or time.time()
    preview_life = getattr(settings, "CELERY_RESULT_EXPIRES", None) or UPLOAD_MAX_AGE
    for old in folder.iterdir():
        age = now - old.stat().st_mtime if old.is_file() else 0
        if age > (preview_life if old.suffix == ".upload" else UPLOAD_MAX_AGE):
            old.unlink(missing_ok=True)
    token = uuid.uuid4().hex
    with upload_path(token).open("wb") as out:
        for chunk in chunks:
            out.write(chunk)
    return token


def import_upload_discard(*, token: str) -> None:
    upload_path(token).unlink(missing_ok=True)


# --- Starting and running a job -------------------------------------------------------------


def import_start(*, token: str, options: dict, dry_run: bool, user_id: int | None = None) -> str:
    """Enqueue the preview (dry_run) or the import of an upload once the request's transaction commits; the job id."""
    from audiences.tasks import import_contacts_task

    upload_path(token)  # a bad token fails here, not in the worker
    task_id = uuid.uuid4().hex
    args = [token, options, dry_run, user_id]
    transaction.on_commit(lambda: import_contacts_task.apply_async(args=args, task_id=task_id))
    return task_id


def import_run(
    *, token: str, options: dict, dry_run: bool, user_id: int | None, report=None, job_id: str | None = None
) -> dict:
    """What the task runs: the import (or its dry run) of an upload; a JSON-able outcome.

    A file-level refusal (ImportFileError) is an outcome, not a failure. The
    upload is removed after the real import, and after a refused preview. A
    real import, whatever its outcome, raises `import.finished` (outbound
    events) for the job `job_id`.
    """
    try:
        outcome = _import_run(token=token, options=options, dry_run=dry_run, user_id=user_id, report=report)
    except Exception as exc:
        if not dry_run:  # a crash is an end too: the receiver must not wait for this job forever
            _import_finished(job_id, {"ok": False, "errors": [_("The import failed: %s") % type(exc).__name__]})
        raise
    if not dry_run:
        _import_finished(job_id, outcome)
    return outcome


def _import_finished(job_id: str | None, outcome: dict) -> None:
    data = import_data(
        job_id=job_id, ok=outcome["ok"], at=timezone.now(), result=outcome.get("result"),
        errors=outcome.get("errors", ()),
    )  # fmt: skip
    events_emit(event_type=EventType.IMPORT_FINISHED, items=[data])


def _import_run(*, token: str, options: dict, dry_run: bool, user_id: int | None, report=None) -> dict:
    path = upload_path(token)
    outcome = {"token": token, "dry_run": dry_run, "options": options}
    if not path.exists():
        return {**outcome, "ok": False, "errors": [_("The upload is gone (expired or already imported).")]}
    succeeded = False
    try:
        with path.open("rb") as file, _rejected_file(token, dry_run) as rejected:
            result = contacts_import(
                file=file,
                now=timezone.now(),
                tag=options.get("tag") or None,
                update=bool(options.get("update")),
                region=options.get("region") or None,
                encoding=options.get("encoding") or None,
                decimal=options.get("decimal") or None,
                language=options.get("language") or None,
                dry_run=dry_run,
                rejected=rejected,
                progress=report,
            )
        succeeded = True
    except ImportFileError as exc:
        return {**outcome, "ok": False, "errors": [str(exc)]}
    finally:
        if not (dry_run and succeeded):
            path.unlink(missing_ok=True)  # imported, refused or crashed: the upload has served
        if not dry_run and not (succeeded and result.invalid_count):
            rejected_path(token).unlink(missing_ok=True)  # nothing rejected, or an import that did not happen
    if not dry_run:
        _log_import(user_id, options, result.summary)
    return {**outcome, "ok": True, "result": result.as_dict(), "rejected": bool(result.invalid_count and not dry_run)}


@contextmanager
def _rejected_file(token: str, dry_run: bool):
    """Where the real import writes its rejected rows (UTF-8 with a BOM, so that Excel reads the accents)."""
    if dry_run:
        yield None
        return
    with rejected_path(token).open("w", encoding="utf-8-sig", newline="") as file:
        yield file


def _log_import(user_id: int | None, options: dict, summary: str) -> None:
    """One history entry for the whole file, on the contacts' model (an import touches many contacts)."""
    from django.contrib.admin.models import ADDITION, LogEntry
    from django.contrib.contenttypes.models import ContentType

    from audiences.models import Contact

    if user_id is None:
        return
    LogEntry.objects.create(
        user_id=user_id,
        content_type=ContentType.objects.get_for_model(Contact),
        object_repr=_("Import of %(file)s") % {"file": options.get("filename") or "a file"},
        action_flag=ADDITION,
        change_message=_("Imported contacts from %(file)s: %(summary)s")
        % {"file": options.get("filename") or "a file", "summary": summary},
    )


# --- Reading a job's progress -----------------------------------------------------------------


@dataclass(frozen=True)
class ImportJob:
    task_id: str
    state: str
    finished: bool
    ok: bool | None
    dry_run: bool | None
    percent: int | None
    message: str
    outcome: dict | None  # import_run's return value once finished

    def as_dict(self) -> dict:
        data = asdict(self)
        data.pop("outcome")
        return data


def import_job(*, task_id: str) -> ImportJob:
    """The job's state from Celery's result backend (PENDING also for an unknown or expired id)."""
    from audiences.tasks import import_contacts_task

    result = import_contacts_task.AsyncResult(task_id)
    state = result.state
    info = result.info if isinstance(result.info, dict) else {}
    job = {"task_id": task_id, "state": state}
    if state == "SUCCESS":
        dry_run = info.get("dry_run")
        if not info.get("ok"):
            message = _("Nothing was imported: %(errors)s") % {"errors": "; ".join(info.get("errors") or [])}
        elif dry_run:
            message = _("Preview ready: nothing is saved until you confirm.")
        else:
            figures = info["result"]
            message = _(
                "Import done: %(created)s contacts created, %(updated)s updated, %(unchanged)s unchanged, "
                "%(invalid_count)s rows rejected."
            ) % {k: f"{figures[k]:,}" for k in ("created", "updated", "unchanged", "invalid_count")}
        return ImportJob(**job, finished=True, ok=bool(info.get("ok")), dry_run=dry_run, percent=100,
                         message=message, outcome=info)  # fmt: skip
    if state == "FAILURE":
        message = _("Failed, nothing was imported (it is all or nothing): %(error)r. The worker's log has the details.")
        return ImportJob(**job, finished=True, ok=False, dry_run=None, percent=None,
                         message=message % {"error": result.info}, outcome=None)  # fmt: skip
    if state == PROGRESS:
        done, total = info.get("done") or 0, info.get("total")
        percent = min(99, 100 * done // total) if total else None
        what = _("Checking the file") if info.get("dry_run") else _("Importing")
        return ImportJob(**job, finished=False, ok=None, dry_run=info.get("dry_run"), percent=percent,
                         message=_("%(what)s: %(percent)s%% read.") % {"what": what, "percent": percent or 0},
                         outcome=None)  # fmt: skip
    if state == "STARTED":
        message = _("Started: reading the file.")
    else:
        message = _("Waiting for a worker to start the job (if this lasts, check that the Celery worker runs).")
    return ImportJob(**job, finished=False, ok=None, dry_run=None, percent=None, message=message, outcome=None)
