"""Opt-out and opt-in services: idempotent, recording when and why."""

import datetime as dt

import pytest

from audiences.models import Contact
from audiences.phones import InvalidPhoneNumber
from audiences.services import contact_record_inbound, contact_resubscribe, contact_unsubscribe
from tests.factories.audiences import ContactFactory

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(hours=1)
R = Contact.SubscriptionReason


def test_unsubscribe_is_idempotent_and_records_when_and_why():
    ContactFactory(phone="+14155550123")
    # WhatsApp gives the number without "+": the lookup normalises it.
    assert contact_unsubscribe(phone="14155550123", reason=R.KEYWORD, at=T0) is True
    assert contact_unsubscribe(phone="+1 415 555 0123", reason=R.API_ERROR_131050, at=T1) is False
    contact = Contact.objects.get(phone="+14155550123")
    assert contact.subscription == Contact.Subscription.UNSUBSCRIBED
    assert (contact.subscription_changed_at, contact.subscription_reason) == (T0, R.KEYWORD)


def test_unsubscribing_an_unknown_phone_remembers_the_opt_out():
    assert contact_unsubscribe(phone="14155550199", reason=R.USER_PREFERENCES, at=T0) is True
    contact = Contact.objects.get(phone="+14155550199")
    assert not contact.is_subscribed
    assert contact.subscription_reason == R.USER_PREFERENCES
    assert contact_unsubscribe(phone="14155550199", reason=R.USER_PREFERENCES, at=T1) is False


def test_resubscribe_is_idempotent_and_never_creates_contacts():
    ContactFactory(phone="+14155550123", unsubscribed=True)
    assert contact_resubscribe(phone="14155550123", reason=R.KEYWORD, at=T1) is True
    assert contact_resubscribe(phone="14155550123", reason=R.KEYWORD, at=T1) is False
    contact = Contact.objects.get(phone="+14155550123")
    assert contact.is_subscribed
    assert (contact.subscription_changed_at, contact.subscription_reason) == (T1, R.KEYWORD)
    assert contact_resubscribe(phone="14155550100", reason=R.KEYWORD, at=T1) is False
    assert not Contact.objects.filter(phone="+14155550100").exists()


def test_subscription_services_refuse_bad_input():
    with pytest.raises(InvalidPhoneNumber):
        contact_unsubscribe(phone="12ab", reason=R.KEYWORD, at=T0)
    with pytest.raises(ValueError, match="unknown subscription reason"):
        contact_unsubscribe(phone="14155550123", reason="because", at=T0)


def test_last_inbound_time_never_moves_backwards():
    ContactFactory(phone="+14155550123")
    assert contact_record_inbound(phone="14155550123", at=T1) is True
    assert contact_record_inbound(phone="14155550123", at=T0) is False
    assert Contact.objects.get(phone="+14155550123").last_inbound_at == T1
