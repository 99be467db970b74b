"""The campaign form's message preview: the template as one contact will see it on the phone.

`template_preview` is pure (no queries): header, body, footer and buttons with
the campaign's parameters resolved for the contact (campaigns/rendering.py),
then the template's {{1}}... filled (a placeholder left without a value stays
visible), and the problems to fix before activating. `preview_contact` picks
the sample: the audience's first subscribed contact, else "Alex Sample".
`campaign_preview_view` is the admin endpoint the form's preview.js calls with
the form's current values; the change page renders the saved campaign's
preview on load, so it is there without JavaScript too.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field

from django import forms
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.template.loader import render_to_string
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from audiences.models import Audience, Contact
from audiences.phones import mask_phone
from audiences.selectors import audience_contacts
from campaigns.placeholders import values_from
from campaigns.rendering import parameter_problems, resolve_parameters
from whatsapp.models import PLACEHOLDER, MessageTemplate, fill_placeholders

MEDIA_FORMATS = frozenset({"IMAGE", "VIDEO", "DOCUMENT"})


def _marker(mark: str) -> re.Pattern:
    """WhatsApp's inline formatting: the mark hugs the text and does not touch a word on the outside."""
    m = re.escape(mark)
    return re.compile(rf"(?<![\w{m}]){m}(?=\S)([^\n]*?\S){m}(?![\w{m}])")


FORMATTING = [(re.compile(r"```(.+?)```", re.DOTALL), "code")] + [
    (_marker(mark), tag) for mark, tag in (("*", "strong"), ("_", "em"), ("~", "s"))
]
SAMPLE_NAME = "Alex Sample"


@dataclass(frozen=True)
class Button:
    kind: str  # QUICK_REPLY, URL, PHONE_NUMBER, or the template's other type
    text: str
    target: str = ""  # the URL or phone number a button opens


@dataclass(frozen=True)
class Preview:
    contact: str  # whose values fill the parameters
    header_text: str = ""
    header_media: str = ""  # "image", "video" or "document"
    header_media_url: str = ""
    body: str = ""
    footer: str = ""
    buttons: list[Button] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def body_html(self) -> SafeString:
        """The body as the phone shows it, escaped.

        WhatsApp's *bold*, _italic_, ~strike~ and ```monospace``` applied, line
        breaks kept, each placeholder left unfilled ({{2}}) marked.
        """
        html = escape(self.body)
        for pattern, tag in FORMATTING:
            html = pattern.sub(rf"<{tag}>\1</{tag}>", html)
        html = PLACEHOLDER.sub(lambda m: f'<mark class="wa-missing">{m.group(0)}</mark>', html)
        return mark_safe(html.replace("\n", "<br>"))  # noqa: S308 (escaped first; only our own tags added)

    def as_dict(self) -> dict:
        return asdict(self)


def template_preview(
    *,
    template: MessageTemplate,
    parameters: list,
    header_parameters: list,
    header_media_url: str,
    contact,
    button_parameters: list = (),
    link_url: str = "",
) -> Preview:
    """The message `contact` would receive, with what would make the send fail or look wrong.

    With a tracked link (`link_url`), {{link}} shows a sample tracked link and
    URL buttons without a stored suffix end in a sample token.
    """
    from campaigns.links import SAMPLE_TOKEN, link_problems, tracked_link

    warnings = []
    if not template.is_approved:
        warnings.append(
            _("Template %(template)s is %(status)s: it cannot be sent.")
            % {"template": template, "status": template.status}
        )
    warnings += parameter_problems(
        template=template,
        parameters=parameters,
        header_parameters=header_parameters,
        button_parameters=button_parameters,
        link_url=link_url,
    )
    warnings += link_problems(link_url=link_url)
    link = tracked_link(SAMPLE_TOKEN) if link_url else None
    if link_url:
        button_parameters = [value or "{{link}}" for value in button_parameters] + ["{{link}}"] * 4
    header_values = resolve_parameters(header_parameters, contact, link)
    button_values = iter(resolve_parameters(list(button_parameters), contact, SAMPLE_TOKEN if link_url else None))
    body_values = resolve_parameters(parameters, contact, link)
    warnings += _empty_values(_("Header"), header_values) + _empty_values(_("Body"), body_values)

    header = template.component("HEADER") or {}
    header_format = template.header_format
    header_text = media = ""
    if header_format == "TEXT":
        header_text = fill_placeholders(str(header.get("text") or ""), header_values)
    elif header_format in MEDIA_FORMATS:
        media = header_format.lower()
        if not header_media_url:
            warnings.append(
                {
                    "image": _("The template's header is an image: set its media URL."),
                    "video": _("The template's header is a video: set its media URL."),
                }.get(media, _("The template's header is a document: set its media URL."))
            )

    buttons = []
    for button in (template.component("BUTTONS") or {}).get("buttons") or []:
        kind = str(button.get("type", "")).upper()
        target = str(button.get("url") or button.get("phone_number") or "")
        if kind == "URL" and PLACEHOLDER.search(target):
            suffix = next(button_values, "")
            if suffix:
                target = fill_placeholders(target, [suffix])
            else:
                warnings.append(
                    _('The button "%(button)s" needs the end of its link (%(target)s).')
                    % {"button": button.get("text", ""), "target": target}
                )
        buttons.append(Button(kind=kind, text=str(button.get("text") or kind.replace("_", " ").lower()), target=target))

    return Preview(
        contact=_describe(contact),
        header_text=header_text,
        header_media=media,
        header_media_url=header_media_url if media else "",
        body=fill_placeholders(str((template.component("BODY") or {}).get("text") or ""), body_values),
        footer=str((template.component("FOOTER") or {}).get("text") or ""),
        buttons=buttons,
        warnings=warnings,
    )


