"""The operator roles get the engagement models' permissions: managers all (upload orders), viewers view.

campaigns 0006 froze its lists: a model added later joins the roles in its own migration.
"""

import importlib

from django.db import migrations

MANAGERS = "Campaign managers"
VIEWERS = "Campaign viewers"


def grant_roles(apps, schema_editor):
    roles = importlib.import_module("campaigns.migrations.0006_operator_roles")
    using = schema_editor.connection.alias
    roles._ensure_permissions(apps, using)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perms = Permission.objects.using(using).filter(
        content_type__app_label="campaigns", content_type__model__in=["click", "conversion"]
    )
    for name, granted in ((MANAGERS, perms), (VIEWERS, perms.filter(codename__startswith="view_"))):
        group = Group.objects.using(using).filter(name=name).first()
        if group is not None:
            group.permissions.add(*granted)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0014_engagement_clicks_replies_conversions")]

    operations = [migrations.RunPython(grant_roles, migrations.RunPython.noop)]
