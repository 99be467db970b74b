"""The admin in Spanish for a browser set to Spanish (es-ES): Today, a campaign page, its dashboard.

Screenshots go to tests/e2e/artifacts/ so a reviewer can look for English left behind.
"""

import pytest
from django.urls import reverse

from tests.e2e.conftest import ARTIFACTS
from tests.factories import CampaignFactory, RecipientFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def spanish_page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="es-ES")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def test_a_spanish_browser_gets_the_admin_in_spanish(live_server, spanish_page, request):
    page = spanish_page
    UserFactory(username="operadora", is_superuser=True, password="correct horse battery staple")
    campaign = CampaignFactory(name="Rebajas de verano")
    RecipientFactory.create_batch(3, campaign=campaign)

    def shot(step: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{step}.png"), full_page=True)

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "operadora")
    page.fill("#id_password", "correct horse battery staple")
    page.click("input[type=submit]")
    page.wait_for_selector("#today")
    assert page.locator("html").get_attribute("lang") == "es"
    assert "Hoy" in page.inner_text("#today h2")
    assert "Límite de mensajes" in page.inner_text("#today-quota")
    shot("01-today")

    page.goto(live_server.url + reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    assert "Ciclo de vida: Borrador" in page.inner_text("#campaign-lifecycle")
    assert "Activar" in page.inner_text("#campaign-lifecycle")
    shot("02-campaign")

    page.goto(live_server.url + reverse("admin:campaigns_campaign_dashboard", args=[campaign.pk]))
    assert "Finalización estimada" in page.inner_text("#dash-completion")
    shot("03-dashboard")

    page.goto(live_server.url + reverse("admin:audiences_contact_import"))
    assert "País de los números nacionales" in page.inner_text("#content")
    shot("04-import")
