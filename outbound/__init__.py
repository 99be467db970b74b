"""Outbound events: signed webhooks to the systems around the product (docs/architecture.md, "Outbound events").

`outbound.emit(type, data)` is the one call the places where things happen
make; it records the event and its deliveries in the caller's transaction
and sends after the commit, never failing the caller.
"""

from __future__ import annotations

import datetime as dt


def emit(event_type: str, data: dict, *, at: dt.datetime | None = None) -> list:
    """Record one event for the endpoints subscribed to `event_type`; sent after the caller's commit."""
    from outbound.services import events_emit

    return events_emit(event_type=event_type, items=[data], at=at)