def _empty_values(part: str, values: list[str]) -> list[str]:
    return [
        _(
            "%(part)s parameter {{%(number)s}} is empty for this contact, and WhatsApp refuses empty parameters: "
            "give it a default, e.g. {{contact.first_name|there}}."
        )
        % {"part": part, "number": n}
        for n, value in enumerate(values, start=1)
        if not value.strip()
    ]


def _describe(contact) -> str:
    if contact.pk is None:
        return _("%(name)s, a placeholder (no audience chosen, or none of its contacts subscribed)") % {
            "name": contact.name
        }
    return _("%(name)s, the audience's first subscribed contact") % {"name": contact.name or contact.phone}


def preview_contact(*, audience: Audience | None) -> Contact:
    """The audience's first subscribed contact (by id), else an unsaved placeholder "Alex Sample"."""
    contact = audience_contacts(audience=audience).order_by("pk").first() if audience is not None else None
    if contact is not None:
        # Whoever looks at the form (viewers too) sees the sample's number masked, in `{{contact.phone}}` as well;
        # the instance only feeds the preview and is never saved.
        contact.phone = mask_phone(contact.phone)
    return contact or Contact(
        name=SAMPLE_NAME,
        first_name=SAMPLE_NAME.split()[0],
        phone="+14155550100",
        language=settings.CONTACT_DEFAULT_LANGUAGE,
        attributes={},
    )


def campaign_preview(*, campaign) -> Preview:
    """The saved campaign's message, for its change page."""
    return template_preview(
        template=campaign.template,
        parameters=campaign.parameters,
        header_parameters=campaign.header_parameters,
        button_parameters=campaign.button_parameters,
        header_media_url=campaign.header_media_url,
        contact=preview_contact(audience=campaign.audience),
        link_url=campaign.link_url,
    )


def render_preview_html(preview: Preview) -> str:
    return render_to_string("admin/campaigns/campaign/preview_bubble.html", {"preview": preview})


# --- The admin endpoint ---------------------------------------------------------------------


class PreviewInputError(ValueError):
    """A form value the preview cannot use; the message says which and why (a 400)."""


def campaign_preview_view(request, *, model_admin):
    """GET template, audience, the placeholders, header_media_url -> the preview as JSON.

    The placeholders come as the form's own fields (<kind>_<n>_0 the source,
    <kind>_<n>_1 the text; campaigns/placeholders.py), or, from other callers,
    as JSON lists `parameters` / `header_parameters` / `button_parameters`.
    For whoever may add or change campaigns; bad values are a 400 with a message.
    """
    if not (model_admin.has_add_permission(request) or model_admin.has_change_permission(request)):
        raise PermissionDenied
    try:
        template = _object(MessageTemplate, request.GET.get("template"), "template", required=True)
        audience = _object(Audience, request.GET.get("audience"), "audience", required=False)
        if "parameters" in request.GET or "header_parameters" in request.GET:
            values = {
                "body": _list(request.GET.get("parameters"), "parameters"),
                "header": _list(request.GET.get("header_parameters"), "header parameters"),
                "button": _list(request.GET.get("button_parameters"), "button parameters"),
            }
        else:
            values = values_from(template, request.GET)
    except PreviewInputError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    preview = template_preview(
        template=template,
        parameters=values["body"],
        header_parameters=values["header"],
        button_parameters=values["button"],
        header_media_url=(request.GET.get("header_media_url") or "").strip(),
        contact=preview_contact(audience=audience),
        link_url=(request.GET.get("link_url") or "").strip(),
    )
    return JsonResponse({"preview": preview.as_dict(), "html": render_preview_html(preview)})


def campaign_placeholders_view(request, *, model_admin):
    """GET template (audience, current values) -> {"html": the template's placeholder fields, "count": n}.

    The campaign form's script calls it when the template changes; values of
    the previous template's fields are kept where the new one has the same
    placeholder (same kind and number).
    """
    from campaigns.placeholders import attribute_keys, slot_fields

    if not (model_admin.has_add_permission(request) or model_admin.has_change_permission(request)):
        raise PermissionDenied
    try:
        template = _object(MessageTemplate, request.GET.get("template"), "template", required=False)
        audience = _object(Audience, request.GET.get("audience"), "audience", required=False)
    except PreviewInputError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    if template is None:
        return JsonResponse({"html": render_to_string("admin/campaigns/campaign/placeholders.html", {}), "count": 0})
    fields = slot_fields(template, values=values_from(template, request.GET), keys=attribute_keys(audience=audience))
    form = forms.Form()
    form.fields.update(fields)
    slots = [form[name] for name in fields]
    html = render_to_string("admin/campaigns/campaign/placeholders.html", {"slots": slots, "template": template})
    return JsonResponse({"html": html, "count": len(slots)})


def _object(model, value: str | None, label: str, *, required: bool):
    if not value:
        if required:
            raise PreviewInputError(f"Choose a {label}.")
        return None
    try:
        return model.objects.get(pk=int(value))
    except (ValueError, model.DoesNotExist) as exc:
        raise PreviewInputError(f"No {label} {value!r}.") from exc


def _list(value: str | None, label: str) -> list[str]:
    """A JSON list of texts (or numbers), as the form's JSON fields hold; blank is an empty list."""
    if not value or not value.strip():
        return []
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise PreviewInputError(f"The {label} are not valid JSON: {exc.msg} (line {exc.lineno}).") from exc
    if not isinstance(parsed, list) or any(isinstance(item, dict | list | bool) or item is None for item in parsed):
        raise PreviewInputError(f'The {label} must be a JSON list of texts, e.g. ["{{{{contact.first_name}}}}"].')
    return [str(item) for item in parsed]
