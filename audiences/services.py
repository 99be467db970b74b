"""Writes on contacts: opt-out and opt-in (the webhook and the admin call these), edits, CSV import.

An opt-out is a fact about a phone number: a Suppression row, written by every
opt-out path, checked by the send batch at claim time (Promise 8,
docs/architecture.md). Contact.subscription follows it in the same
transaction. Each state change is one conditional UPDATE that names the state
it moves from, so calling twice changes nothing the second time and the
return value says whether this call changed anything.
"""

import csv
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, TextIO

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery

from audiences.bulk import contacts_bulk_write
from audiences.imports import ENCODING_NAMES, ContactsFile, InvalidRow, ParsedContact
from audiences.models import Contact, Suppression, Tag, default_language, derive_first_name
from audiences.phones import normalize_phone
from outbound.models import EventType
from outbound.payloads import contact_data
from outbound.services import event_wanted, events_emit

logger = logging.getLogger(__name__)

Subscription = Contact.Subscription
Reason = Contact.SubscriptionReason
# The explicit opt-ins that may lift a suppression (Promise 8): START, a
# `resume` preference, an operator's logged action. An import never does.
OPT_IN_REASONS = frozenset({Reason.KEYWORD, Reason.USER_PREFERENCES, Reason.ADMIN})
# Who records an opt-out, when the caller does not say.
DEFAULT_SOURCE = {
    Reason.KEYWORD: "whatsapp: inbound keyword",
    Reason.USER_PREFERENCES: "whatsapp: user_preferences",
    Reason.API_ERROR_131050: "whatsapp: error 131050",
    Reason.ADMIN: "admin",
    Reason.IMPORT: "import",
    Reason.ERASURE: "erasure",
}


def _check_reason(reason: str) -> str:
    if reason not in Reason.values:
        raise ValueError(f"unknown subscription reason {reason!r}; use one of {Reason.values}")
    return reason


def _check_opt_in(reason: str) -> str:
    if _check_reason(reason) not in OPT_IN_REASONS:
        raise ValueError(f"{reason!r} is not an explicit opt-in; only {sorted(OPT_IN_REASONS)} lift a suppression")
    return reason


def suppress_contacts(contacts: QuerySet[Contact], *, reason: str, at: datetime, source: str) -> int:
    """Add the contacts' phones to the suppression list in one INSERT ... SELECT; returns how many were new.

    A phone already suppressed keeps its row: the first opt-out's time and reason stand.
    """
    ids_sql, ids_params = contacts.order_by().values("pk").query.sql_with_params()
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {qn(Suppression._meta.db_table)} (phone, reason, source, suppressed_at) "  # noqa: S608 (names from the models, values as parameters)
            f"SELECT c.phone, %s, %s, %s FROM {qn(Contact._meta.db_table)} c WHERE c.id IN ({ids_sql}) "
            "ON CONFLICT (phone) DO NOTHING RETURNING phone",
            [reason, source[:200], connection.ops.adapt_datetimefield_value(at), *ids_params],
        )
        phones = [phone for (phone,) in cursor.fetchall()]
    # An erasure is not the person's opt-out, and their number must not travel to other systems once erased.
    if reason != Reason.ERASURE:
        _opted_out(phones, reason=reason, at=at, source=source[:200])
    return len(phones)


def _opted_out(phones: list[str], *, reason: str, at: datetime, source: str) -> None:
    """contact.opted_out for each phone newly suppressed (docs/architecture.md, "Outbound events")."""
    items = [contact_data(phone=phone, reason=reason, at=at, source=source) for phone in phones]
    events_emit(event_type=EventType.CONTACT_OPTED_OUT, items=items, at=at)


def _opted_in(phones: list[str], *, reason: str, at: datetime) -> None:
    """contact.opted_in for each phone whose suppression an explicit opt-in lifted."""
    items = [contact_data(phone=phone, reason=reason, at=at) for phone in phones]
    events_emit(event_type=EventType.CONTACT_OPTED_IN, items=items, at=at)


