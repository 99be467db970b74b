"""Audience rules: their one stored shape, their validation, their compilation.

Stored shape (Audience.rules)::

    {
      "everyone": false,            # true: every subscribed contact (exclusions still apply)
      "match": "any",               # include_tags: "any" or "all" of them
      "include_tags": ["vip"],
      "exclude_tags": ["do-not-contact"],
      "languages": ["en_US"],       # any of them; empty: any language
      "conditions": [               # all of them
        {"key": "total_spent", "op": "gt", "value": 100},
        {"key": "city", "op": "in", "value": ["Paris", "Lyon"]}
      ],
      "outcomes": [                 # all of them: what the contact did with a campaign's message
        {"campaign": 12, "outcome": "read"},
        {"campaign": 12, "outcome": "not_clicked"},
        {"campaign": 9, "outcome": "replied", "value": "YES"},   # optional: that button's payload
        {"campaign": 9, "outcome": "failed", "value": 131026}     # optional: that error code
      ]
    }

`rules_q` compiles it to one Q, never a join, so no duplicate rows and no
DISTINCT. Tag tests: on PostgreSQL, `tag_ids && ARRAY[...]` (any), `@>` (all)
and `NOT (... && ...)` (exclude) over Contact.tag_ids, the GIN-indexed copy of
the contact's tags kept by triggers (migration 0002); elsewhere EXISTS over the
links. Outcomes are EXISTS over the campaign's recipient rows of the contact
(its `contact_id`), so they stay in the same single query; on PostgreSQL each
outcome's rows are an index-only scan of contact ids (the indexes of
campaigns/models.py Recipient named for the outcomes). The subscribed-only
filter is added by the selector, whatever the rules say.
"""

import json
import math

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import BooleanField, Exists, F, FloatField, Func, OuterRef, Q, Subquery
from django.db.models.fields.json import KeyTransform, compile_json_path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audiences.attributes import coerce_value, normalize_key

OPERATORS = {
    "eq": gettext_lazy("equals"),
    "in": gettext_lazy("is one of"),
    "gt": gettext_lazy("greater than"),
    "gte": gettext_lazy("greater than or equal to"),
    "lt": gettext_lazy("less than"),
    "lte": gettext_lazy("less than or equal to"),
    "contains": gettext_lazy("contains"),
}
NUMERIC_OPERATORS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
# What a contact did with a campaign's message. The "did not" ones are among those the campaign reached
# (sent, delivered or read): "did not click" is whoever got the message and did not click it.
OUTCOMES = {
    "received": gettext_lazy("received"),
    "read": gettext_lazy("read"),
    "not_read": gettext_lazy("received but did not read"),
    "clicked": gettext_lazy("clicked"),
    "not_clicked": gettext_lazy("received but did not click"),
    "replied": gettext_lazy("replied"),
    "converted": gettext_lazy("converted"),
    "failed": gettext_lazy("failed"),
}
MATCH_CHOICES = ("any", "all")


class RuleError(ValidationError):
    """An audience rule is wrong; each message names the rule."""


def empty_rules() -> dict:
    return {
        "everyone": False,
        "match": "any",
        "include_tags": [],
        "exclude_tags": [],
        "languages": [],
        "conditions": [],
        "outcomes": [],
    }


