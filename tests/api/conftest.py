"""API fixtures: keys of a manager and a viewer (the roles' groups), and a client that sends them."""

import pytest
from rest_framework.test import APIClient

from api.keys import api_key_create
from tests.factories.users import MANAGERS, VIEWERS, UserFactory


def ensure_roles() -> None:
    """The roles' groups as the migrations leave them (a transactional test before this one flushed them)."""
    import importlib
    from types import SimpleNamespace

    from django.apps import apps
    from django.db import connection

    editor = SimpleNamespace(connection=connection)
    importlib.import_module("campaigns.migrations.0006_operator_roles").create_roles(apps, editor)
    importlib.import_module("audiences.migrations.0005_contact_view_phone_numbers").grant_to_managers(apps, editor)
    importlib.import_module("campaigns.migrations.0015_engagement_roles").grant_roles(apps, editor)
    importlib.import_module("whatsapp.migrations.0011_sender_roles").grant_roles(apps, editor)


@pytest.fixture
def manager_key(db):
    ensure_roles()
    _key, raw = api_key_create(user=UserFactory(username="api-manager", groups=[MANAGERS]), name="test")
    return raw


@pytest.fixture
def viewer_key(db):
    ensure_roles()
    _key, raw = api_key_create(user=UserFactory(username="api-viewer", groups=[VIEWERS]), name="test")
    return raw


def client_for(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def manager_api(manager_key):
    return client_for(manager_key)


@pytest.fixture
def viewer_api(viewer_key):
    return client_for(viewer_key)