def contacts_follow_suppression(contacts: QuerySet[Contact], *, at: datetime, lift: bool = False) -> int:
    """Make Contact.subscription say what the suppression list says of each contact's phone; returns rows changed.

    Subscribed contacts of a suppressed phone become unsubscribed with the
    suppression's reason and time. With `lift` (a phone edited to a number
    that never opted out), unsubscribed contacts of an unsuppressed phone
    become subscribed, recorded as the operator's change at `at`.
    """
    of_phone = Suppression.objects.filter(phone=OuterRef("phone"))
    rows = Contact.objects.filter(pk__in=contacts.order_by().values("pk"))
    changed = rows.filter(Exists(of_phone), subscription=Subscription.SUBSCRIBED).update(
        subscription=Subscription.UNSUBSCRIBED,
        subscription_reason=Subquery(of_phone.values("reason")[:1]),
        subscription_changed_at=Subquery(of_phone.values("suppressed_at")[:1]),
        updated_at=at,
    )
    if lift:
        changed += rows.filter(~Exists(of_phone), subscription=Subscription.UNSUBSCRIBED).update(
            subscription=Subscription.SUBSCRIBED,
            subscription_reason=Reason.ADMIN,
            subscription_changed_at=at,
            updated_at=at,
        )
    return changed


def contact_unsubscribe(*, phone: str, reason: str, at: datetime, source: str = "") -> bool:
    """Suppress the phone and unsubscribe its contact, recording when and why. True only if this call changed either.

    The suppression is what the send batch checks (Promise 8); the contact's
    subscription follows it in the same transaction. An unknown phone that was
    not suppressed yet is also created as an unsubscribed contact, so the
    operator sees the opt-out in the contact list; an already suppressed one
    (an erased contact's number, say) is not brought back.
    """
    phone = normalize_phone(phone)
    _check_reason(reason)
    source = source or DEFAULT_SOURCE.get(reason, "")
    with transaction.atomic():
        changed = Contact.objects.filter(phone=phone, subscription=Subscription.SUBSCRIBED).update(
            subscription=Subscription.UNSUBSCRIBED,
            subscription_changed_at=at,
            subscription_reason=reason,
            updated_at=at,
        )
        _, suppressed = Suppression.objects.get_or_create(
            phone=phone, defaults={"reason": reason, "source": source[:200], "suppressed_at": at}
        )
        if suppressed:
            _opted_out([phone], reason=reason, at=at, source=source[:200])
        if changed or not suppressed:
            return bool(changed or suppressed)
        try:
            with transaction.atomic():
                Contact.objects.get_or_create(
                    phone=phone,
                    defaults={
                        "subscription": Subscription.UNSUBSCRIBED,
                        "subscription_changed_at": at,
                        "subscription_reason": reason,
                    },
                )
        except IntegrityError:  # created concurrently by someone else (an import)
            contacts_follow_suppression(Contact.objects.filter(phone=phone), at=at)
    return True


def contact_resubscribe(*, phone: str, reason: str, at: datetime) -> bool:
    """An explicit opt-in: lift the phone's suppression, resubscribe its contact. True only if this call changed either.

    `reason` must be an explicit opt-in (START, a resume preference, an
    operator's action): an import is refused. An unknown phone is not created:
    contacts come from the operator's base.
    """
    phone = normalize_phone(phone)
    _check_opt_in(reason)
    with transaction.atomic():
        changed = Contact.objects.filter(phone=phone, subscription=Subscription.UNSUBSCRIBED).update(
            subscription=Subscription.SUBSCRIBED, subscription_changed_at=at, subscription_reason=reason, updated_at=at
        )
        lifted, _ = Suppression.objects.filter(phone=phone).delete()
        if lifted:
            _opted_in([phone], reason=reason, at=at)
    if lifted:
        logger.info("suppression of %s lifted (%s)", phone, reason)
    return bool(changed or lifted)


def contacts_set_subscription(
    *, contacts: QuerySet[Contact], subscribed: bool, reason: str, at: datetime, source: str = ""
) -> list[int]:
    """The admin's bulk version: move those of `contacts` in the other state; return the ids this call changed.

    Unsubscribing suppresses every selected phone; resubscribing (an explicit
    opt-in: the caller logs it) lifts their suppressions.
    """
    if subscribed:
        _check_opt_in(reason)
    else:
        _check_reason(reason)
    target, source_state = (
        (Subscription.SUBSCRIBED, Subscription.UNSUBSCRIBED)
        if subscribed
        else (Subscription.UNSUBSCRIBED, Subscription.SUBSCRIBED)
    )
    with transaction.atomic():
        # Through a pk subquery: the admin's queryset may carry DISTINCT or
        # joins that FOR UPDATE refuses.
        selected = Contact.objects.filter(pk__in=contacts.order_by().values("pk"))
        rows = selected.filter(subscription=source_state)
        changed = list(rows.select_for_update().values_list("pk", flat=True))
        Contact.objects.filter(pk__in=changed, subscription=source_state).update(
            subscription=target, subscription_changed_at=at, subscription_reason=reason, updated_at=at
        )
        if subscribed:
            lifting = Suppression.objects.filter(phone__in=selected.values("phone"))
            if event_wanted(event_type=EventType.CONTACT_OPTED_IN):
                _opted_in(list(lifting.values_list("phone", flat=True)), reason=reason, at=at)
            lifting.delete()
        else:
            suppress_contacts(selected, reason=reason, at=at, source=source or DEFAULT_SOURCE.get(reason, ""))
    return changed


