"""The template's placeholders as form fields: one per placeholder, each "what goes there" plus a text.

A template's placeholders ("slots") are its text header's {{1}}..., its
body's, and the variable suffix of each URL button. The campaign stores one
value per slot in `header_parameters`, `parameters` and `button_parameters`,
in the format campaigns/rendering.py resolves (`create_campaign --param`
writes the same):

    source "first_name", text "there"  <->  "{{contact.first_name|there}}"
    source "attributes.city", text ""  <->  "{{contact.attributes.city}}"
    source "" (free text), text "20%"  <->  "20%"

With a contact source the text is the default used when the contact has no
value (WhatsApp refuses empty parameters); with free text it is the value
itself, which may still hold placeholders (as the command line writes them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django import forms
from django.utils.translation import gettext_lazy as _

from audiences.models import Audience, Contact
from audiences.selectors import audience_contacts
from campaigns.rendering import url_buttons
from whatsapp.models import PLACEHOLDER as TEMPLATE_PLACEHOLDER

# One whole value that is a single contact placeholder, with its optional default.
WHOLE = re.compile(r"^\{\{\s*contact\.([\w.]+)\s*(?:\|([^}]*))?\}\}$")
KINDS = ("header", "body", "button")
CONTACT_SOURCES = [
    ("first_name", _("First name")),
    ("name", _("Full name")),
    ("phone", _("Phone")),
    ("language", _("Language")),
]
SOURCE = r"^(first_name|name|phone|language|attributes\.\w+(\.\w+)*)$"
ATTRIBUTE_SAMPLE = 2000  # contacts whose attribute keys are offered (the most recent ones)


@dataclass(frozen=True)
class Slot:
    kind: str  # header, body or button
    number: int  # 1-based within its kind
    label: str  # "Body {{2}}"
    context: str  # the template text around it, for the operator to recognise it
    example: str  # the template's example value, if it has one

    @property
    def name(self) -> str:
        return f"{self.kind}_{self.number}"


def template_slots(template) -> list[Slot]:
    """Every placeholder the campaign must fill for `template`, in the order they are stored."""
    if template is None:
        return []
    slots: list[Slot] = []
    if template.header_format == "TEXT":
        header = template.component("HEADER") or {}
        examples = (header.get("example") or {}).get("header_text") or []
        slots += _text_slots("header", _("Header"), str(header.get("text") or ""), examples)
    body = template.component("BODY") or {}
    body_examples = ((body.get("example") or {}).get("body_text") or [[]])[0] or []
    slots += _text_slots("body", _("Body"), str(body.get("text") or ""), body_examples)
    for number, (_index, button) in enumerate(url_buttons(template), start=1):
        url = str(button.get("url") or "")
        examples = button.get("example") or []
        slots.append(
            Slot(
                "button",
                number,
                _("Button “%(text)s”, end of the link") % {"text": button.get("text", "")},
                url,
                str(examples[0]) if examples else "",
            )
        )
    return slots


def _text_slots(kind: str, part: str, text: str, examples: list) -> list[Slot]:
    names = list(dict.fromkeys(match.group(1) for match in TEMPLATE_PLACEHOLDER.finditer(text)))
    slots = []
    for number, name in enumerate(names, start=1):
        match = next(m for m in TEMPLATE_PLACEHOLDER.finditer(text) if m.group(1) == name)
        start, end = max(0, match.start() - 40), min(len(text), match.end() + 40)
        context = ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")
        example = str(examples[number - 1]) if number - 1 < len(examples) else ""
        slots.append(Slot(kind, number, f"{part} {{{{{name}}}}}", context, example))
    return slots


def compose(source: str, text: str) -> str:
    """The stored value of a slot: a contact placeholder (with `text` as its default) or the free text."""
    text = (text or "").strip()
    if not source:
        return text
    return f"{{{{contact.{source}|{text}}}}}" if text else f"{{{{contact.{source}}}}}"


def decompose(value: str) -> tuple[str, str]:
    """(source, text) of a stored value; anything but one whole placeholder is free text."""
    match = WHOLE.match(str(value or "").strip())
    if match is None:
        return "", str(value or "")
    return match.group(1), (match.group(2) or "").strip()


def attribute_keys(*, audience: Audience | None = None) -> list[str]:
    """The attribute keys found in the data: the audience's (else everyone's) most recent contacts.

    A sample, so a form never scans a million contacts; nested objects are
    offered by their leaves ("address.city").
    """
    contacts = audience_contacts(audience=audience) if audience is not None else Contact.objects.all()
    keys: set[str] = set()
    for attributes in contacts.order_by("-pk").values_list("attributes", flat=True)[:ATTRIBUTE_SAMPLE]:
        _collect(attributes, "", keys)
    return sorted(keys, key=str.lower)


def _collect(value, prefix: str, keys: set[str]) -> None:
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        if not re.fullmatch(r"\w+", str(key)):
            continue  # not reachable by a placeholder ({{contact.attributes.<word>}})
        if isinstance(item, dict):
            _collect(item, f"{prefix}{key}.", keys)
        else:
            keys.add(f"{prefix}{key}")


def source_choices(keys: list[str], current: list[str] = ()) -> list:
    """The picker's options: free text, the contact's fields, then each attribute key (and any stored one)."""
    attributes = list(dict.fromkeys([*keys, *(c.removeprefix("attributes.") for c in current if c)]))
    contact = {name for name, _label in CONTACT_SOURCES}
    attributes = [key for key in attributes if key not in contact]
    choices = [("", _("Text: the same for everyone")), (_("Contact"), CONTACT_SOURCES)]
    if attributes:
        choices.append((_("Contact attribute"), [(f"attributes.{key}", key) for key in attributes]))
    return choices


class SlotWidget(forms.MultiWidget):
    template_name = "admin/campaigns/campaign/slot_widget.html"

    def __init__(self, choices, attrs=None):
        widgets = [
            forms.Select(choices=choices, attrs={"class": "slot-source"}),
            forms.TextInput(attrs={"class": "slot-text vTextField"}),
        ]
        super().__init__(widgets, attrs)

    def decompress(self, value):
        return list(decompose(value)) if value else ["", ""]


class SlotField(forms.MultiValueField):
    """One placeholder: its source (picker) and its text (default or value); cleans to the stored string."""

    def __init__(self, *, slot: Slot, choices, **kwargs):
        self.slot = slot
        # Any contact field or attribute key, not only those offered: the offer is a sample of the data.
        source = forms.RegexField(regex=SOURCE, required=False, error_messages={"invalid": _("Unknown field.")})
        fields = [source, forms.CharField(required=False)]
        super().__init__(fields, require_all_fields=False, required=False, widget=SlotWidget(choices), **kwargs)

    def compress(self, data_list):
        source, text = (list(data_list) + ["", ""])[:2] if data_list else ("", "")
        if "}" in (text or "") and source:
            raise forms.ValidationError(_("A default cannot contain “}”."))
        return compose(source or "", text or "")


def slot_fields(template, *, values: dict[str, list[str]], keys: list[str]) -> dict[str, SlotField]:
    """The form fields of `template`'s slots, initialised from the stored `values` (kind -> list)."""
    fields = {}
    for slot in template_slots(template):
        stored = values.get(slot.kind) or []
        initial = stored[slot.number - 1] if slot.number - 1 < len(stored) else ""
        source, _text = decompose(initial)
        field = SlotField(
            slot=slot,
            choices=source_choices(keys, [source] if source.startswith("attributes.") else []),
            label=slot.label,
            initial=initial,
            help_text=slot.context,
        )
        fields[slot.name] = field
    return fields


def values_from(template, data, *, prefix: str = "") -> dict[str, list[str]]:
    """kind -> stored values, composed from submitted slot sub-fields (<kind>_<n>_0 source, _1 text)."""
    values: dict[str, list[str]] = {kind: [] for kind in KINDS}
    for slot in template_slots(template):
        name = prefix + slot.name
        values[slot.kind].append(compose(data.get(f"{name}_0", ""), data.get(f"{name}_1", "")))
    return values
