"""Factories for test data, in one place (factory-boy)."""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

MANAGERS = "Campaign managers"  # the roles created by campaigns/migrations/0006_operator_roles.py
VIEWERS = "Campaign viewers"


class UserFactory(factory.django.DjangoModelFactory):
    """A staff user; `UserFactory(groups=[VIEWERS])` puts them in the migration's groups (looked up by name)."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"operator{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("correct horse battery staple")
    is_staff = True

    @factory.post_generation
    def groups(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(*[Group.objects.get(name=g) if isinstance(g, str) else g for g in extracted])
