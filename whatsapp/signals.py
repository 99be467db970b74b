"""Signals sent by the webhook, one per normalised event (anymail's `tracking` / `inbound`).

Every signal is sent with `sender=<the webhook view class>` and `event=<event>`.
Webhooks are retried and replayed, so receivers must be idempotent.
"""

from django.dispatch import Signal

status_received = Signal()  # event: whatsapp.events.StatusEvent
message_received = Signal()  # event: whatsapp.events.MessageEvent
preference_changed = Signal()  # event: whatsapp.events.PreferenceEvent
