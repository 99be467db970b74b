"""Viewers see masked phone numbers on every admin page they can open; managers and superusers see them whole.

The crawl follows every admin link a viewer's pages offer (change lists with
their filters, change pages, history, dashboards, Today), over data that puts
numbers everywhere they can surface: contacts, recipients (with an error that
quotes one), a webhook body, a change message, an audience sample and a
campaign preview that uses `{{contact.phone}}`.
"""

import re
from collections import deque
from urllib.parse import urljoin, urlsplit

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import timezone

from audiences.phones import mask_phone
from audiences.services import contact_unsubscribe
from campaigns.models import Recipient
from tests.campaigns.helpers import running_campaign
from tests.factories.audiences import AudienceFactory, ContactFactory
from tests.factories.users import MANAGERS, VIEWERS, UserFactory
from tests.whatsapp import payloads
from whatsapp.models import WebhookEvent

pytestmark = pytest.mark.django_db

FRENCH, BRITISH, BRAZILIAN = "+33614000012", "+447911123456", "+5511987654321"
GERMAN = "+4915112345678"  # said STOP before it was ever a contact: only on the suppression list


def forms_of(phone: str) -> set[str]:
    """The ways a number can be written on a page: E.164, wa_id, national digits, spaced as its country writes it."""
    import phonenumbers

    number = phonenumbers.parse(phone)
    international = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return {phone, phone[1:], str(number.national_number), international, international.replace(" ", "")}


@pytest.fixture
def phones_everywhere():
    """Numbers in contacts, recipients, an error, a webhook body, a change message, an audience and a preview."""
    campaign = running_campaign(3, parameters=["{{contact.phone}}", "20%"])
    # The campaign's audience, its preview and its recipients: our three numbers.
    recipients = list(Recipient.objects.filter(campaign=campaign).select_related("contact").order_by("position"))
    for recipient, phone in zip(recipients, (FRENCH, BRITISH, BRAZILIAN), strict=True):
        recipient.contact.phone = phone
        recipient.contact.name = "" if phone == BRAZILIAN else recipient.contact.name
        recipient.contact.save()
        recipient.phone = phone
        recipient.save()
    Recipient.objects.filter(phone=BRITISH).update(
        status=Recipient.Status.FAILED, error_code=131026, error_reason=f"Error 131026: undeliverable to {BRITISH}"
    )
    AudienceFactory(name="Everyone", rules={"everyone": True})
    ContactFactory(phone="+14155550123", name="")
    contact_unsubscribe(phone=GERMAN, reason="keyword", at=timezone.now())
    body = payloads.body(
        payloads.statuses_value(payloads.status("wamid.OUT1", "delivered", recipient=FRENCH[1:])),
        payloads.text_message(BRITISH[1:], f"call me on {BRAZILIAN}"),
    )
    WebhookEvent.objects.create(
        received_at=timezone.now(), body=body, status=WebhookEvent.Status.FAILED, error=f"failed for {FRENCH}"
    )
    LogEntry.objects.log_actions(
        user_id=UserFactory(username="someone").pk,
        queryset=type(campaign).objects.filter(pk=campaign.pk),
        action_flag=CHANGE,
        change_message=f"Sent a test to {FRENCH}: message wamid.T1",
    )
    return campaign


def crawl(client, start: str = "/admin/", limit: int = 400, variants: int = 4) -> dict[str, str]:
    """Every admin page reachable by GET from `start`: url -> HTML. Skips logout, exports and password pages.

    A page is also opened with up to `variants` of the query strings its links give it (filters, search, sorting).
    """
    seen: dict[str, str] = {}
    queue = deque([start])
    per_path: dict[str, int] = {}
    while queue and len(seen) < limit:
        url = queue.popleft()
        if url in seen:
            continue
        path = urlsplit(url).path
        per_path[path] = per_path.get(path, 0) + 1
        if per_path[path] > variants + 1:
            continue
        response = client.get(url)
        assert response.status_code in (200, 302, 403, 404), (url, response.status_code)
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            seen[url] = ""
            continue
        html = response.content.decode()
        seen[url] = html
        for href in re.findall(r'href="([^"#]+)"', html):
            target = urljoin(url, href.replace("&amp;", "&"))
            path = urlsplit(target).path
            if not path.startswith("/admin/") or any(
                part in path for part in ("/logout/", "/export/", "/password/", "/jsi18n/")
            ):
                continue
            if "/auth/" in path or "django_celery_beat" in path:
                continue  # no numbers there; keeps the crawl short
            if target not in seen:
                queue.append(target)
    return seen


def unmasked_on(html: str) -> set[str]:
    return {form for phone in (FRENCH, BRITISH, BRAZILIAN, GERMAN) for form in forms_of(phone) if form in html}


