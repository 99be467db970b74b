"""The operator roles get the engagement models' permissions: managers all (upload orders), viewers view.

campaigns 0006 froze its lists: a model added later joins the roles in its own migration.
"""

import importlib

from django.db import migrations


def grant_roles(apps, schema_editor):
    roles = importlib.import_module("campaigns.migrations.0006_operator_roles")
    roles.grant_later(apps, schema_editor, app_label="campaigns", models=["click", "conversion"])


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0014_engagement_clicks_replies_conversions")]

    operations = [migrations.RunPython(grant_roles, migrations.RunPython.noop)]
