"""Writes on contacts: opt-out and opt-in (the webhook and the admin call these), CSV import.

Each state change is one conditional UPDATE that names the state it moves
from, so calling twice changes nothing the second time and the return value
says whether this call changed anything.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet

from audiences.bulk import contacts_bulk_write
from audiences.imports import InvalidRow, parse_contacts_csv
from audiences.models import Contact, Tag, default_language, derive_first_name
from audiences.phones import normalize_phone

Subscription = Contact.Subscription


def _check_reason(reason: str) -> str:
    if reason not in Contact.SubscriptionReason.values:
        raise ValueError(f"unknown subscription reason {reason!r}; use one of {Contact.SubscriptionReason.values}")
    return reason


def contact_unsubscribe(*, phone: str, reason: str, at: datetime) -> bool:
    """subscribed -> unsubscribed, recording when and why. True only if this call changed it.

    An unknown phone is created unsubscribed: the opt-out is remembered, so a
    later import cannot bring the number back in (imports never resubscribe).
    """
    phone = normalize_phone(phone)
    _check_reason(reason)
    changed = Contact.objects.filter(phone=phone, subscription=Subscription.SUBSCRIBED).update(
        subscription=Subscription.UNSUBSCRIBED, subscription_changed_at=at, subscription_reason=reason, updated_at=at
    )
    if changed:
        return True
    try:
        with transaction.atomic():
            _, created = Contact.objects.get_or_create(
                phone=phone,
                defaults={
                    "subscription": Subscription.UNSUBSCRIBED,
                    "subscription_changed_at": at,
                    "subscription_reason": reason,
                },
            )
    except IntegrityError:  # created concurrently by someone else
        return contact_unsubscribe(phone=phone, reason=reason, at=at)
    return created


def contact_resubscribe(*, phone: str, reason: str, at: datetime) -> bool:
    """unsubscribed -> subscribed, recording when and why. True only if this call changed it.

    An unknown phone is not created: contacts come from the operator's base.
    """
    phone = normalize_phone(phone)
    _check_reason(reason)
    changed = Contact.objects.filter(phone=phone, subscription=Subscription.UNSUBSCRIBED).update(
        subscription=Subscription.SUBSCRIBED, subscription_changed_at=at, subscription_reason=reason, updated_at=at
    )
    return bool(changed)


def contacts_set_subscription(*, contacts: QuerySet[Contact], subscribed: bool, reason: str, at: datetime) -> list[int]:
    """The admin's bulk version: move those of `contacts` in the other state; return the ids this call changed."""
    _check_reason(reason)
    target, source = (
        (Subscription.SUBSCRIBED, Subscription.UNSUBSCRIBED)
        if subscribed
        else (Subscription.UNSUBSCRIBED, Subscription.SUBSCRIBED)
    )
    with transaction.atomic():
        # Through a pk subquery: the admin's queryset may carry DISTINCT or
        # joins that FOR UPDATE refuses.
        rows = Contact.objects.filter(pk__in=contacts.order_by().values("pk"), subscription=source)
        changed = list(rows.select_for_update().values_list("pk", flat=True))
        Contact.objects.filter(pk__in=changed, subscription=source).update(
            subscription=target, subscription_changed_at=at, subscription_reason=reason, updated_at=at
        )
    return changed


def contact_record_inbound(*, phone: str, at: datetime) -> bool:
    """Remember the last inbound message time (never moves backwards). True if a contact was updated."""
    phone = normalize_phone(phone)
    return bool(
        Contact.objects.filter(Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=at), phone=phone).update(
            last_inbound_at=at
        )
    )


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    invalid: list[InvalidRow] = field(default_factory=list)
    rows: int = 0

    @property
    def summary(self) -> str:
        return f"created={self.created} updated={self.updated} unchanged={self.unchanged} invalid={len(self.invalid)}"


def contacts_import(
    *,
    file: Iterable[bytes],
    now: datetime,
    tag: str | None = None,
    update: bool = False,
    dry_run: bool = False,
    batch_size: int = 2000,
) -> ImportResult:
    """Import a contacts CSV in bulk (Promise 7: bad rows reported by line, good rows imported).

    New phones are created (subscribed unless the file says no); existing ones
    are left alone, or with `update` get the file's name, language, attributes
    (merged) and tags (added). An import never resubscribes anyone: it can
    only move subscribed -> unsubscribed, and only with `update`. Everything
    is one transaction; `dry_run` rolls it back and returns the same counts,
    which is what the admin's preview shows. Raises ImportFileError when the
    file as a whole is unusable. On PostgreSQL each contact row is written
    once: the import fills Contact.tag_ids with the tags it links in the same
    transaction, so the link triggers have nothing left to update.
    """
    parsed = parse_contacts_csv(file)
    result = ImportResult(invalid=parsed.invalid, rows=parsed.rows)
    records = list(parsed.contacts.values())
    extra_tags = {tag.strip()} if tag and tag.strip() else set()
    with transaction.atomic():
        tag_ids = _ensure_tags(set().union(extra_tags, *(r.tags for r in records)))
        for start in range(0, len(records), batch_size):
            _import_batch(records[start : start + batch_size], tag_ids, extra_tags, update, now, result)
        if dry_run:
            transaction.set_rollback(True)
    return result