def test_a_viewer_finds_no_whole_number_on_any_admin_page(client, phones_everywhere):
    client.force_login(UserFactory(username="viewer", groups=[VIEWERS]))
    pages = crawl(client)

    leaks = {url: unmasked_on(html) for url, html in pages.items() if unmasked_on(html)}
    assert leaks == {}
    for page in (
        f"/admin/campaigns/campaign/{phones_everywhere.pk}/dashboard/",
        f"/admin/campaigns/campaign/{phones_everywhere.pk}/history/",
        f"/admin/whatsapp/webhookevent/{WebhookEvent.objects.get().pk}/change/",
        f"/admin/audiences/audience/{phones_everywhere.audience.pk}/change/",
        "/admin/audiences/suppression/",
    ):
        assert page in pages, f"the crawl never reached {page}"
    assert sum(url.endswith("/change/") for url in pages) >= 12
    assert len(pages) < 400, "the crawl stopped at its limit"
    # ...but the numbers are there, masked.
    contacts = pages["/admin/audiences/contact/"]
    assert "+33 6 •• •• •• 12" in contacts and "+44 7••• ••••56" in contacts


def test_a_manager_sees_whole_numbers(manager_client, phones_everywhere):
    contacts = manager_client.get(reverse("admin:audiences_contact_changelist")).content.decode()
    assert FRENCH in contacts and BRITISH in contacts
    recipients = manager_client.get(reverse("admin:campaigns_recipient_changelist")).content.decode()
    assert FRENCH in recipients
    event = WebhookEvent.objects.get()
    body = manager_client.get(reverse("admin:whatsapp_webhookevent_change", args=[event.pk])).content.decode()
    assert f"&quot;recipient_id&quot;: &quot;{FRENCH[1:]}&quot;" in body
    history = manager_client.get(reverse("admin:campaigns_campaign_history", args=[phones_everywhere.pk]))
    assert f"Sent a test to {FRENCH}" in history.content.decode()


def test_a_superuser_sees_whole_numbers(admin_client, phones_everywhere):
    contacts = admin_client.get(reverse("admin:audiences_contact_changelist")).content.decode()
    assert FRENCH in contacts


def test_the_permission_alone_shows_whole_numbers_to_a_viewer(client, phones_everywhere):
    viewer = UserFactory(username="trusted-viewer", groups=[VIEWERS])
    viewer.user_permissions.add(
        Permission.objects.get(
            content_type=ContentType.objects.get_by_natural_key("audiences", "contact"), codename="view_phone_numbers"
        )
    )
    client.force_login(viewer)
    assert FRENCH in client.get(reverse("admin:audiences_contact_changelist")).content.decode()


def test_a_viewer_searching_a_whole_number_finds_the_contact_shown_masked(viewer_client, phones_everywhere):
    for typed in (FRENCH, "+33 6 14 00 00 12", "0033614000012"):
        html = viewer_client.get(reverse("admin:audiences_contact_changelist"), {"q": typed}).content.decode()
        # The rows found; the query typed, which the viewer knows, is echoed in the search box and in links.
        rows = re.sub(r'href="[^"]*"', "", html[html.index("<tbody>") : html.index("</tbody>")])
        assert "+33 6 •• •• •• 12" in rows
        assert not unmasked_on(rows)
    recipients = viewer_client.get(reverse("admin:campaigns_recipient_changelist"), {"q": "+33 6 14 00 00 12"})
    assert "+33 6 •• •• •• 12" in recipients.content.decode()


@pytest.mark.parametrize(
    "changelist, fragment, phone",
    [("audiences_contact", "61400", FRENCH), ("audiences_suppression", "1511234", GERMAN)],
)
def test_a_viewer_cannot_rebuild_numbers_from_fragments(viewer_client, phones_everywhere, changelist, fragment, phone):
    everything = viewer_client.get(reverse(f"admin:{changelist}_changelist")).content.decode()
    assert mask_phone(phone) in everything  # the row is there when nothing is searched...
    response = viewer_client.get(reverse(f"admin:{changelist}_changelist"), {"q": fragment})
    assert mask_phone(phone) not in response.content.decode()  # ...and a fragment finds nothing
    assert "Search by a whole phone number" in response.content.decode()


@pytest.mark.parametrize(
    "changelist, fragment, phone",
    [("audiences_contact", "61400", FRENCH), ("audiences_suppression", "1511234", GERMAN)],
)
def test_a_manager_still_searches_by_fragment(manager_client, phones_everywhere, changelist, fragment, phone):
    response = manager_client.get(reverse(f"admin:{changelist}_changelist"), {"q": fragment})
    assert phone in response.content.decode()


def test_a_viewer_cannot_change_a_number_they_cannot_see(client, phones_everywhere):
    """A role that may change contacts but not see numbers edits the rest; the number stays."""
    editor = UserFactory(username="editor", groups=[VIEWERS])
    editor.user_permissions.add(Permission.objects.get(codename="change_contact"))
    client.force_login(editor)
    contact = phones_everywhere.recipients.get(phone=FRENCH).contact
    url = reverse("admin:audiences_contact_change", args=[contact.pk])
    page = client.get(url).content.decode()
    assert 'name="phone"' not in page and not unmasked_on(page)


def test_managers_have_the_permission_and_viewers_do_not():
    assert Group.objects.get(name=MANAGERS).permissions.filter(codename="view_phone_numbers").exists()
    assert not Group.objects.get(name=VIEWERS).permissions.filter(codename="view_phone_numbers").exists()
