"""Phone numbers in one form: E.164 ("+14155550123").

Operators paste national numbers ("(415) 555-0123"), CSV files bring
international ones ("+44 7911 123456", "0044 ..."), and WhatsApp gives its
wa_id without the "+" ("14155550123"). Every write and every lookup goes
through `normalize_phone`, so the unique phone column means one person.
"""

import re

import phonenumbers
from django.conf import settings

_SEPARATORS = re.compile(r"[\s\-().\u00a0/]")


class InvalidPhoneNumber(ValueError):
    """The text is not a phone number we can message; str() is the reason."""


def normalize_phone(raw: str, region: str | None = None) -> str:
    """Return `raw` in E.164 or raise InvalidPhoneNumber with a human reason.

    A number without "+" is read first as a national number of `region`
    (default settings.PHONE_DEFAULT_REGION), then as an international number
    without its "+" (WhatsApp's wa_id), so "4155550123" and "14155550123"
    (region US) and "447911123456" all resolve.
    """
    text = "" if raw is None else str(raw).strip()
    if not text:
        raise InvalidPhoneNumber("empty phone number")
    region = (region or settings.PHONE_DEFAULT_REGION or "").upper() or None
    compact = _SEPARATORS.sub("", text)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not re.fullmatch(r"\+?\d+", compact):
        raise InvalidPhoneNumber("only digits, spaces, dashes, dots, brackets and a leading + are allowed")
    digits = compact.lstrip("+")
    if not 5 <= len(digits) <= 15:
        raise InvalidPhoneNumber(f"{len(digits)} digits; a phone number has 5 to 15")

    if compact.startswith("+"):
        candidates = [(compact, None)]
    else:
        candidates = [(compact, region), ("+" + compact, None)] if region else [("+" + compact, None)]

    reason = "not a valid phone number"
    for text_to_parse, parse_region in candidates:
        try:
            number = phonenumbers.parse(text_to_parse, parse_region)
        except phonenumbers.NumberParseException as exc:
            reason = _parse_error_reason(exc)
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        reason = _invalid_reason(number, parse_region)
    raise InvalidPhoneNumber(reason)


def _parse_error_reason(exc: phonenumbers.NumberParseException) -> str:
    return {
        phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
        phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
        phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
        phonenumbers.NumberParseException.TOO_LONG: "too long",
    }.get(exc.error_type, "not a phone number")


def _invalid_reason(number: phonenumbers.PhoneNumber, region: str | None) -> str:
    possible = phonenumbers.is_possible_number_with_reason(number)
    where = f" for region {region}" if region else ""
    if possible == phonenumbers.ValidationResult.TOO_SHORT:
        return f"too short{where}"
    if possible == phonenumbers.ValidationResult.TOO_LONG:
        return f"too long{where}"
    if possible == phonenumbers.ValidationResult.INVALID_COUNTRY_CODE:
        return "unknown country code"
    return f"not a valid number{where}"
