"""Phone numbers in one form: E.164 ("+14155550123").

Operators paste national numbers ("(415) 555-0123"), CSV files bring
international ones ("+44 7911 123456", "0044 ..."), and WhatsApp gives its
wa_id without the "+" ("14155550123"). Every write and every lookup goes
through `normalize_phone`, so the unique phone column means one person.
"""

import re

import phonenumbers
from django.conf import settings
from django.utils.translation import gettext as _

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
        raise InvalidPhoneNumber(_("empty phone number"))
    region = (region or settings.PHONE_DEFAULT_REGION or "").upper() or None
    compact = _SEPARATORS.sub("", text)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not re.fullmatch(r"\+?\d+", compact):
        raise InvalidPhoneNumber(_("only digits, spaces, dashes, dots, brackets and a leading + are allowed"))
    digits = compact.lstrip("+")
    if not 5 <= len(digits) <= 15:
        raise InvalidPhoneNumber(_("%(count)s digits; a phone number has 5 to 15") % {"count": len(digits)})

    if compact.startswith("+"):
        candidates = [(compact, None)]
    else:
        candidates = [(compact, region), ("+" + compact, None)] if region else [("+" + compact, None)]

    reason = _("not a valid phone number")
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
        phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: _("unknown country code"),
        phonenumbers.NumberParseException.TOO_SHORT_NSN: _("too short"),
        phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: _("too short"),
        phonenumbers.NumberParseException.TOO_LONG: _("too long"),
    }.get(exc.error_type, _("not a phone number"))


def _invalid_reason(number: phonenumbers.PhoneNumber, region: str | None) -> str:
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible == phonenumbers.ValidationResult.INVALID_COUNTRY_CODE:
        return _("unknown country code")
    if possible == phonenumbers.ValidationResult.TOO_SHORT:
        reason = _("too short for region %(region)s") if region else _("too short")
    elif possible == phonenumbers.ValidationResult.TOO_LONG:
        reason = _("too long for region %(region)s") if region else _("too long")
    else:
        reason = _("not a valid number for region %(region)s") if region else _("not a valid number")
    return reason % {"region": region} if region else reason


# --- Showing numbers to people who may not see them ----------------------------
# Viewers (the read-only role) see a number as its country code, its first
# national digit and its last two digits, grouped as the country writes it:
# "+33 6 •• •• •• 12". Enough to tell two contacts apart or recognise one you
# already know; not enough to message anybody.

VIEW_PHONES_PERMISSION = "audiences.view_phone_numbers"
MASK = "\u2022"  # •

# A number written with its "+" inside free text (an error message, a log line, a typed reply).
_PHONE_IN_TEXT = re.compile(r"\+\d(?:[ \-.()\u00a0]?\d){6,16}")
# WhatsApp's JSON carries the user's number without "+" under these keys;
# display_phone_number (our own business number) is left as it is.
_PHONE_KEYS = ("wa_id", "from", "recipient_id", "to", "input")
_JSON_PHONES = re.compile(
    r'(?P<ours>"display_phone_number"\s*:\s*"[^"\\]*")'
    r'|(?P<key>"(?:' + "|".join(_PHONE_KEYS) + r')"\s*:\s*")(?P<value>[^"\\]*)(?=")'
    r"|(?P<text>" + _PHONE_IN_TEXT.pattern + r")"
)


def mask_phone(phone: str | None) -> str:
    """The number with every digit but the country code, the first national digit and the last two hidden.

    E.164 and WhatsApp's wa_id (no "+") are grouped as the number's country
    writes them; anything that does not parse keeps only its last two digits.
    """
    text = "" if phone is None else str(phone).strip()
    if not text:
        return ""
    digits = re.sub(r"\D", "", text)
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not digits:
        return _mask_digits(text, keep_first=0)
    formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    prefix = f"+{number.country_code}"
    if not formatted.startswith(prefix):
        return _mask_digits(text, keep_first=0)
    return prefix + _mask_digits(formatted[len(prefix) :], keep_first=1)


def _mask_digits(text: str, *, keep_first: int) -> str:
    positions = [i for i, char in enumerate(text) if char.isdigit()]
    hidden = set(positions[keep_first : max(keep_first, len(positions) - 2)])
    return "".join(MASK if i in hidden else char for i, char in enumerate(text))


def mask_phones_in_text(text: str) -> str:
    """Free text with every "+"-prefixed number in it masked (error messages, admin history, replies)."""
    return _PHONE_IN_TEXT.sub(lambda match: mask_phone(match.group(0)), text or "")


def mask_phones_in_json(text: str) -> str:
    """A webhook body as received, the users' numbers masked; the formatting, and our own number, kept.

    Works on the text, not on parsed JSON, so a body that is not valid JSON
    is masked too and the evidence keeps its exact shape.
    """

    def replace(match: re.Match) -> str:
        if match.group("ours"):
            return match.group("ours")
        if match.group("key"):
            return match.group("key") + mask_phone(match.group("value"))
        return mask_phone(match.group("text"))

    return _JSON_PHONES.sub(replace, text or "")


def can_see_phones(user) -> bool:
    """Whether `user` sees whole numbers: managers and superusers do, viewers do not."""
    return bool(user is not None and user.has_perm(VIEW_PHONES_PERMISSION))


def phone_for(user, phone: str | None) -> str:
    """`phone` as `user` may see it."""
    return (phone or "") if can_see_phones(user) else mask_phone(phone)
