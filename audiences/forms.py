"""Admin forms: the audience builder (rules without raw JSON) and the CSV upload."""

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from audiences.imports import DECIMAL_CHOICES, ENCODING_CHOICES
from audiences.models import Audience, Tag
from audiences.rules import MATCH_CHOICES, OPERATORS, OUTCOMES, RuleError, empty_rules, validate_rules

CONDITION_ROWS = 5
OUTCOME_ROWS = 3
_OUTCOME_HELP = _(
    'All of them must hold: what the contact did with a campaign\'s message. "Did not" means the campaign '
    "reached them (sent, delivered or read) and they did not. Replied takes an optional button payload, "
    "failed an optional error code."
)
_OUTCOME_CHOICES = [("", "---------"), *OUTCOMES.items()]
_CONDITION_HELP = _(
    "All conditions must hold. Numbers compare as numbers (greater / less than; 99.5 or 99,5); "
    '"equals", "is one of" (comma-separated values) and "contains" ignore case. The attribute names found '
    "in your contacts are offered as you type."
)
_OP_CHOICES = [("", "---------"), *OPERATORS.items()]


class ConditionWidget(forms.MultiWidget):
    def __init__(self, attrs=None):
        super().__init__(
            [
                forms.TextInput(
                    attrs={"placeholder": _("attribute, e.g. total_spent"), "size": 20, "list": "attribute-keys"}
                ),
                forms.Select(choices=_OP_CHOICES),
                forms.TextInput(attrs={"placeholder": _("value (one of: a, b, c)"), "size": 30}),
            ],
            attrs,
        )

    def decompress(self, value):
        if not value:
            return ["", "", ""]
        shown = value["value"]
        if isinstance(shown, list):
            shown = ", ".join(str(v) for v in shown)
        return [value["key"], value["op"], "" if shown is None else str(shown)]


class ConditionField(forms.MultiValueField):
    """One attribute condition on one line: key, operator, value."""

    widget = ConditionWidget

    def __init__(self, **kwargs):
        fields = (
            forms.CharField(required=False),
            forms.ChoiceField(choices=_OP_CHOICES, required=False),
            forms.CharField(required=False),
        )
        super().__init__(fields, require_all_fields=False, required=False, **kwargs)

    def compress(self, data_list):
        if not data_list or not any(data_list):
            return None
        key, op, value = (list(data_list) + ["", "", ""])[:3]
        return {"key": key, "op": op, "value": value}


class OutcomeWidget(forms.MultiWidget):
    def __init__(self, attrs=None):
        super().__init__(
            [
                forms.Select(choices=[("", "---------")]),
                forms.Select(choices=_OUTCOME_CHOICES),
                forms.TextInput(attrs={"placeholder": _("button payload or error code (optional)"), "size": 24}),
            ],
            attrs,
        )

    def decompress(self, value):
        if not value:
            return ["", "", ""]
        return [str(value["campaign"]), value["outcome"], str(value.get("value", ""))]


class OutcomeField(forms.MultiValueField):
    """One campaign outcome on one line: campaign, outcome, optional value."""

    widget = OutcomeWidget

    def __init__(self, **kwargs):
        fields = (
            forms.CharField(required=False),
            forms.ChoiceField(choices=_OUTCOME_CHOICES, required=False),
            forms.CharField(required=False),
        )
        super().__init__(fields, require_all_fields=False, required=False, **kwargs)

    def compress(self, data_list):
        if not data_list or not any(data_list):
            return None
        campaign, outcome, value = (list(data_list) + ["", "", ""])[:3]
        return {"campaign": campaign, "outcome": outcome, "value": value}


def campaign_choices() -> list[tuple[str, str]]:
    """The campaigns an outcome can be about (the most recent first), for the builder's picker."""
    from campaigns.models import Campaign

    rows = Campaign.objects.order_by("-created_at", "-pk").values_list("pk", "name")[:500]
    return [("", "---------"), *((str(pk), f"{name} (#{pk})") for pk, name in rows)]


_MATCH_LABELS = {"any": _("any of the tags"), "all": _("all of the tags")}


