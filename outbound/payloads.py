"""The `data` of each event type, in one place (receivers' documentation: docs/architecture.md, "Outbound events").

Thin payloads (Standard Webhooks' advice): ids, the change and its reason;
a receiver reads more through the API. Times are ISO 8601 with an offset.
"""

from __future__ import annotations

import datetime as dt


def _iso(at: dt.datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def campaign_data(
    *, campaign_id: int, name: str, status: str, previous_status: str, at: dt.datetime, reason: str = "",
    error_code: int | None = None,
) -> dict:  # fmt: skip
    """campaign.activated / paused / resumed / completed / cancelled. `reason` and `error_code`: paused only."""
    data = {"campaign": {"id": campaign_id, "name": name}, "status": status, "previous_status": previous_status,
            "changed_at": _iso(at)}  # fmt: skip
    if status == "paused":
        data.update(reason=reason, error_code=error_code)
    return data


def contact_data(*, phone: str, reason: str, at: dt.datetime, source: str = "") -> dict:
    """contact.opted_out / contact.opted_in: the phone (an opt-out belongs to the number), why, when, from where."""
    return {"phone": phone, "reason": reason, "source": source, "changed_at": _iso(at)}


def import_data(*, job_id: str | None, ok: bool, at: dt.datetime, result: dict | None = None, errors=()) -> dict:
    """import.finished: the job, whether it ran, its counts (created, updated, unchanged, invalid, rows)."""
    counts = {key: (result or {}).get(key, 0) for key in ("created", "updated", "unchanged", "invalid_count", "rows")}
    counts["invalid"] = counts.pop("invalid_count")
    return {"import_id": job_id, "ok": ok, "finished_at": _iso(at), **counts, "errors": [str(e) for e in errors]}


def alert_raised_data(
    *, alert_id: int | str, kind: str, severity: str, title: str, message: str, raised_at: dt.datetime,
    campaign_id: int | None = None, sender_id: int | None = None,
) -> dict:  # fmt: skip
    """alert.raised: what `alert_raise(...)` (the platform's durable alerts) passes, one call at its one place:

    outbound.emit("alert.raised", alert_raised_data(alert_id=alert.pk, kind=..., ...), at=alert.raised_at)
    """
    return {"alert": {"id": alert_id, "kind": kind, "severity": severity, "title": title, "message": message},
            "campaign_id": campaign_id, "sender_id": sender_id, "raised_at": _iso(raised_at)}  # fmt: skip
