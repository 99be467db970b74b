"""The operator roles get PlatformAlert's permissions: managers all (they resolve alerts), viewers view.

campaigns 0006 froze the roles' lists: a model added later joins them in its own migration, like audiences 0004.
"""

import importlib

from django.db import migrations


def grant_roles(apps, schema_editor):
    roles = importlib.import_module("campaigns.migrations.0006_operator_roles")
    roles.grant_later(apps, schema_editor, app_label="whatsapp", models=["platformalert"])


class Migration(migrations.Migration):
    dependencies = [
        ("whatsapp", "0007_sync_messaging_limit_schedule"),
        ("campaigns", "0006_operator_roles"),
    ]

    operations = [migrations.RunPython(grant_roles, migrations.RunPython.noop)]