@dataclass
class ContactSaved:
    moved: int = 0  # unsent recipients now addressed to the new phone
    cancelled: int = 0  # unsent recipients cancelled: their campaign already had the new phone
    followed: bool = False  # the subscription changed to follow the phone's suppression


def contact_save(*, contact: Contact, now: datetime) -> ContactSaved:
    """Save an operator's edit of a contact (the admin's form); the subscription follows the phone's suppression.

    A new contact whose phone is suppressed is saved unsubscribed. A changed
    phone (Promise 8, docs/architecture.md) moves the contact's pending
    recipients to the new phone, so a campaign never messages the old number,
    which may now be someone else's or have opted out since; where the
    campaign already has the new phone (or its erased hash) the old row is
    cancelled instead, as one phone is never messaged twice per campaign.
    Queued rows may be in flight and keep their phone; sent rows keep it as
    the record of where the message went. The contact then follows the new
    phone's suppression: unsubscribed if that number opted out, subscribed if
    it never did (an opt-out belongs to the number). The subscription columns
    are never written from the form's copy, so an opt-out arriving meanwhile stands.
    """
    keep = {"id", "subscription", "subscription_changed_at", "subscription_reason", "last_inbound_at", "tag_ids"}
    with transaction.atomic():
        if contact.pk is None:
            contact.save()
            followed = contacts_follow_suppression(Contact.objects.filter(pk=contact.pk), at=now)
            result = ContactSaved(followed=bool(followed))
        else:
            old_phone = Contact.objects.select_for_update().values_list("phone", flat=True).get(pk=contact.pk)
            contact.save(
                update_fields=[f.name for f in Contact._meta.concrete_fields if f.name not in keep | {"created_at"}]
            )
            result = ContactSaved()
            if old_phone != contact.phone:
                result = _recipients_follow_phone(contact_id=contact.pk, new_phone=contact.phone)
                followed = contacts_follow_suppression(Contact.objects.filter(pk=contact.pk), at=now, lift=True)
                result.followed = bool(followed)
                logger.info(
                    "contact %s: phone changed; %d unsent recipient(s) moved, %d cancelled",
                    contact.pk,
                    result.moved,
                    result.cancelled,
                )
    fresh = Contact.objects.filter(pk=contact.pk).values(*sorted(keep - {"id", "tag_ids"}), "updated_at").get()
    for name, value in fresh.items():
        setattr(contact, name, value)
    return result


def _recipients_follow_phone(*, contact_id: int, new_phone: str) -> ContactSaved:
    from audiences.erasure import erased_phone
    from campaigns import lifecycle
    from campaigns.models import Recipient

    R = Recipient.Status
    pending = Recipient.objects.filter(contact_id=contact_id, status=R.PENDING).exclude(phone=new_phone)
    taken = Recipient.objects.filter(
        campaign_id=OuterRef("campaign_id"), phone__in=[new_phone, erased_phone(new_phone)]
    )
    # A row claimed meanwhile is queued, no longer pending: the UPDATE leaves it.
    moved = Recipient.objects.filter(pk__in=pending.exclude(Exists(taken)).values("pk"), status=R.PENDING).update(
        phone=new_phone
    )
    cancelled = 0
    left: dict[int, list[int]] = {}
    for campaign_id, pk in pending.values_list("campaign_id", "pk"):
        left.setdefault(campaign_id, []).append(pk)
    for campaign_id, pks in sorted(left.items()):
        cancelled += lifecycle.recipients_move(campaign_id=campaign_id, ids=pks, old=R.PENDING, new=R.CANCELLED)
    return ContactSaved(moved=moved, cancelled=cancelled)


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
    invalid: list[InvalidRow] = field(default_factory=list)  # the first MAX_INVALID_KEPT; invalid_count has them all
    rows: int = 0
    invalid_count: int = 0
    merged: int = 0  # rows whose phone an earlier row of the file already had: merged into it
    format: str = "csv"
    encoding: str = ""
    encoding_note: str = ""
    delimiter: str = ""
    region: str = ""
    columns: list[dict] = field(default_factory=list)  # header -> target, for the preview's column mapping
    sample: list[dict] = field(default_factory=list)  # the first rows as they will be stored

    @property
    def summary(self) -> str:
        return f"created={self.created} updated={self.updated} unchanged={self.unchanged} invalid={self.invalid_count}"

    def add_invalid(self, row: InvalidRow) -> None:
        self.invalid_count += 1
        if len(self.invalid) < MAX_INVALID_KEPT:
            self.invalid.append(row)

    def as_dict(self) -> dict:
        """JSON for the background job's result (the admin's preview and outcome pages)."""
        return {
            **{k: getattr(self, k) for k in ("created", "updated", "unchanged", "rows", "invalid_count", "merged")},
            **{k: getattr(self, k) for k in ("format", "encoding", "encoding_note", "delimiter", "region")},
            "summary": self.summary,
            "encoding_name": str(ENCODING_NAMES.get(self.encoding, self.encoding)),
            "columns": self.columns,
            "sample": self.sample,
            "invalid": [{"line": r.line, "reason": r.message} for r in self.invalid],
        }


