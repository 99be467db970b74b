"""The "view phone numbers" permission: whole numbers for "Campaign managers", masked ones for everyone else.

Numbered 0006 to leave 0004 and 0005 to work in progress elsewhere. It runs
after the roles' migration (campaigns 0006), which gives viewers every
`view_*` permission of these apps but this one. On a fresh `migrate` the
permission does not exist yet (post_migrate creates permissions after every
migration), so it is created here. Running it again changes nothing.
"""

from django.db import migrations

CODENAME = "view_phone_numbers"
NAME = "Can see whole phone numbers"
MANAGERS = "Campaign managers"
VIEWERS = "Campaign viewers"


def grant_to_managers(apps, schema_editor):
    using = schema_editor.connection.alias
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    content_type, _ = ContentType.objects.using(using).get_or_create(app_label="audiences", model="contact")
    permission, _ = Permission.objects.using(using).get_or_create(
        content_type=content_type, codename=CODENAME, defaults={"name": NAME}
    )
    for group in Group.objects.using(using).filter(name=MANAGERS):
        group.permissions.add(permission)
    for group in Group.objects.using(using).filter(name=VIEWERS):
        group.permissions.remove(permission)


def revoke(apps, schema_editor):
    using = schema_editor.connection.alias
    apps.get_model("auth", "Permission").objects.using(using).filter(
        content_type__app_label="audiences", codename=CODENAME
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("audiences", "0004_suppression"),
        ("campaigns", "0006_operator_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="contact",
            options={"permissions": [("view_phone_numbers", "Can see whole phone numbers")]},
        ),
        migrations.RunPython(grant_to_managers, revoke),
    ]
