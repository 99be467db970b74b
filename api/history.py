"""Every write through the API is in the admin's history (LogEntry), under the key's user."""

from __future__ import annotations

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry

__all__ = ["ADDITION", "CHANGE", "DELETION", "history_log"]


def history_log(*, user, obj, flag: int, message: str) -> None:
    """One LogEntry for `obj`, as the admin's log_addition / log_change / log_deletion write it."""
    LogEntry.objects.log_actions(
        user_id=user.pk,
        queryset=[obj],
        action_flag=flag,
        change_message=f"{message} (API)",
        single_object=True,
    )
