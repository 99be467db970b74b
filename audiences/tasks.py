"""Celery tasks: thin, they call services."""

from celery import shared_task

SYNC_ATTRIBUTE_INDEXES_TASK = "audiences.sync_attribute_indexes"


@shared_task(name=SYNC_ATTRIBUTE_INDEXES_TASK, ignore_result=True)
def sync_attribute_indexes_task() -> dict:
    """Build the attribute indexes the saved audiences need (PostgreSQL); queued when an audience is saved."""
    from audiences.indexes import attribute_indexes_sync

    return attribute_indexes_sync().as_dict()
