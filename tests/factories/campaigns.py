"""Factories for the campaigns app: campaigns and recipients."""

import datetime

import factory

from campaigns.models import Campaign, Recipient
from tests.factories.audiences import AudienceFactory, ContactFactory
from tests.factories.whatsapp import MessageTemplateFactory


class CampaignFactory(factory.django.DjangoModelFactory):
    """A draft campaign on an approved two-parameter template, starting 2026-03-02 09:00 UTC."""

    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    template = factory.SubFactory(MessageTemplateFactory)
    header_parameters = factory.LazyFunction(lambda: ["{{contact.first_name|there}}"])
    parameters = factory.LazyFunction(lambda: ["{{contact.attributes.city|your city}}", "20%"])
    audience = factory.SubFactory(AudienceFactory)
    priority = 1
    start_at = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)


class RecipientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Recipient

    campaign = factory.SubFactory(CampaignFactory)
    contact = factory.SubFactory(ContactFactory)
    phone = factory.LazyAttribute(lambda r: r.contact.phone)
    position = factory.Sequence(lambda n: n)
