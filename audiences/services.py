"""Writes on contacts: opt-out and opt-in (the webhook and the admin call these).

Each state change is one conditional UPDATE that names the state it moves
from, so calling twice changes nothing the second time and the return value
says whether this call changed anything.
"""

from datetime import datetime

from django.db import IntegrityError, transaction

from audiences.models import Contact
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


def contacts_set_subscription(*, contact_ids: list[int], subscribed: bool, reason: str, at: datetime) -> list[int]:
    """The admin's bulk version: move the given contacts that are in the other state; return the ids changed."""
    _check_reason(reason)
    target, source = (
        (Subscription.SUBSCRIBED, Subscription.UNSUBSCRIBED)
        if subscribed
        else (Subscription.UNSUBSCRIBED, Subscription.SUBSCRIBED)
    )
    with transaction.atomic():
        rows = Contact.objects.select_for_update().filter(pk__in=contact_ids, subscription=source)
        changed = list(rows.values_list("pk", flat=True))
        Contact.objects.filter(pk__in=changed, subscription=source).update(
            subscription=target, subscription_changed_at=at, subscription_reason=reason, updated_at=at
        )
    return changed


def contact_record_inbound(*, phone: str, at: datetime) -> bool:
    """Remember the last inbound message time (never moves backwards). True if a contact was updated."""
    from django.db.models import Q

    phone = normalize_phone(phone)
    return bool(
        Contact.objects.filter(Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=at), phone=phone).update(
            last_inbound_at=at
        )
    )