def validate_rules(rules, *, check_tags: bool = False) -> dict:
    """Return the rules in their canonical shape, or raise RuleError naming each wrong rule."""
    if not isinstance(rules, dict):
        raise RuleError("rules must be an object")
    errors: list[str] = []
    unknown = set(rules) - set(empty_rules())
    if unknown:
        errors.append(f"unknown rule(s): {', '.join(sorted(unknown))}")
    clean = empty_rules()
    clean["everyone"] = bool(rules.get("everyone", False))
    match = rules.get("match") or "any"
    if match not in MATCH_CHOICES:
        errors.append(f"match: must be 'any' or 'all', not {match!r}")
    clean["match"] = match
    for field in ("include_tags", "exclude_tags", "languages"):
        values = rules.get(field) or []
        if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
            errors.append(f"{field}: must be a list of non-empty names")
            continue
        clean[field] = sorted({v.strip() for v in values})

    conditions = rules.get("conditions") or []
    if not isinstance(conditions, list):
        errors.append("conditions: must be a list")
        conditions = []
    for number, condition in enumerate(conditions, start=1):
        try:
            clean["conditions"].append(_validate_condition(condition))
        except RuleError as exc:
            errors.extend(
                _("condition %(number)s: %(message)s") % {"number": number, "message": message}
                for message in exc.messages
            )

    outcomes = rules.get("outcomes") or []
    if not isinstance(outcomes, list):
        errors.append("outcomes: must be a list")
        outcomes = []
    for number, outcome in enumerate(outcomes, start=1):
        try:
            clean["outcomes"].append(_validate_outcome(outcome))
        except RuleError as exc:
            errors.extend(
                _("campaign outcome %(number)s: %(message)s") % {"number": number, "message": message}
                for message in exc.messages
            )

    overlap = set(clean["include_tags"]) & set(clean["exclude_tags"])
    if overlap:
        errors.append(_("tags both included and excluded: %(tags)s") % {"tags": ", ".join(sorted(overlap))})
    # A condition that failed validation still narrows: its own error says what is wrong with it.
    narrowing = clean["include_tags"] or clean["languages"] or conditions or outcomes
    if clean["everyone"] and narrowing:
        errors.append(_("'everyone subscribed' cannot be combined with tag, language or attribute rules"))
    if not clean["everyone"] and not narrowing:
        # An empty rule set must not silently mean "everyone".
        # (Campaign outcomes narrow too; the message keeps its translated wording.)
        errors.append(_("choose at least one tag, language or attribute rule, or 'everyone subscribed'"))
    if check_tags and not errors:
        from audiences.models import Tag

        wanted = set(clean["include_tags"]) | set(clean["exclude_tags"])
        missing = wanted - set(Tag.objects.filter(name__in=wanted).values_list("name", flat=True))
        if missing:
            errors.append(_("unknown tag(s): %(tags)s") % {"tags": ", ".join(sorted(missing))})
    if check_tags and not errors and clean["outcomes"]:
        from campaigns.models import Campaign

        wanted = {outcome["campaign"] for outcome in clean["outcomes"]}
        missing = wanted - set(Campaign.objects.filter(pk__in=wanted).values_list("pk", flat=True))
        if missing:
            errors.append(_("unknown campaign(s): %(ids)s") % {"ids": ", ".join(map(str, sorted(missing)))})
    if errors:
        raise RuleError(errors)
    return clean


def _validate_outcome(outcome) -> dict:
    if not isinstance(outcome, dict):
        raise RuleError("must be an object with campaign and outcome")
    campaign, kind, value = outcome.get("campaign"), outcome.get("outcome"), outcome.get("value")
    try:
        campaign = int(campaign)
    except (TypeError, ValueError):
        raise RuleError(_("choose a campaign")) from None
    if kind not in OUTCOMES:
        raise RuleError(
            _("unknown outcome %(outcome)r (use one of %(names)s)") % {"outcome": kind, "names": ", ".join(OUTCOMES)}
        )
    clean = {"campaign": campaign, "outcome": kind}
    value = "" if value is None else str(value).strip()
    if value and kind == "failed":
        try:
            clean["value"] = int(value)
        except ValueError:
            raise RuleError(_("failed: the error code is a number, such as 131026")) from None
    elif value and kind == "replied":
        clean["value"] = value
    elif value:
        raise RuleError(_("%(outcome)s takes no value") % {"outcome": kind})
    return clean


def _outcome_q(outcome: dict) -> Q:
    """EXISTS (the contact's row in the campaign, with the outcome): one subquery in the audience's query."""
    from campaigns.models import REACHED_STATUSES, Recipient

    S = Recipient.Status
    reached = list(REACHED_STATUSES)  # as the "did not click" index's condition says it
    tests = {
        "received": Q(status__in=[S.DELIVERED, S.READ]),
        "read": Q(status=S.READ),
        "not_read": Q(status__in=[S.SENT, S.DELIVERED]),
        "clicked": Q(clicked_at__isnull=False),
        "not_clicked": Q(status__in=reached, clicked_at__isnull=True),
        "replied": Q(replied_at__isnull=False),
        "converted": Q(converted_at__isnull=False),
        "failed": Q(status=S.FAILED),
    }
    q = tests[outcome["outcome"]]
    if "value" in outcome:
        q &= Q(reply_payload=outcome["value"]) if outcome["outcome"] == "replied" else Q(error_code=outcome["value"])
    rows = Recipient.objects.filter(q, campaign_id=outcome["campaign"], contact_id=OuterRef("pk"))
    return Q(Exists(rows))


