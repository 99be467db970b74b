"""The campaign form: the template's placeholders as fields (campaigns/placeholders.py), no JSON to type."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy
from django.utils.translation import gettext_lazy as _

from audiences.models import Audience
from campaigns.models import Campaign
from campaigns.placeholders import KINDS, attribute_keys, slot_fields
from whatsapp.models import MessageTemplate

STORED = {"header": "header_parameters", "body": "parameters", "button": "button_parameters"}


class CampaignForm(forms.ModelForm):
    """A ModelForm plus one SlotField per placeholder of the chosen template.

    The slot fields are built from the template in the submitted data (or the
    saved one), so changing the template and saving, or the page's script
    fetching the new template's fields, both give the right fields. On clean,
    they become the campaign's `header_parameters`, `parameters` and
    `button_parameters`.
    """

    header_media_url = forms.URLField(
        required=False,
        assume_scheme="https",
        label=gettext_lazy("Header media URL"),
        help_text=gettext_lazy("For templates with an image, video or document header."),
    )

    link_url = forms.CharField(
        required=False,
        max_length=2000,
        label=gettext_lazy("Link destination"),
        help_text=Campaign._meta.get_field("link_url").help_text,
        widget=forms.TextInput(
            attrs={"class": "vURLField", "placeholder": "https://shop.example/sale?utm_source=whatsapp"}
        ),
    )

    class Meta:
        model = Campaign
        fields = (
            "name",
            "template",
            "audience",
            "header_media_url",
            "link_url",
            "priority",
            "start_at",
            "end_at",
            "daily_cap",
            "budget",
            "skip_reached_by_source",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.message_template = self._chosen(MessageTemplate, "template")
        audience = self._chosen(Audience, "audience")
        stored = {kind: list(getattr(self.instance, STORED[kind], None) or []) for kind in KINDS}
        self.slot_names = []
        if self.message_template is not None:
            keys = attribute_keys(audience=audience)
            for name, field in slot_fields(self.message_template, values=stored, keys=keys).items():
                self.fields[name] = field
                self.slot_names.append(name)

    def _chosen(self, model, name: str):
        """The template / audience the form is about: the submitted one, else the saved one."""
        if self.is_bound:
            value = self.data.get(self.add_prefix(name))
            try:
                return model.objects.filter(pk=int(value)).first() if value else None
            except (TypeError, ValueError):
                return None
        value = self.initial.get(name) or getattr(self.instance, f"{name}_id", None)
        return model.objects.filter(pk=value).first() if value else None

    @property
    def slots(self):
        return [self[name] for name in self.slot_names]

    def clean_link_url(self):
        from campaigns.links import link_problems

        link_url = (self.cleaned_data.get("link_url") or "").strip()
        problems = link_problems(link_url=link_url)
        if problems:
            raise forms.ValidationError(problems)
        return link_url

    def clean(self):
        cleaned = super().clean()
        if self.message_template is None:
            return cleaned
        values = {kind: [] for kind in KINDS}
        for name in self.slot_names:
            field = self.fields[name]
            values[field.slot.kind].append(cleaned.get(name) or "")
        for kind, attribute in STORED.items():
            setattr(self.instance, attribute, values[kind])
        start, end = cleaned.get("start_at"), cleaned.get("end_at")
        if start and end and end <= start:
            self.add_error("end_at", _("The end must be after the start."))
        return cleaned
