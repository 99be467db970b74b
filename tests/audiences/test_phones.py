import pytest

from audiences.phones import InvalidPhoneNumber, normalize_phone


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+14155550123", None, "+14155550123"),  # international
        ("+1 (415) 555-0123", None, "+14155550123"),
        ("(415) 555-0123", "US", "+14155550123"),  # national, default region
        ("415.555.0123", None, "+14155550123"),
        ("14155550123", None, "+14155550123"),  # WhatsApp wa_id, no "+"
        ("447911123456", None, "+447911123456"),  # wa_id of another country
        ("5511987654321", None, "+5511987654321"),
        ("0044 7911 123456", None, "+447911123456"),  # 00 international prefix
        ("07911 123456", "GB", "+447911123456"),  # national of another region
        ("06 12 34 56 78", "FR", "+33612345678"),
        (" +33 6 12 34 56 78 ", None, "+33612345678"),
    ],
)
def test_national_international_and_plusless_numbers_normalise_to_e164(raw, region, expected):
    assert normalize_phone(raw, region) == expected


def test_default_region_comes_from_settings(settings):
    settings.PHONE_DEFAULT_REGION = "GB"
    assert normalize_phone("07911 123456") == "+447911123456"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (None, "empty"),
        ("12ab", "only digits"),
        ("123", "3 digits"),
        ("+999123456789", "country code"),
        ("+1415555012", "too short"),
        ("+10005550123", "not a valid"),
    ],
)
def test_invalid_numbers_raise_with_a_reason(raw, reason):
    with pytest.raises(InvalidPhoneNumber, match=reason):
        normalize_phone(raw)


def test_invalid_phone_number_is_a_value_error():
    assert issubclass(InvalidPhoneNumber, ValueError)