def _ensure_tags(names: set[str]) -> dict[str, int]:
    if not names:
        return {}
    Tag.objects.bulk_create([Tag(name=n) for n in sorted(names)], ignore_conflicts=True)
    return dict(Tag.objects.filter(name__in=names).values_list("name", "id"))


def _import_batch(batch, tag_ids, extra_tags, update, now, result) -> None:
    Links = Contact.tags.through
    # Only PostgreSQL maintains Contact.tag_ids; elsewhere it stays [].
    arrays = connection.vendor == "postgresql"
    phones = [r.phone for r in batch]
    existing = {
        row["phone"]: row
        for row in Contact.objects.filter(phone__in=phones).values(
            "id", "phone", "name", "first_name", "language", "attributes", "subscription"
        )
    }
    new = [r for r in batch if r.phone not in existing]
    # A phone created meanwhile (by the webhook) is left as it is.
    contacts_bulk_write(
        [
            Contact(
                phone=r.phone,
                name=r.name,
                first_name=r.first_name or derive_first_name(r.name),
                language=r.language or default_language(),
                attributes=r.attributes,
                subscription=Subscription.UNSUBSCRIBED if r.subscribed is False else Subscription.SUBSCRIBED,
                subscription_changed_at=now,
                subscription_reason=Contact.SubscriptionReason.IMPORT,
                tag_ids=sorted({tag_ids[t] for t in r.tags | extra_tags}) if arrays else [],
                created_at=now,
                updated_at=now,
            )
            for r in new
        ]
    )
    result.created += len(new)
    wanted_links: dict[str, set[str]] = {r.phone: r.tags | extra_tags for r in new}

    if not update:
        result.unchanged += len(batch) - len(new)
    else:
        current_tags: dict[int, set[int]] = {}
        for contact_id, tag_id in Links.objects.filter(contact_id__in=[e["id"] for e in existing.values()]).values_list(
            "contact_id", "tag_id"
        ):
            current_tags.setdefault(contact_id, set()).add(tag_id)
        changed, unsubscribe = [], []
        for r in batch:
            old = existing.get(r.phone)
            if old is None:
                continue
            name = r.name or old["name"]
            first_name = r.first_name or (derive_first_name(r.name) if r.name else old["first_name"])
            values = {
                "name": name,
                "first_name": first_name,
                "language": r.language or old["language"],
                "attributes": {**old["attributes"], **r.attributes},
            }
            tags = r.tags | extra_tags
            current = current_tags.get(old["id"], set())
            new_tag_ids = {tag_ids[t] for t in tags} - current
            opts_out = r.subscribed is False and old["subscription"] == Subscription.SUBSCRIBED
            if any(values[k] != old[k] for k in values) or new_tag_ids or opts_out:
                result.updated += 1
                array = sorted(current | new_tag_ids) if arrays else []
                changed.append(Contact(phone=r.phone, tag_ids=array, created_at=now, updated_at=now, **values))
                wanted_links[r.phone] = tags
                if opts_out:
                    unsubscribe.append(old["id"])
            else:
                result.unchanged += 1
        # INSERT ... ON CONFLICT (phone) DO UPDATE of the listed fields only:
        # subscription is not among them, so an update never resubscribes.
        contacts_bulk_write(
            changed,
            update_fields=["name", "first_name", "language", "attributes", "updated_at"]
            + (["tag_ids"] if arrays else []),
        )
        if unsubscribe:
            Contact.objects.filter(pk__in=unsubscribe, subscription=Subscription.SUBSCRIBED).update(
                subscription=Subscription.UNSUBSCRIBED,
                subscription_changed_at=now,
                subscription_reason=Contact.SubscriptionReason.IMPORT,
            )

    wanted_links = {phone: tags for phone, tags in wanted_links.items() if tags}
    if wanted_links:
        ids = dict(Contact.objects.filter(phone__in=list(wanted_links)).values_list("phone", "id"))
        Links.objects.bulk_create(
            [Links(contact_id=ids[phone], tag_id=tag_ids[t]) for phone, tags in wanted_links.items() for t in tags],
            ignore_conflicts=True,
        )