def _validate_condition(condition) -> dict:
    if not isinstance(condition, dict):
        raise RuleError("must be an object with key, op and value")
    key = normalize_key(str(condition.get("key") or ""))
    op = condition.get("op")
    value = condition.get("value")
    if not key:
        raise RuleError(_("attribute name is empty"))
    if op not in OPERATORS:
        raise RuleError(f"{key}: unknown operator {op!r} (use one of {', '.join(OPERATORS)})")
    label = f"{key} {OPERATORS[op]}"
    if op in NUMERIC_OPERATORS:
        value = coerce_value(value)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise RuleError(
                _("%(rule)s: needs a number, got %(value)r (for example 100, 99.5 or 99,5)")
                % {"rule": label, "value": condition.get("value")}
            )
    elif op == "in":
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        if not isinstance(value, list) or not value:
            raise RuleError(_("%(rule)s: needs at least one value") % {"rule": label})
        value = [coerce_value(v) for v in value]
    elif op == "contains":
        if not isinstance(value, str) or not value.strip():
            raise RuleError(_("%(rule)s: needs some text") % {"rule": label})
        value = value.strip()
    else:
        value = coerce_value(value)
        if value is None or value == "":
            raise RuleError(f"{label}: needs a value")
    return {"key": key, "op": op, "value": value}