class AudienceForm(forms.ModelForm):
    everyone = forms.BooleanField(
        required=False,
        label=_("Everyone subscribed"),
        help_text=_("Every subscribed contact (exclusions still apply)."),
    )
    include_tags = forms.ModelMultipleChoiceField(
        Tag.objects.all(), to_field_name="name", required=False, widget=forms.SelectMultiple(attrs={"size": 8})
    )
    match = forms.ChoiceField(
        choices=[(m, _MATCH_LABELS[m]) for m in MATCH_CHOICES], initial="any", label=_("Contacts with")
    )
    exclude_tags = forms.ModelMultipleChoiceField(
        Tag.objects.all(), to_field_name="name", required=False, widget=forms.SelectMultiple(attrs={"size": 8})
    )
    languages = forms.CharField(
        required=False,
        label=_("Languages"),
        help_text=_("Comma-separated WhatsApp language codes, e.g. en_US, fr_FR. Empty: any."),
    )
    condition_1 = ConditionField(label=format_lazy("{} {}", _("Condition"), 1), help_text=_CONDITION_HELP)
    condition_2 = ConditionField(label=format_lazy("{} {}", _("Condition"), 2))
    condition_3 = ConditionField(label=format_lazy("{} {}", _("Condition"), 3))
    condition_4 = ConditionField(label=format_lazy("{} {}", _("Condition"), 4))
    condition_5 = ConditionField(label=format_lazy("{} {}", _("Condition"), 5))
    outcome_1 = OutcomeField(label=format_lazy("{} {}", _("Campaign outcome"), 1), help_text=_OUTCOME_HELP)
    outcome_2 = OutcomeField(label=format_lazy("{} {}", _("Campaign outcome"), 2))
    outcome_3 = OutcomeField(label=format_lazy("{} {}", _("Campaign outcome"), 3))

    class Meta:
        model = Audience
        fields = ["name"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = campaign_choices()
        for n in range(1, OUTCOME_ROWS + 1):
            self.fields[f"outcome_{n}"].widget.widgets[0].choices = choices
        if self.instance.pk and self.instance.rules:
            rules = {**empty_rules(), **self.instance.rules}
            self.initial.update(
                everyone=rules["everyone"],
                match=rules["match"],
                include_tags=rules["include_tags"],
                exclude_tags=rules["exclude_tags"],
                languages=", ".join(rules["languages"]),
            )
            for n, condition in enumerate(rules["conditions"][:CONDITION_ROWS], start=1):
                self.initial[f"condition_{n}"] = condition
            for n, outcome in enumerate(rules["outcomes"][:OUTCOME_ROWS], start=1):
                self.initial[f"outcome_{n}"] = outcome

    def clean(self):
        data = super().clean()
        conditions, rows = [], []
        for n in range(1, CONDITION_ROWS + 1):
            if data.get(f"condition_{n}"):
                conditions.append(data[f"condition_{n}"])
                rows.append(n)
        rules = {
            "everyone": data.get("everyone", False),
            "match": data.get("match") or "any",
            "include_tags": [t.name for t in data.get("include_tags") or []],
            "exclude_tags": [t.name for t in data.get("exclude_tags") or []],
            "languages": [p.strip() for p in (data.get("languages") or "").split(",") if p.strip()],
            "conditions": conditions,
            "outcomes": [],
        }
        outcome_rows = []
        for n in range(1, OUTCOME_ROWS + 1):
            if data.get(f"outcome_{n}"):
                rules["outcomes"].append(data[f"outcome_{n}"])
                outcome_rows.append(n)
        try:
            self.instance.rules = validate_rules(rules, check_tags=True)
        except RuleError as exc:
            self._rules_failed = True
            for message in exc.messages:
                # "condition 2: ..." counts filled rows; show it on the row the operator typed in.
                field = None
                if message.startswith("condition "):
                    index = int(message.split(":")[0].split()[1])
                    field = f"condition_{rows[index - 1]}"
                    message = message.split(":", 1)[1].strip()
                elif message.startswith("campaign outcome "):
                    index = int(message.split(":")[0].split()[2])
                    field = f"outcome_{outcome_rows[index - 1]}"
                    message = message.split(":", 1)[1].strip()
                self.add_error(field, ValidationError(message))
        return data

    def _post_clean(self):
        # When the rules failed, their errors are on their fields already; the model's own clean() would
        # validate the instance's old (or empty) rules and add a false "choose at least one ...".
        if getattr(self, "_rules_failed", False):
            return
        super()._post_clean()


def region_choices() -> list[tuple[str, str]]:
    """Every country phonenumbers knows, by name: "France (+33)"."""
    from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, SUPPORTED_REGIONS
    from phonenumbers.geocoder import _region_display_name

    codes = {region: code for code, regions in COUNTRY_CODE_TO_REGION_CODE.items() for region in regions}
    named = [(f"{_region_display_name(r, 'en') or r} (+{codes.get(r, '?')})", r) for r in SUPPORTED_REGIONS]
    return [(region, label) for label, region in sorted(named)]


class ContactImportForm(forms.Form):
    file = forms.FileField(
        label=_("File"),
        help_text=_(
            "CSV (comma, semicolon or tab separated; any common encoding) or Excel .xlsx, with a header line "
            "and a phone column (phone, mobile, whatsapp, telephone ...)."
        ),
    )
    region = forms.ChoiceField(
        label=_("Country of national numbers"),
        help_text=_(
            "Numbers written without +country code (06 14 00 00 00, (415) 555-0123) are read as numbers of this "
            "country. Numbers with + or 00 are read as written."
        ),
    )
    encoding = forms.ChoiceField(
        label=_("Encoding"),
        choices=ENCODING_CHOICES,
        required=False,
        help_text=_("Detected for the whole file; choose one only if the preview shows mangled accents."),
    )
    decimal = forms.ChoiceField(
        label=_("Decimal mark"),
        choices=DECIMAL_CHOICES,
        required=False,
        help_text=_("How numbers such as 1,234 are written; numbers like 212,83 or 1.234,50 are read either way."),
    )
    language = forms.RegexField(
        label=_("Language of new contacts"),
        regex=r"^[a-zA-Z]{2,3}([_-][a-zA-Z]{2})?$",
        max_length=15,
        required=False,
        help_text=_(
            "The WhatsApp template language (en_US, fr_FR, pt_BR ...) given to the contacts this import creates "
            "when the file has no language for them. Existing contacts keep theirs."
        ),
        error_messages={"invalid": _("A language code such as en_US, fr_FR or pt_BR.")},
    )
    tag = forms.CharField(
        label=_("Tag"), required=False, max_length=100, help_text=_("Add this tag to every imported contact.")
    )
    update = forms.BooleanField(
        label=_("Update existing contacts"),
        required=False,
        help_text=_("Update name, language, attributes and tags of contacts that already exist."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].choices = region_choices()
        self.fields["region"].initial = settings.PHONE_DEFAULT_REGION
        self.fields["language"].initial = settings.CONTACT_DEFAULT_LANGUAGE

    def clean_language(self) -> str:
        code = (self.cleaned_data["language"] or settings.CONTACT_DEFAULT_LANGUAGE).replace("-", "_")
        language, _sep, country = code.partition("_")
        return f"{language.lower()}_{country.upper()}" if country else language.lower()
