import pytest
from django.urls import reverse

from tests.whatsapp import payloads
from whatsapp import signals
from whatsapp.backends.locmem import LocmemBackend


@pytest.fixture(autouse=True)
def _clean_locmem_outbox():
    LocmemBackend.reset()
    yield
    LocmemBackend.reset()


class Recorder:
    """Collects the events every whatsapp signal sends during a test."""

    def __init__(self):
        self.events = []
        self.senders = []

    def __call__(self, sender, event, **kwargs):
        self.senders.append(sender)
        self.events.append(event)

    def of(self, event_type):
        return [event for event in self.events if event.event_type == event_type]


@pytest.fixture
def received():
    recorder = Recorder()
    for signal in (signals.status_received, signals.message_received, signals.preference_changed):
        signal.connect(recorder, weak=False, dispatch_uid=f"test-recorder-{id(signal)}")
    yield recorder
    for signal in (signals.status_received, signals.message_received, signals.preference_changed):
        signal.disconnect(dispatch_uid=f"test-recorder-{id(signal)}")


@pytest.fixture
def post_webhook(client, django_capture_on_commit_callbacks):
    """POST a signed body; the processing task enqueued on commit runs before this returns (tests/conftest.py)."""
    url = reverse("whatsapp:webhook")

    def post(raw: bytes, *, signature=None, secret=None, **extra):
        headers = {}
        if signature is not False:
            secret = payloads.TEST_APP_SECRET if secret is None else secret
            headers["X-Hub-Signature-256"] = signature or payloads.signature(raw, secret)
        with django_capture_on_commit_callbacks(execute=True):
            return client.generic("POST", url, raw, content_type="application/json", headers=headers, **extra)

    return post


@pytest.fixture
def sandbox():
    """A running Cloud API sandbox on a free port, no webhooks (tests that want them pass webhook_url)."""
    from whatsapp.sandbox import SandboxServer

    servers = []

    def start(**options):
        options.setdefault("webhook_url", None)
        options.setdefault("app_secret", payloads.TEST_APP_SECRET)
        options.setdefault("access_token", "test-access-token")
        options.setdefault("seed", 4)
        options.setdefault("batch_wait_ms", 5)
        server = SandboxServer(**options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def cloud_backend(settings):
    """Point the Cloud API backend at a sandbox: `cloud_backend(sandbox_server)` returns the configured backend."""
    from whatsapp.backends import get_backend

    def configure(server_or_url, **overrides):
        url = server_or_url if isinstance(server_or_url, str) else server_or_url.url
        settings.WHATSAPP_BACKEND = "whatsapp.backends.cloud.CloudAPIBackend"
        settings.WHATSAPP_API_BASE_URL = url
        for name, value in overrides.items():
            setattr(settings, name, value)
        return get_backend()

    return configure
