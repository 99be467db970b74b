"""The operator roles get PlatformAlert's permissions: managers all (they resolve alerts), viewers view.

campaigns 0006 froze the roles' lists: a model added later joins them in its own migration, like audiences 0004.
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
        content_type__app_label="whatsapp", content_type__model="platformalert"
    )
    for name, granted in ((MANAGERS, perms), (VIEWERS, perms.filter(codename__startswith="view_"))):
        group = Group.objects.using(using).filter(name=name).first()
        if group is not None:
            group.permissions.add(*granted)


class Migration(migrations.Migration):
    dependencies = [
        ("whatsapp", "0007_sync_messaging_limit_schedule"),
        ("campaigns", "0006_operator_roles"),
    ]

    operations = [migrations.RunPython(grant_roles, migrations.RunPython.noop)]
