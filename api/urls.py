"""/api/v1/: one router; a new endpoint is one `router.register` line (docs/architecture.md, "API")."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from api.problems import not_found
from api.views.audiences import AudienceViewSet
from api.views.campaigns import CampaignViewSet, JobViewSet, RecipientViewSet
from api.views.contacts import ContactViewSet, ImportViewSet, TagViewSet
from api.views.conversions import ConversionViewSet
from api.views.whatsapp import SenderViewSet, TemplateViewSet, WebhookEventViewSet

app_name = "api"

router = DefaultRouter()
router.include_root_view = False
router.register("contacts", ContactViewSet, basename="contact")
router.register("imports", ImportViewSet, basename="import")
router.register("tags", TagViewSet, basename="tag")
router.register("audiences", AudienceViewSet, basename="audience")
router.register("templates", TemplateViewSet, basename="template")
router.register("senders", SenderViewSet, basename="sender")
router.register("campaigns", CampaignViewSet, basename="campaign")
router.register("jobs", JobViewSet, basename="job")
router.register("conversions", ConversionViewSet, basename="conversion")
router.register("webhook-events", WebhookEventViewSet, basename="webhookevent")

urlpatterns = [
    path(
        "campaigns/<int:campaign_pk>/recipients/", RecipientViewSet.as_view({"get": "list"}), name="campaign-recipients"
    ),  # fmt: skip
    path("", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
    re_path(r"", not_found),  # last: anything else under /api/v1/ is a 404 problem
]
