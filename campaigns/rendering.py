"""Per-recipient template parameters, resolved at send time from the contact.

A campaign's parameters are strings with placeholders: `{{contact.first_name}}`,
`{{contact.name}}`, `{{contact.phone}}`, `{{contact.language}}`,
`{{contact.attributes.city}}`; `{{contact.first_name|there}}` falls back to
"there" when the value is empty. `{{link}}` is the recipient's tracked link
(campaigns/links.py): the whole link in the body or header, its token in
a URL button's suffix (the template's button URL ends in /r/{{1}}). Anything
else is literal text.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext as _

PLACEHOLDER = re.compile(r"\{\{\s*contact\.([\w.]+)\s*(?:\|([^}]*))?\}\}")
CONTACT_FIELDS = frozenset({"first_name", "name", "phone", "language"})
LINK = re.compile(r"\{\{\s*link\s*\}\}")


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


def resolve_parameter(value: str, contact, link: str | None = None) -> str:
    """`value` with the contact's placeholders filled, and {{link}} when `link` is given (else left as is)."""

    def substitute(match: re.Match) -> str:
        resolved = _lookup(contact, match.group(1))
        return resolved if resolved else (match.group(2) or "").strip()

    text = PLACEHOLDER.sub(substitute, str(value))
    return LINK.sub(lambda _match: link, text) if link is not None else text


def resolve_parameters(parameters: list[str], contact, link: str | None = None) -> list[str]:
    return [resolve_parameter(value, contact, link) for value in parameters or []]


def uses_link(*values) -> bool:
    """Whether any of the parameter lists holds {{link}}."""
    return any(LINK.search(str(value)) for values_ in values for value in values_ or [])


def url_buttons(template) -> list[tuple[int, dict]]:
    """(index among the template's buttons, button) of each URL button whose URL has a variable suffix."""
    from whatsapp.models import PLACEHOLDER as TEMPLATE_PLACEHOLDER

    buttons = (template.component("BUTTONS") or {}).get("buttons") or []
    return [
        (index, button)
        for index, button in enumerate(buttons)
        if str(button.get("type", "")).upper() == "URL" and TEMPLATE_PLACEHOLDER.search(str(button.get("url") or ""))
    ]


def parameter_problems(
    *, template, parameters: list, header_parameters: list, button_parameters=(), link_url: str = ""
) -> list[str]:
    """What is wrong with the campaign's parameter counts for the template (activation refuses them).

    With a tracked link (`link_url`), URL buttons without a stored suffix get the recipient's token.
    """
    problems = []
    buttons_expected = len(url_buttons(template))
    buttons_given = len(button_parameters or [])
    if link_url and buttons_given < buttons_expected:
        buttons_given = buttons_expected
    if uses_link(parameters, header_parameters, button_parameters) and not link_url:
        problems.append(_("{{link}} is used but the campaign has no link destination: set one."))
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
    link_token: str | None = None,
) -> list[dict]:
    """The Cloud API `components` of one message: the header (media or text parameters), the body's, URL buttons'.

    With `link_token` (a campaign with a tracked link), {{link}} is the tracked
    link in the header and body and the token in a button's suffix; a URL
    button without a stored suffix gets the token.
    """
    from campaigns.links import tracked_link

    link = tracked_link(link_token) if link_token else None
    components: list[dict] = []
    header_format = getattr(template, "header_format", "") or ""
    header_values = resolve_parameters(list(header_parameters), contact, link)
    if header_values and header_format == "TEXT":
        components.append({"type": "header", "parameters": [{"type": "text", "text": v} for v in header_values]})
    elif header_media_url and header_format in {"IMAGE", "VIDEO", "DOCUMENT"}:
        media_type = header_format.lower()
        components.append(
            {"type": "header", "parameters": [{"type": media_type, media_type: {"link": header_media_url}}]}
        )
    values = resolve_parameters(parameters, contact, link)
    if values:
        components.append({"type": "body", "parameters": [{"type": "text", "text": value} for value in values]})
    buttons = url_buttons(template)
    stored = list(button_parameters)
    if link_token:
        stored = [value or "{{link}}" for value in stored] + ["{{link}}"] * (len(buttons) - len(stored))
    suffixes = resolve_parameters(stored, contact, link_token)
    for (index, _button), suffix in zip(buttons, suffixes, strict=False):
        components.append(
            {"type": "button", "sub_type": "url", "index": str(index), "parameters": [{"type": "text", "text": suffix}]}
        )
    return components
