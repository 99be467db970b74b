"""The operator roles get the sender numbers: managers view and change them (the messaging limit's sync button,
a number's rate), viewers view them (its tier and quality), in the admin and through the API.

campaigns 0006 froze the roles' lists: a model added later joins them in its own migration, like 0008. Its permissions exist from 0010 on.
"""

import importlib

from django.db import migrations


def grant_roles(apps, schema_editor):
    roles = importlib.import_module("campaigns.migrations.0006_operator_roles")
    roles.grant_later(
        apps, schema_editor, app_label="whatsapp", models=["sender"], managers=["view_sender", "change_sender"]
    )


class Migration(migrations.Migration):
    dependencies = [("whatsapp", "0010_sender_permissions"), ("campaigns", "0006_operator_roles")]

    operations = [migrations.RunPython(grant_roles, migrations.RunPython.noop)]
