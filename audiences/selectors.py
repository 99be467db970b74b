"""Reads: who is in an audience, and its preview."""

from django.db.models import Count, F, Func, IntegerField, Max, Min, QuerySet, Subquery

from audiences.models import Audience, Contact
from audiences.rules import rules_q, validate_rules

# The most contacts the preview's sample may test one by one in id order before
# sorting the audience's own rows is the cheaper way to find its first ones.
SAMPLE_WALK_LIMIT = 50_000
COUNT_ROWS = Func(template="COUNT(*)", output_field=IntegerField())


def audience_contacts(*, audience: Audience) -> QuerySet[Contact]:
    """The audience's contacts as one query. Unsubscribed contacts are never in it, whatever the rules."""
    return Contact.objects.filter(rules_q(audience.rules), subscription=Contact.Subscription.SUBSCRIBED)


def audience_preview(*, audience: Audience, sample: int = 10) -> dict:
    """The live count and the first `sample` contacts (by id): two queries, no filtering in Python.

    `ORDER BY id LIMIT n` walks the id index testing each contact: instant when
    the audience is spread over the table, a walk over most of it when it is a
    few contacts, or one recent import's tag at the table's end (0.4-0.7 s at
    1M contacts). So the count query also returns the first and last matching
    ids: the walk starts at the first, and when it would still test more than
    SAMPLE_WALK_LIMIT contacts (sample x id span / count), the audience's own
    rows, found through its indexes, are sorted instead.
    """
    contacts = audience_contacts(audience=audience)
    rules = validate_rules(audience.rules)
    if rules["everyone"]:
        # Every subscribed contact (maybe minus some tags): the walk stops at once.
        count = _everyone_count(rules["exclude_tags"])
        return {"count": count, "sample": list(contacts.order_by("pk")[:sample]) if count else []}
    stats = contacts.aggregate(count=Count("pk"), first=Min("pk"), last=Max("pk"))
    if not stats["count"]:
        return {"count": 0, "sample": []}
    if sample * (stats["last"] - stats["first"] + 1) / stats["count"] <= SAMPLE_WALK_LIMIT:
        rows = contacts.filter(pk__gte=stats["first"]).order_by("pk")
    else:
        rows = contacts.order_by(F("pk") + 0)  # by id, but not by walking the id index
    return {"count": stats["count"], "sample": list(rows[:sample])}


def _everyone_count(exclude_tags: list[str]) -> int:
    """Subscribed contacts minus those with an excluded tag, in one query, as a subtraction of two counts.

    The subscribed count is an index-only scan, and the excluded ones are
    found through the tag index; testing "not tagged" on every contact reads
    the whole table instead (1M contacts: 250-420 ms against 60 ms for a
    small exclusion tag, 200-260 ms for one on 5 % of them).
    """
    subscribed = Contact.objects.filter(subscription=Contact.Subscription.SUBSCRIBED).order_by()
    if not exclude_tags:
        return subscribed.count()
    # COUNT(*) without GROUP BY: a Func, not an Aggregate, so the subquery stays one row.
    excluded = subscribed.filter(rules_q({"include_tags": exclude_tags})).annotate(n=COUNT_ROWS).values("n")
    return subscribed.aggregate(n=Count("*") - Subquery(excluded, output_field=IntegerField()))["n"]
