import pytest

from audiences.phones import (
    InvalidPhoneNumber,
    can_see_phones,
    mask_phone,
    mask_phones_in_json,
    mask_phones_in_text,
    normalize_phone,
    phone_for,
)


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


# --- Masking: what a viewer sees --------------------------------------------


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("+33614000012", "+33 6 •• •• •• 12"),  # grouped as France writes it
        ("33614000012", "+33 6 •• •• •• 12"),  # WhatsApp's wa_id
        ("+14155550123", "+1 4••-•••-••23"),
        ("+447911123456", "+44 7••• ••••56"),
        ("+5511987654321", "+55 1• •••••-••21"),
        ("+999123456789", "+••••••••••89"),  # no such country: only the last two digits
        ("0614000012", "••••••••12"),
        ("", ""),
    ],
)
def test_a_masked_number_keeps_its_country_code_and_last_two_digits(phone, masked):
    assert mask_phone(phone) == masked


def test_numbers_in_free_text_are_masked():
    assert mask_phones_in_text("Sent a test to +33614000012 at 09:00, order 123456789") == (
        "Sent a test to +33 6 •• •• •• 12 at 09:00, order 123456789"
    )


def test_a_webhook_body_keeps_its_shape_and_our_number_and_masks_the_users():
    raw = (
        '{"metadata": {"display_phone_number": "15550001111", "phone_number_id": "100000000000001"},'
        ' "contacts": [{"wa_id": "33614000012"}], "messages": [{"from": "447911123456", "id": "wamid.X1",'
        ' "timestamp": "1751800100", "text": {"body": "or +5511987654321"}}],'
        ' "statuses": [{"recipient_id": "14155550123"}]'  # truncated: not valid JSON, masked all the same
    )
    masked = mask_phones_in_json(raw)
    assert masked == (
        '{"metadata": {"display_phone_number": "15550001111", "phone_number_id": "100000000000001"},'
        ' "contacts": [{"wa_id": "+33 6 •• •• •• 12"}], "messages": [{"from": "+44 7••• ••••56", "id": "wamid.X1",'
        ' "timestamp": "1751800100", "text": {"body": "or +55 1• •••••-••21"}}],'
        ' "statuses": [{"recipient_id": "+1 4••-•••-••23"}]'
    )


def test_who_sees_whole_numbers(db):
    from django.contrib.auth.models import AnonymousUser

    from tests.factories.users import MANAGERS, VIEWERS, UserFactory

    manager, viewer = UserFactory(groups=[MANAGERS]), UserFactory(groups=[VIEWERS])
    superuser = UserFactory(is_superuser=True)
    assert phone_for(manager, "+33614000012") == phone_for(superuser, "+33614000012") == "+33614000012"
    assert phone_for(viewer, "+33614000012") == phone_for(AnonymousUser(), "+33614000012") == "+33 6 •• •• •• 12"
    assert not can_see_phones(None)
