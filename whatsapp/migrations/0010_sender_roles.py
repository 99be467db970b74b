"""The operator roles get the sender numbers: managers view and change them (the messaging limit's sync button,
a number's rate), viewers view them (its tier and quality), in the admin and through the API.

campaigns 0006 froze the roles' lists: a model added later joins them in its own migration, like 0008.
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
    perms = Permission.objects.using(using).filter(content_type__app_label="whatsapp", content_type__model="sender")
    for name, granted in (
        (MANAGERS, perms.filter(codename__in=["view_sender", "change_sender"])),
        (VIEWERS, perms.filter(codename="view_sender")),
    ):
        group = Group.objects.using(using).filter(name=name).first()
        if group is not None:
            group.permissions.add(*granted)


class Migration(migrations.Migration):
    dependencies = [("whatsapp", "0009_merge_platform_quota")]

    operations = [migrations.RunPython(grant_roles, migrations.RunPython.noop)]
