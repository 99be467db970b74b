"""Erasing a contact (a person's erasure request): anonymised, never cascaded away (Promise 11, docs/architecture.md).

What an erasure keeps is what the promises need, and nothing that names the
person: the number stays on the suppression list (an erasure is an objection
to being messaged, Promise 8); the campaign's recipient rows stay, with a
keyed hash of the number instead of the number, so the counters still equal
a recount (Promise 4) and a campaign still never messages that number twice
(Promise 1) even if it is imported and opts in again. The Contact row, its
tags and the WhatsApp message ids (a wamid encodes the number) are removed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from audiences.models import Contact

logger = logging.getLogger(__name__)

ERASED_PREFIX = "#"
# Replaces a sent row's WhatsApp message id, which encodes the number. Not
# NULL: a late status would then find the row by its tracker (the recipient
# id, matched only while message_id is NULL) and write the id back.
ERASED_MESSAGE_ID = "erased:"
_CHUNK = 1000


def _hash_key() -> str:
    # Derived, not SECRET_KEY itself, so the hash never exposes the secret's
    # own digest. Rotating SECRET_KEY makes old hashes unmatchable: the
    # suppression list (plain numbers) still holds, "never twice" for
    # numbers erased before the rotation does not.
    return hmac.new(settings.SECRET_KEY.encode(), b"audiences.erasure.phone", hashlib.sha256).hexdigest()


def erased_phone(phone: str) -> str:
    """The keyed hash an erased recipient row keeps instead of `phone` (E.164)."""
    return ERASED_PREFIX + hashlib.sha256((_hash_key() + phone).encode()).hexdigest()


def erased_phone_sql(column: str) -> tuple[str, list]:
    """erased_phone() as a PostgreSQL expression over `column`, and its parameters (the key)."""
    return f"'{ERASED_PREFIX}' || encode(sha256(convert_to(%s || {column}, 'UTF8')), 'hex')", [_hash_key()]


@dataclass
class ErasureResult:
    contacts: int = 0
    recipients: int = 0  # recipient rows anonymised
    cancelled: int = 0  # of those, unsent rows (pending or queued) cancelled

    @property
    def summary(self) -> str:
        return _(
            "%(contacts)s contact(s) erased: %(recipients)s recipient row(s) anonymised "
            "(%(cancelled)s unsent one(s) cancelled); their numbers stay suppressed"
        ) % {"contacts": self.contacts, "recipients": self.recipients, "cancelled": self.cancelled}


def contact_erase(*, contact: Contact, now: datetime, by=None) -> ErasureResult:
    """Erase one contact; see contacts_erase."""
    return contacts_erase(contacts=Contact.objects.filter(pk=contact.pk), now=now, by=by)


def contacts_erase(*, contacts: QuerySet[Contact], now: datetime, by=None) -> ErasureResult:
    """Erase contacts: suppress their numbers, cancel and anonymise their recipient rows, delete the contacts.

    In one transaction per chunk of contacts: the numbers join the suppression
    list (reason "erasure"; an existing opt-out is kept as it was); their
    pending and queued recipients move to cancelled through
    campaigns.lifecycle.recipients_move, so the counters move with them; every
    recipient row of theirs (and any orphaned row with their number) gets the
    keyed hash instead of the number, loses its contact link and its message
    id (ERASED_MESSAGE_ID); then the Contact rows go. `by` (a user) gets an admin history entry per
    contact that names no one; the log says how many were erased.
    """
    result = ErasureResult()
    ids = list(contacts.order_by().values_list("pk", flat=True))
    for start in range(0, len(ids), _CHUNK):
        with transaction.atomic():
            _erase_chunk(ids[start : start + _CHUNK], now=now, by=by, result=result)
    if result.contacts:
        logger.info("erasure by %s at %s: %s", getattr(by, "pk", by), now.isoformat(), result.summary)
    return result


def _erase_chunk(ids: list[int], *, now: datetime, by, result: ErasureResult) -> None:
    from django.contrib.admin.models import DELETION, LogEntry
    from django.contrib.contenttypes.models import ContentType
    from django.db.models import Value
    from django.db.models.functions import Concat

    from audiences.services import suppress_contacts
    from campaigns import lifecycle
    from campaigns.models import QuotaReservation, Recipient
    from campaigns.quota import quota_release_claims
    from whatsapp.models import LastInbound

    R = Recipient.Status
    rows = list(Contact.objects.filter(pk__in=ids).select_for_update().values_list("pk", "phone"))
    if not rows:
        return
    ids, phones = [pk for pk, _ in rows], [phone for _, phone in rows]
    source = f"erasure by {by}" if by is not None else "erasure"
    suppress_contacts(
        Contact.objects.filter(pk__in=ids), reason=Contact.SubscriptionReason.ERASURE, at=now, source=source
    )

    theirs = Recipient.objects.filter(Q(contact_id__in=ids) | Q(contact__isnull=True, phone__in=phones))
    unsent: dict[tuple[int, str], list[int]] = {}
    for campaign_id, status, pk in theirs.filter(status__in=[R.PENDING, R.QUEUED]).values_list(
        "campaign_id", "status", "pk"
    ):
        unsent.setdefault((campaign_id, status), []).append(pk)
    for (campaign_id, status), pks in sorted(unsent.items()):
        if status == R.QUEUED:
            # A claim never handed to the network gives its quota back; one in
            # flight keeps it, and if its send is accepted after all, recording
            # it moves cancelled -> sent, counters with it (docs/architecture.md).
            quota_release_claims(
                recipient_ids=list(
                    Recipient.objects.filter(pk__in=pks, dispatched_at__isnull=True).values_list("pk", flat=True)
                )
            )
        result.cancelled += lifecycle.recipients_move(campaign_id=campaign_id, ids=pks, old=status, new=R.CANCELLED)

    plain = theirs.exclude(phone__startswith=ERASED_PREFIX)
    if connection.vendor == "postgresql":
        hashed, params = erased_phone_sql("phone")
        pks = list(plain.values_list("pk", flat=True))
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Recipient._meta.db_table} SET phone = {hashed}, contact_id = NULL, "  # noqa: S608 (names from the code, values as parameters)
                f"message_id = CASE WHEN message_id IS NULL THEN NULL ELSE '{ERASED_MESSAGE_ID}' || id END "
                "WHERE id = ANY(%s)",
                [*params, pks],
            )
            result.recipients += cursor.rowcount
    else:
        changed = [
            Recipient(
                pk=pk, phone=erased_phone(phone), contact_id=None, message_id=message_id and ERASED_MESSAGE_ID + str(pk)
            )
            for pk, phone, message_id in plain.values_list("pk", "phone", "message_id")
        ]
        Recipient.objects.bulk_update(changed, ["phone", "contact", "message_id"], batch_size=500)
        result.recipients += len(changed)
    Recipient.objects.filter(contact_id__in=ids).update(contact_id=None)  # rows already hashed by an earlier erasure
    # The quota ledger keeps each message's phone (campaigns/quota.py counts people): the same keyed hash, so the
    # limit still counts them once; the time they last wrote to us goes (they are counted again, never fewer).
    for phone in phones:
        QuotaReservation.objects.filter(phone=phone).update(phone=erased_phone(phone))
    LastInbound.objects.filter(phone__in=phones).delete()

    content_type = ContentType.objects.get_for_model(Contact)
    history = LogEntry.objects.filter(content_type=content_type, object_id__in=[str(pk) for pk in ids])
    history.update(object_repr=Concat(Value("erased contact #"), "object_id"))  # earlier entries named the person
    if by is not None:
        LogEntry.objects.bulk_create(
            [
                LogEntry(
                    action_time=now,
                    user_id=by.pk,
                    content_type=content_type,
                    object_id=str(pk),
                    object_repr=f"erased contact #{pk}",
                    action_flag=DELETION,
                    change_message="Erased: number suppressed, recipient rows anonymised, contact removed",
                )
                for pk in ids
            ]
        )
    Contact.objects.filter(pk__in=ids).delete()
    result.contacts += len(ids)