class JSONNumberRange(Func):
    """PostgreSQL: `attributes[key] <op> value`, true only when the value is a JSON number, as a range of
    `attributes -> key`: the expression the btree of audiences/indexes.py indexes, with its statistics.

    jsonb orders every number above every string (and null) and below
    false, true, arrays and objects, and compares numbers exactly (numeric,
    not double). So "greater than" is `> value AND < false`, and "less than"
    is `< value` of a value whose jsonb_typeof is number: text ("n/a"),
    booleans, null, arrays, objects and a missing key never match.
    """

    output_field = BooleanField()

    def __init__(self, field: str, key: str, op: str, value: int | float):
        super().__init__(F(field))
        self.key, self.op, self.bound = key, op, json.dumps(value)

    def as_sql(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        key = f"({column} -> %s::text)"
        sql = f"({key} {NUMERIC_OPERATORS[self.op]} %s::jsonb AND "
        if self.op in ("gt", "gte"):
            sql += f"{key} < 'false'::jsonb)"
        else:
            sql += f"jsonb_typeof({key}) = 'number')"
        return sql, (*params, self.key, self.bound, *params, self.key)


class JSONNumber(Func):
    """Other databases: attributes[key] as a number, NULL when it is missing or not a JSON number.

    The type test keeps SQLite from ranking text above every number.
    """

    output_field = FloatField()

    def __init__(self, field: str, key: str):
        super().__init__(F(field))
        self.key = key

    def as_sqlite(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        path = compile_json_path([self.key])
        sql = f"(CASE WHEN json_type({column}, %s) IN ('integer', 'real') THEN json_extract({column}, %s) END)"
        return sql, (*params, path, *params, path)

    def as_sql(self, compiler, connection, **extra):
        from django.db.models.fields.json import KeyTextTransform
        from django.db.models.functions import Cast

        return compiler.compile(Cast(KeyTextTransform(self.key, *self.source_expressions), FloatField()))


class JSONTextIn(Func):
    """`attributes[key]` is text equal to one of `values`, ignoring case: `lower(attributes ->> key) IN (...)`.

    Both sides are lowered by the database, so they agree whatever its
    collation does with non-ASCII letters. On PostgreSQL this is the
    expression of the btree audiences/indexes.py builds for each key a saved
    audience tests with "equals" or "one of" text; numbers never match it
    (only text does), so "100" the text and 100 the number stay apart.
    """

    output_field = BooleanField()

    def __init__(self, field: str, key: str, values: list[str]):
        super().__init__(F(field))
        self.key, self.values = key, list(values)

    def as_sql(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        marks = ", ".join(["lower(%s)"] * len(self.values))
        sql = f"(lower(({column} ->> %s::text)) IN ({marks}) AND jsonb_typeof({column} -> %s::text) = 'string')"
        return sql, (*params, self.key, *self.values, *params, self.key)

    def as_sqlite(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        path = compile_json_path([self.key])
        marks = ", ".join(["lower(%s)"] * len(self.values))
        sql = f"(json_type({column}, %s) = 'text' AND lower(json_extract({column}, %s)) IN ({marks}))"
        return sql, (*params, path, *params, path, *self.values)


def _condition_q(condition: dict) -> Q:
    key, op, value = condition["key"], condition["op"], condition["value"]
    if op in NUMERIC_OPERATORS:
        if connection.vendor == "postgresql":
            return Q(JSONNumberRange("attributes", key, op, value))
        lhs = JSONNumber("attributes", key)
        return Q(lhs.get_lookup(op)(lhs, value))
    lhs = KeyTransform(key, "attributes")
    if op == "contains":
        return Q(lhs.get_lookup("icontains")(lhs, value))
    # "equals" and "one of": text ignores case ("paris" finds "Paris"), other values (numbers, booleans) are exact.
    values = value if op == "in" else [value]
    texts = [v for v in values if isinstance(v, str)]
    others = [v for v in values if not isinstance(v, str)]
    q = Q(JSONTextIn("attributes", key, texts)) if texts else Q()
    if others and connection.vendor == "postgresql":
        # jsonb containment can use the GIN index on attributes.
        for v in others:
            q |= Q(attributes__contains={key: v})
    elif others:
        # KeyTransformIn JSON-encodes its values on every backend; a hand-built
        # KeyTransformExact does not, so "equals" is "one of [value]".
        q |= Q(lhs.get_lookup("in")(lhs, others))
    return q


def _has_tags(names: list[str]) -> Exists:
    from audiences.models import Contact

    links = Contact.tags.through.objects.filter(contact_id=OuterRef("pk"), tag__name__in=names)
    return Exists(links)


def _tag_ids(names: list[str]) -> list[Subquery]:
    """ARRAY[(SELECT id FROM tag WHERE name = ...), ...]: one query with the contacts, not one before it.

    A tag that does not exist is NULL in the array, and NULL matches nothing,
    as with EXISTS: "any" ignores it, "all" matches no one, "exclude" removes no one.
    """
    from audiences.models import Tag

    return [Subquery(Tag.objects.filter(name=name).values("pk")) for name in names]


def _tags_q(rules: dict, *, tag_arrays: bool) -> Q:
    include, exclude = rules["include_tags"], rules["exclude_tags"]
    q = Q()
    if tag_arrays:
        if include:
            lookup = "tag_ids__contains" if rules["match"] == "all" else "tag_ids__overlap"
            q &= Q(**{lookup: _tag_ids(include)})
        if exclude:
            q &= ~Q(tag_ids__overlap=_tag_ids(exclude))
        return q
    if include:
        if rules["match"] == "all":
            for name in include:
                q &= Q(_has_tags([name]))
        else:
            q &= Q(_has_tags(include))
    if exclude:
        q &= ~Q(_has_tags(exclude))
    return q


def rules_q(rules: dict, *, tag_arrays: bool | None = None) -> Q:
    """The rules as one Q over Contact (without the subscribed-only filter).

    `tag_arrays`: test tags on Contact.tag_ids (default on PostgreSQL, the
    only database that maintains it) or with EXISTS over the links.
    """
    rules = validate_rules(rules)
    if tag_arrays is None:
        tag_arrays = connection.vendor == "postgresql"
    q = _tags_q(rules, tag_arrays=tag_arrays)
    if rules["languages"]:
        q &= Q(language__in=rules["languages"])
    for condition in rules["conditions"]:
        q &= _condition_q(condition)
    for outcome in rules["outcomes"]:
        q &= _outcome_q(outcome)
    return q


def describe_rules(rules: dict) -> str:
    """One line for the admin list: what the audience contains."""
    rules = validate_rules(rules)
    parts = []
    if rules["everyone"]:
        parts.append(_("everyone subscribed"))
    if rules["include_tags"]:
        tags = ", ".join(rules["include_tags"])
        if rules["match"] == "all":
            parts.append(_("tags all of %(tags)s") % {"tags": tags})
        else:
            parts.append(_("tags any of %(tags)s") % {"tags": tags})
    if rules["languages"]:
        parts.append(_("language in %(languages)s") % {"languages": ", ".join(rules["languages"])})
    for c in rules["conditions"]:
        parts.append(f"{c['key']} {OPERATORS[c['op']]} {c['value']!r}")
    for o in rules["outcomes"]:
        value = f" {o['value']}" if "value" in o else ""
        parts.append(
            _("campaign #%(id)s: %(outcome)s") % {"id": o["campaign"], "outcome": f"{OUTCOMES[o['outcome']]}{value}"}
        )
    if rules["exclude_tags"]:
        parts.append(_("not tagged %(tags)s") % {"tags": ", ".join(rules["exclude_tags"])})
    return "; ".join(parts)
