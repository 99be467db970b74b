"""The admin's frame: an icon on every page, no "View site" to a page that does not exist, the root leads in."""

from django.contrib.staticfiles import finders
from django.templatetags.static import static
from django.urls import reverse


def test_every_admin_page_links_an_icon_that_exists(admin_client, client):
    for response in (admin_client.get(reverse("admin:index")), client.get(reverse("admin:login"))):
        assert f'<link rel="icon" href="{static("favicon.svg")}"' in response.content.decode()
    assert finders.find("favicon.svg")


def test_a_browsers_default_icon_request_is_not_a_404(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"] == static("favicon.svg")


def test_no_view_site_link_and_the_root_leads_to_the_admin(admin_client, client):
    assert "View site" not in admin_client.get(reverse("admin:index")).content.decode()
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")
