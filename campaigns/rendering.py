"""Per-recipient template parameters, resolved at send time from the contact.

A campaign's parameters are strings with placeholders: `{{contact.first_name}}`,
`{{contact.name}}`, `{{contact.phone}}`, `{{contact.language}}`,
`{{contact.attributes.city}}`; `{{contact.first_name|there}}` falls back to
"there" when the value is empty. Anything else is literal text.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext as _

PLACEHOLDER = re.compile(r"\{\{\s*contact\.([\w.]+)\s*(?:\|([^}]*))?\}\}")
CONTACT_FIELDS = frozenset({"first_name", "name", "phone", "language"})


def _lookup(contact, path: str) -> str:
    head, _, rest = path.partition(".")
    if head == "attributes":
        value = (getattr(contact, "attributes", None) or {}) if contact is not None else {}
        for key in rest.split(".") if rest else []:
            value = value.get(key) if isinstance(value, dict) else None
        return "" if value is None or isinstance(value, dict) else str(value)
    if head in CONTACT_FIELDS and not rest and contact is not None:
        return str(getattr(contact, head, "") or "")
    return ""


def resolve_parameter(value: str, contact) -> str:
    def substitute(match: re.Match) -> str:
        resolved = _lookup(contact, match.group(1))
        return resolved if resolved else (match.group(2) or "").strip()

    return PLACEHOLDER.sub(substitute, str(value))


def resolve_parameters(parameters: list[str], contact) -> list[str]:
    return [resolve_parameter(value, contact) for value in parameters or []]


def url_buttons(template) -> list[tuple[int, dict]]:
    """(index among the template's buttons, button) of each URL button whose URL has a variable suffix."""
    from whatsapp.models import PLACEHOLDER as TEMPLATE_PLACEHOLDER

    buttons = (template.component("BUTTONS") or {}).get("buttons") or []
    return [
        (index, button)
        for index, button in enumerate(buttons)
        if str(button.get("type", "")).upper() == "URL" and TEMPLATE_PLACEHOLDER.search(str(button.get("url") or ""))
    ]


def parameter_problems(*, template, parameters: list, header_parameters: list, button_parameters=()) -> list[str]:
    """What is wrong with the campaign's parameter counts for the template (activation refuses them)."""
    problems = []
    buttons_expected = len(url_buttons(template))
    buttons_given = len(button_parameters or [])
    if buttons_given != buttons_expected:
        problems.append(
            _("Template %(template)s takes %(expected)s URL button suffix(es); the campaign has %(given)s.")
            % {"template": template, "expected": buttons_expected, "given": buttons_given}
        )
    header_expected = template.header_parameter_count()
    header_given = len(header_parameters or [])
    if header_given != header_expected:
        problems.append(
            _("Template %(template)s takes %(expected)s header parameter(s); the campaign has %(given)s.")
            % {"template": template, "expected": header_expected, "given": header_given}
        )
    expected = template.body_parameter_count()
    given = len(parameters or [])
    if given != expected:
        problems.append(
            _("Template %(template)s takes %(expected)s body parameter(s); the campaign has %(given)s.")
            % {"template": template, "expected": expected, "given": given}
        )
    return problems


def build_components(
    *,
    template,
    parameters: list[str],
    header_media_url: str,
    contact,
    header_parameters: list[str] = (),
    button_parameters: list[str] = (),
) -> list[dict]:
    """The Cloud API `components` of one message: the header (media or text parameters), the body's, URL buttons'."""
    components: list[dict] = []
    header_format = getattr(template, "header_format", "") or ""
    header_values = resolve_parameters(list(header_parameters), contact)
    if header_values and header_format == "TEXT":
        components.append({"type": "header", "parameters": [{"type": "text", "text": v} for v in header_values]})
    elif header_media_url and header_format in {"IMAGE", "VIDEO", "DOCUMENT"}:
        media_type = header_format.lower()
        components.append(
            {"type": "header", "parameters": [{"type": media_type, media_type: {"link": header_media_url}}]}
        )
    values = resolve_parameters(parameters, contact)
    if values:
        components.append({"type": "body", "parameters": [{"type": "text", "text": value} for value in values]})
    suffixes = resolve_parameters(list(button_parameters), contact)
    for (index, _button), suffix in zip(url_buttons(template), suffixes, strict=False):
        components.append(
            {"type": "button", "sub_type": "url", "index": str(index), "parameters": [{"type": "text", "text": suffix}]}
        )
    return components
