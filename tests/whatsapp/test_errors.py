"""The error table (docs/architecture.md, "Errors"): decided by code, never by title; 5xx with no code is transient."""

import pytest

from whatsapp.errors import ErrorKind, WhatsAppError, classify, format_reason


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        *[(c, ErrorKind.TRANSIENT) for c in (130429, 131056, 4, 80007, 131000, 131016, 131057)],
        (131049, ErrorKind.LATER),
        *[(c, ErrorKind.STOP_CAMPAIGN) for c in (131048, 131031, 368, 131042, 190, 0, 3, 10, 200, 250, 299, 132000,
                                                  132001, 132008, 132012, 132015, 132016, 131063, 131064)],
        *[(c, ErrorKind.PERMANENT) for c in (131026, 131047, 130472, 131030, 131021, 137000)],
        (131050, ErrorKind.OPT_OUT),
    ],
)  # fmt: skip
def test_every_code_of_the_table(code, kind):
    assert classify(code) == kind
    assert classify(code, 500) == kind  # a known code wins over the HTTP status


def test_unknown_codes_by_http_status():
    assert classify(None, 503) == ErrorKind.TRANSIENT
    assert classify(999999, 502) == ErrorKind.TRANSIENT
    assert classify(999999, 400) == ErrorKind.PERMANENT


def test_reason_format():
    assert format_reason(131026, "Message undeliverable", "Undeliverable", "x") == (
        "Error 131026: Message undeliverable - Undeliverable (x)"
    )
    error = WhatsAppError.from_response_body(
        {"error": {"message": "(#131030) Recipient phone number not in allowed list", "type": "OAuthException",
                   "code": 131030, "error_data": {"details": "Recipient not in list"}}}, 400)  # fmt: skip
    assert error.reason == (
        "Error 131030: Recipient phone number not in allowed list - "
        "(#131030) Recipient phone number not in allowed list (Recipient not in list)"
    )
    assert error.kind == ErrorKind.PERMANENT
