"""Factories for test data, in one place: one module per app, re-exported here."""

from tests.factories.audiences import AudienceFactory, ContactFactory, TagFactory
from tests.factories.campaigns import CampaignFactory, RecipientFactory
from tests.factories.users import UserFactory
from tests.factories.whatsapp import MessageTemplateFactory

__all__ = [
    "AudienceFactory",
    "CampaignFactory",
    "ContactFactory",
    "MessageTemplateFactory",
    "RecipientFactory",
    "TagFactory",
    "UserFactory",
]
