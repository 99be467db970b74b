"""Factories for test data, in one place: one module per app, re-exported here."""

from tests.factories.users import UserFactory

__all__ = ["UserFactory"]
