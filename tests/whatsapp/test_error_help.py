"""Every failure the dashboard lists comes with a meaning and the operator's next step (whatsapp/errors.py)."""

import pytest

from whatsapp.errors import (
    LATER_CODES,
    OPT_OUT_CODES,
    PERMANENT_CODES,
    STOP_CAMPAIGN_CODES,
    TRANSIENT_CODES,
    ErrorHelp,
    ErrorKind,
    error_help,
)

ALL_CODES = sorted(TRANSIENT_CODES | LATER_CODES | STOP_CAMPAIGN_CODES | PERMANENT_CODES | OPT_OUT_CODES)


def test_every_code_of_the_table_has_a_meaning_and_an_action():
    helps = {code: error_help(code) for code in ALL_CODES}
    assert all(isinstance(h, ErrorHelp) and h.meaning.strip() and h.action.strip() for h in helps.values())


@pytest.mark.parametrize(
    ("code", "meaning", "action"),
    [
        (131026, "not on WhatsApp", "remove it from the audience"),
        (131047, "24 hours", "approved template"),
        (131049, "healthy ecosystem", "24 hours"),
        (131050, "stop receiving marketing", "unsubscribed automatically"),
        (130429, "throughput", "Retried automatically"),
        (131048, "spam", "quality rating"),
        (132000, "Number of parameters", "Resync templates"),
        (132001, "does not exist", "Resync templates"),
        (132012, "format", "pauses the campaign"),
        (132015, "paused", "resync templates"),
        (132016, "disabled", "new template"),
        (190, "expired", "WHATSAPP_ACCESS_TOKEN"),
        (131031, "locked", "WhatsApp Manager"),
        (368, "policy", "pauses the campaign"),
    ],
)
def test_known_codes_say_what_meta_documents_and_what_to_do(code, meaning, action):
    help_ = error_help(code)
    assert meaning.lower() in help_.meaning.lower()
    assert action.lower() in help_.action.lower()


def test_codes_200_to_299_are_api_permission_errors():
    assert error_help(200) == error_help(250) == error_help(299)
    assert "permission" in error_help(250).meaning.lower()


@pytest.mark.parametrize(
    ("code", "kind_words"),
    [
        (999_999, "not retried"),  # unknown: permanent for the recipient, like classify()
        (132008, "pauses the campaign"),  # in the stop-campaign set, not in the meaning table: its kind's help
    ],
)
def test_unknown_codes_fall_back_to_what_their_kind_does(code, kind_words):
    assert kind_words in error_help(code).action.lower()


def test_a_numeric_string_is_read_as_its_code_and_no_code_has_its_own_help():
    assert error_help("131026") == error_help(131026)
    assert "without an error code" in error_help(None).meaning


def test_every_kind_has_a_fallback():
    from whatsapp.errors import _BY_KIND

    assert set(_BY_KIND) == set(ErrorKind)