MAX_INVALID_KEPT = 1000
SAMPLE_ROWS = 10
REJECTED_HEADER = ["line", "reason"]


def contacts_import(
    *,
    file: BinaryIO,
    now: datetime,
    tag: str | None = None,
    update: bool = False,
    dry_run: bool = False,
    region: str | None = None,
    encoding: str | None = None,
    decimal: str | None = None,
    language: str | None = None,
    rejected: TextIO | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    batch_size: int = 2000,
) -> ImportResult:
    """Import a contacts file (CSV or .xlsx) in one streamed pass (Promise 7: bad rows reported by line, good rows
    imported).

    New phones are created (subscribed unless the file says no or the phone is
    suppressed: Promise 8); existing ones are left alone, or with `update` get
    the file's name, language, attributes (merged) and tags (added). An import
    never resubscribes anyone nor lifts a suppression. An opt-out in the file
    is recorded with or without `update`: the number joins the suppression
    list and its contact is unsubscribed (counted as updated). Everything
    is one transaction; `dry_run` rolls it back and returns the same counts,
    which is what the admin's preview shows. Raises ImportFileError, before
    writing anything, when the file as a whole is unusable (see
    audiences/imports.py: encoding, format and delimiter are decided for the
    whole file).

    Memory does not grow with the file: rows are read and written
    `batch_size` phones at a time; only the first MAX_INVALID_KEPT bad rows
    are kept, every one goes to `rejected` (a CSV: line, reason, the row's
    cells) when given. Rows of one phone are merged as if the file held one
    row (later values win, tags add up, an opt-out wins): within a batch in
    memory, across batches through a temporary table of the phones already
    written (`_SeenPhones`), so a later row of a contact this import created
    updates it even without `update`. Such a phone counts once, by its first
    batch's outcome, and its later rows count as `merged`. On PostgreSQL each
    contact row is written once per batch: the import fills Contact.tag_ids
    with the tags it links, so the link triggers have nothing left to update.
    `region`: the country of national numbers (default PHONE_DEFAULT_REGION);
    `language`: the language of the contacts it creates from rows without one
    (default CONTACT_DEFAULT_LANGUAGE); an existing contact keeps its own.
    """
    reader = ContactsFile(file, region=region, encoding=encoding, decimal=decimal)
    result = ImportResult(
        format=reader.format,
        encoding=reader.encoding,
        encoding_note=reader.encoding_note,
        delimiter=reader.delimiter,
        region=(region or settings.PHONE_DEFAULT_REGION or "").upper(),
        columns=[{"header": c.header, "target": c.target, "meaning": c.meaning} for c in reader.columns],
    )
    writer = csv.writer(rejected) if rejected is not None else None
    if writer:
        writer.writerow(REJECTED_HEADER + [c.header for c in reader.columns])
    extra_tags = {tag.strip()} if tag and tag.strip() else set()
    tag_ids: dict[str, int] = {}
    with transaction.atomic():
        seen = _SeenPhones()
        batch: dict[str, ParsedContact] = {}
        for row in reader.rows():
            result.rows += 1
            if isinstance(row, InvalidRow):
                result.add_invalid(row)
                if writer:
                    writer.writerow([row.line, row.message, *(row.cells or [])])
                continue
            if len(result.sample) < SAMPLE_ROWS:
                stored = {
                    "language": row.language or language or default_language(),
                    "first_name": row.first_name or derive_first_name(row.name),
                }
                result.sample.append({**row.as_dict(), **stored})
            if row.phone in batch:
                batch[row.phone].merge(row)
                result.merged += 1
                continue
            batch[row.phone] = row
            if len(batch) >= batch_size:
                _import_merged_batch(list(batch.values()), seen, tag_ids, extra_tags, update, now, result, language)
                batch = {}
                if progress:
                    progress(*reader.progress())
        _import_merged_batch(list(batch.values()), seen, tag_ids, extra_tags, update, now, result, language)
        seen.drop()
        if progress:
            progress(*reader.progress())
        if dry_run:
            transaction.set_rollback(True)
    return result


