"""Reads: who is in an audience, and its preview."""

from django.db.models import QuerySet

from audiences.models import Audience, Contact
from audiences.rules import rules_q


def audience_contacts(*, audience: Audience) -> QuerySet[Contact]:
    """The audience's contacts as one query. Unsubscribed contacts are never in it, whatever the rules."""
    return Contact.objects.filter(rules_q(audience.rules), subscription=Contact.Subscription.SUBSCRIBED)


def audience_preview(*, audience: Audience, sample: int = 10) -> dict:
    """The live count and the first `sample` contacts (by id): two queries, no filtering in Python."""
    contacts = audience_contacts(audience=audience)
    count = contacts.count()
    # An empty audience would make the sample query scan every row for nothing.
    return {"count": count, "sample": list(contacts.order_by("pk")[:sample]) if count else []}
