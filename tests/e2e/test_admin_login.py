import pytest

from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_operator_logs_in_to_the_admin(live_server, page, screenshot):
    UserFactory(username="operator", is_superuser=True, password="correct horse battery staple")

    page.goto(f"{live_server.url}/admin/login/")
    screenshot("login")
    page.fill("#id_username", "operator")
    page.fill("#id_password", "correct horse battery staple")
    page.click("input[type=submit]")

    page.wait_for_selector("#site-name")
    assert page.url.rstrip("/").endswith("/admin")
    assert page.locator("text=Periodic tasks").count() >= 1
    screenshot("index")
