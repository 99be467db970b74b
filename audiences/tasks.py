"""Celery tasks: thin, they call services."""

from celery import shared_task

SYNC_ATTRIBUTE_INDEXES_TASK = "audiences.sync_attribute_indexes"


@shared_task(name=SYNC_ATTRIBUTE_INDEXES_TASK, ignore_result=True)
def sync_attribute_indexes_task() -> dict:
    """Build the attribute indexes the saved audiences need (PostgreSQL); queued when an audience is saved."""
    from audiences.indexes import attribute_indexes_sync

    return attribute_indexes_sync().as_dict()


IMPORT_TASK = "audiences.import_contacts"


# Keeps its result (the admin's preview and outcome pages read it) and says when it starts.
@shared_task(name=IMPORT_TASK, bind=True, ignore_result=False, track_started=True)
def import_contacts_task(self, token: str, options: dict, dry_run: bool, user_id: int | None = None) -> dict:
    """Preview (dry_run) or import an uploaded contacts file (audiences.jobs.import_run), reporting progress."""
    from audiences.jobs import PROGRESS, import_run

    def report(done: int, total: int | None) -> None:
        if self.request.id:  # called directly there is no state to update
            self.update_state(state=PROGRESS, meta={"done": done, "total": total, "dry_run": dry_run})

    return import_run(
        token=token, options=options, dry_run=dry_run, user_id=user_id, report=report, job_id=self.request.id
    )
