"""Factories for the audiences app: tags, contacts, audiences."""

import datetime

import factory

from audiences.models import Audience, Contact, Suppression, Tag


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"tag-{n}")


class ContactFactory(factory.django.DjangoModelFactory):
    """A subscribed contact with a valid US number: +1 415 200 0000 + n."""

    class Meta:
        model = Contact
        django_get_or_create = ("phone",)
        skip_postgeneration_save = True

    phone = factory.Sequence(lambda n: f"+1415{2000000 + n:07d}")
    name = factory.Faker("name")
    first_name = factory.LazyAttribute(lambda c: c.name.split()[0] if c.name else "")
    language = "en_US"
    attributes = factory.LazyFunction(dict)
    subscription = Contact.Subscription.SUBSCRIBED

    class Params:
        unsubscribed = factory.Trait(
            subscription=Contact.Subscription.UNSUBSCRIBED,
            subscription_reason=Contact.SubscriptionReason.KEYWORD,
            subscription_changed_at=factory.Faker("date_time_this_year", tzinfo=datetime.UTC),
        )

    @factory.post_generation
    def tags(self, create, extracted, **kwargs):
        if create and extracted:
            self.tags.add(*[TagFactory(name=t) if isinstance(t, str) else t for t in extracted])

    @factory.post_generation
    def suppressed(self, create, extracted, **kwargs):
        """An unsubscribed contact's phone is on the suppression list, as the services keep it."""
        if create and self.subscription == Contact.Subscription.UNSUBSCRIBED:
            Suppression.objects.get_or_create(
                phone=self.phone,
                defaults={
                    "reason": self.subscription_reason or Contact.SubscriptionReason.KEYWORD,
                    "suppressed_at": self.subscription_changed_at or datetime.datetime.now(datetime.UTC),
                },
            )


class AudienceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Audience

    name = factory.Sequence(lambda n: f"Audience {n}")
    rules = factory.LazyFunction(lambda: {"everyone": True})
