"""Signals sent by the webhook, one per normalised event (anymail's `tracking` / `inbound`).

Every per-event signal is sent with `sender=<the webhook view class>` and
`event=<event>`; `statuses_received` carries all the statuses of one body as
`events=[...]`, for receivers that apply them set-based, and may return a list
of notes (str) that are kept on the WebhookEvent. Webhooks are retried and
replayed, so receivers must be idempotent.
"""

from django.dispatch import Signal

status_received = Signal()  # event: whatsapp.events.StatusEvent
statuses_received = Signal()  # events: list[whatsapp.events.StatusEvent], one body's, in order
message_received = Signal()  # event: whatsapp.events.MessageEvent
preference_changed = Signal()  # event: whatsapp.events.PreferenceEvent
platform_event_received = Signal()  # event: one of whatsapp.events.PlatformEvent (templates, account, limit)
# Sent by whatsapp.platform when a template status event is newer than what we knew (never for a replay):
# templates=[MessageTemplate, ...] it matched, event=whatsapp.events.TemplateStatusEvent. campaigns acts on it.
template_status_changed = Signal()
