from django.contrib import admin
from django.http import HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path, reverse_lazy
from django.views.generic import RedirectView

from campaigns.views import link_redirect


def favicon(request):
    # static() at request time: with the production storage it reads collectstatic's manifest.
    return HttpResponsePermanentRedirect(static("favicon.svg"))


urlpatterns = [
    # The admin is the product: the site's root and a browser's default icon request lead to it.
    path("", RedirectView.as_view(url=reverse_lazy("admin:index"))),
    path("favicon.ico", favicon),
    path("admin/", admin.site.urls),
    path("whatsapp/", include("whatsapp.urls")),
    path("api/v1/", include("api.urls")),
    # Tracked links: public, no login (docs/architecture.md, "Engagement").
    path("r/<str:token>", link_redirect, name="link_redirect"),
]
