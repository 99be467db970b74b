"""Real-shaped WhatsApp webhook bodies (as Meta documents and sends them), built independently of the app."""

import hashlib
import hmac
import json

WABA_ID = "200000000000002"
PHONE_NUMBER_ID = "100000000000001"
METADATA = {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID}


def body(*values, field="messages", entries=None) -> bytes:
    """One entry with one change per value, or `entries` (a list of lists of values) for several entries."""
    entries = entries if entries is not None else [list(values)]
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {"id": WABA_ID, "changes": [{"field": field, "value": value} for value in entry_values]}
            for entry_values in entries
        ],
    }
    return json.dumps(payload).encode()


TEST_APP_SECRET = "test-app-secret"


def signature(raw: bytes, secret=TEST_APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def status(message_id, state, *, recipient="14155550123", timestamp="1751800000", tracker=None, errors=None):
    item = {"id": message_id, "status": state, "timestamp": timestamp, "recipient_id": recipient}
    if tracker is not None:
        item["biz_opaque_callback_data"] = tracker
    if state in ("sent", "delivered"):
        item["conversation"] = {"id": "c0ffee", "origin": {"type": "marketing"}}
        item["pricing"] = {"billable": True, "pricing_model": "PMP", "category": "marketing", "type": "regular"}
    if errors is not None:
        item["errors"] = errors
    return item


def error(code, title, message="", details=""):
    item = {"code": code, "title": title, "message": message or title}
    if details:
        item["error_data"] = {"details": details}
    return item


def statuses_value(*statuses, errors=None):
    value = {"messaging_product": "whatsapp", "metadata": METADATA, "statuses": list(statuses)}
    if errors is not None:
        value["errors"] = errors
    return value


def text_message(sender, text, *, message_id="wamid.IN1", timestamp="1751800100", name="Ana", user_id=None):
    contact = {"profile": {"name": name}, "wa_id": sender}
    if user_id:
        contact["user_id"] = user_id
    return {
        "messaging_product": "whatsapp",
        "metadata": METADATA,
        "contacts": [contact],
        "messages": [
            {"from": sender, "id": message_id, "timestamp": timestamp, "type": "text", "text": {"body": text}}
        ],
    }


def button_message(sender, text, payload, *, message_id="wamid.IN2", context_id="wamid.OUT1"):
    return {
        "messaging_product": "whatsapp",
        "metadata": METADATA,
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": sender}],
        "messages": [
            {
                "context": {"from": "15550001111", "id": context_id},
                "from": sender,
                "id": message_id,
                "timestamp": "1751800200",
                "type": "button",
                "button": {"payload": payload, "text": text},
            }
        ],
    }


def interactive_message(sender, reply_id, title, *, message_id="wamid.IN3"):
    return {
        "messaging_product": "whatsapp",
        "metadata": METADATA,
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": sender}],
        "messages": [
            {
                "from": sender,
                "id": message_id,
                "timestamp": "1751800300",
                "type": "interactive",
                "interactive": {"type": "button_reply", "button_reply": {"id": reply_id, "title": title}},
            }
        ],
    }


def user_preferences_value(wa_id, value, *, timestamp="1751800400"):
    return {
        "messaging_product": "whatsapp",
        "metadata": METADATA,
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": wa_id}],
        "user_preferences": [
            {
                "wa_id": wa_id,
                "detail": "User requested to stop marketing messages" if value == "stop" else "User resumed",
                "category": "marketing_messages",
                "value": value,
                "timestamp": int(timestamp),
            }
        ],
    }