def _import_merged_batch(records, seen, tag_ids, extra_tags, update, now, result, language=None) -> None:
    """Write one batch: phones new to this import as the options say; phones an earlier batch wrote merged into them."""
    if not records:
        return
    names = set().union(extra_tags, *(r.tags for r in records)) - set(tag_ids)
    tag_ids.update(_ensure_tags(names))
    earlier = seen.lookup([r.phone for r in records])  # {phone: created by this import}
    fresh = [r for r in records if r.phone not in earlier]
    if language:
        _default_language_of_new(fresh, language)
    created = _import_batch(fresh, tag_ids, extra_tags, update, now, result)
    seen.add([(r.phone, r.phone in created) for r in fresh])
    again = [r for r in records if r.phone in earlier and (update or earlier[r.phone])]
    if again:
        # A contact this import created takes its later rows as an update,
        # exactly as if they had been merged before writing.
        scratch = ImportResult()
        for made_here in (True, False):
            part = [r for r in again if earlier[r.phone] is made_here]
            _import_batch(part, tag_ids, extra_tags, True, now, scratch)
    result.merged += len(records) - len(fresh)


def _default_language_of_new(records, language: str) -> None:
    """Rows without a language that will create a contact get `language`; those of existing contacts stay empty."""
    unnamed = [r for r in records if not r.language]
    if not unnamed:
        return
    existing = set(Contact.objects.filter(phone__in=[r.phone for r in unnamed]).values_list("phone", flat=True))
    for r in unnamed:
        if r.phone not in existing:
            r.language = language


