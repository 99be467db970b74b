"""The admin, with the project's site (config.admin.CampaignManagerSite) as `admin.site`."""

from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    """Replaces "django.contrib.admin" in INSTALLED_APPS: every @admin.register lands on our site."""

    default_site = "config.admin.CampaignManagerSite"
