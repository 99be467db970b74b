import pytest

from whatsapp.backends.locmem import LocmemBackend


@pytest.fixture(autouse=True)
def outbox():
    """The locmem backend's outbox, empty for each test."""
    LocmemBackend.reset()
    yield LocmemBackend.outbox
    LocmemBackend.reset()