class _SeenPhones:
    """The phones this import has written, in a temporary table of the import's transaction (never in memory)."""

    def __init__(self):
        self.table = f"import_seen_{uuid.uuid4().hex[:12]}"
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TEMPORARY TABLE {self.table} (phone varchar(20) PRIMARY KEY, created boolean)")

    def lookup(self, phones: list[str]) -> dict[str, bool]:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f"SELECT phone, created FROM {self.table} WHERE phone = ANY(%s)", [phones])  # noqa: S608
            else:
                marks = ", ".join(["%s"] * len(phones))
                cursor.execute(f"SELECT phone, created FROM {self.table} WHERE phone IN ({marks})", phones)  # noqa: S608
            return {phone: bool(created) for phone, created in cursor.fetchall()}

    def add(self, rows: list[tuple[str, bool]]) -> None:
        if not rows:
            return
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    f"INSERT INTO {self.table} SELECT * FROM unnest(%s::varchar[], %s::boolean[])",  # noqa: S608
                    [[p for p, _ in rows], [c for _, c in rows]],
                )
            else:
                cursor.executemany(f"INSERT INTO {self.table} VALUES (%s, %s)", rows)  # noqa: S608

    def drop(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE {self.table}")


def _ensure_tags(names: set[str]) -> dict[str, int]:
    if not names:
        return {}
    Tag.objects.bulk_create([Tag(name=n) for n in sorted(names)], ignore_conflicts=True)
    return dict(Tag.objects.filter(name__in=names).values_list("name", "id"))


def _import_batch(batch, tag_ids, extra_tags, update, now, result) -> set[str]:
    """Write one batch of distinct phones; the phones it created."""
    if not batch:
        return set()
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
    # The file's opt-outs join the suppression list first; then every phone of
    # the batch that is suppressed (now or by an earlier opt-out) comes in or
    # stays unsubscribed, whatever the file says.
    opting_out = [r.phone for r in batch if r.subscribed is False]
    announce = bool(opting_out) and event_wanted(event_type=EventType.CONTACT_OPTED_OUT)
    known = set(Suppression.objects.filter(phone__in=opting_out).values_list("phone", flat=True)) if announce else ()
    Suppression.objects.bulk_create(
        [
            Suppression(phone=phone, reason=Reason.IMPORT, source=DEFAULT_SOURCE[Reason.IMPORT], suppressed_at=now)
            for phone in opting_out
        ],
        ignore_conflicts=True,
    )
    if announce:
        new_opt_outs = [phone for phone in opting_out if phone not in known]
        _opted_out(new_opt_outs, reason=Reason.IMPORT, at=now, source=DEFAULT_SOURCE[Reason.IMPORT])
    suppressed = {
        phone: (reason, at)
        for phone, reason, at in Suppression.objects.filter(phone__in=phones).values_list(
            "phone", "reason", "suppressed_at"
        )
    }
    # A phone created meanwhile (by the webhook) is left as it is.
    contacts_bulk_write(
        [
            Contact(
                phone=r.phone,
                name=r.name,
                first_name=r.first_name or derive_first_name(r.name),
                language=r.language or default_language(),
                attributes=r.attributes,
                subscription=Subscription.UNSUBSCRIBED if r.phone in suppressed else Subscription.SUBSCRIBED,
                subscription_changed_at=suppressed[r.phone][1] if r.phone in suppressed else now,
                subscription_reason=suppressed[r.phone][0] if r.phone in suppressed else Reason.IMPORT,
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
        opting_out = [
            existing[r.phone]["id"]
            for r in batch
            if r.phone in existing
            and r.subscribed is False
            and existing[r.phone]["subscription"] == Subscription.SUBSCRIBED
        ]
        result.updated += len(opting_out)
        result.unchanged += len(batch) - len(new) - len(opting_out)
    else:
        current_tags: dict[int, set[int]] = {}
        for contact_id, tag_id in Links.objects.filter(contact_id__in=[e["id"] for e in existing.values()]).values_list(
            "contact_id", "tag_id"
        ):
            current_tags.setdefault(contact_id, set()).add(tag_id)
        changed = []
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
            else:
                result.unchanged += 1
        # INSERT ... ON CONFLICT (phone) DO UPDATE of the listed fields only:
        # subscription is not among them, so an update never resubscribes.
        contacts_bulk_write(
            changed,
            update_fields=["name", "first_name", "language", "attributes", "updated_at"]
            + (["tag_ids"] if arrays else []),
        )

    # The existing contacts of a suppressed phone (the file's opt-outs among them) follow it.
    contacts_follow_suppression(Contact.objects.filter(phone__in=phones), at=now)

    wanted_links = {phone: tags for phone, tags in wanted_links.items() if tags}
    if wanted_links:
        ids = dict(Contact.objects.filter(phone__in=list(wanted_links)).values_list("phone", "id"))
        Links.objects.bulk_create(
            [Links(contact_id=ids[phone], tag_id=tag_ids[t]) for phone, tags in wanted_links.items() for t in tags],
            ignore_conflicts=True,
        )
    return {r.phone for r in new}


def contact_upsert(
    *, phone: str, now: datetime, fields: dict, tags: list[str] | None = None
) -> tuple[Contact, bool, ContactSaved]:
    """Create the contact of `phone`, or update the one that has it (the API's create-or-update by phone).

    The phone is normalised and the model validated as the admin's form does
    (Contact.full_clean); the save is `contact_save`'s, so a suppressed number
    stays unsubscribed (Promise 8). `fields` are the editable columns (name,
    first_name, language, attributes); `tags`, when given, replace the
    contact's tags (created by name when new). Returns (contact, created, saved).
    """
    phone = normalize_phone(phone)
    with transaction.atomic():
        contact = Contact.objects.select_for_update().filter(phone=phone).first()
        created = contact is None
        if created:
            contact = Contact(phone=phone)
        for name, value in fields.items():
            setattr(contact, name, value)
        if "name" in fields and "first_name" not in fields and not created:
            contact.first_name = ""  # derived again from the new name by clean()
        contact.full_clean(exclude=["tags", "tag_ids"], validate_unique=False)
        saved = contact_save(contact=contact, now=now)
        if tags is not None:
            ids = _ensure_tags({name.strip() for name in tags if name.strip()})
            contact.tags.set(list(ids.values()))
    return contact, created, saved
