"""Create the operator roles: groups "Campaign managers" (everything) and "Campaign viewers" (view only).

Managers get every permission of the campaigns, audiences and whatsapp apps
(including campaigns.activate_campaign and campaigns.export_recipients) and may
view and change the periodic tasks (the "Send campaign batch" schedule).
Viewers get the view permissions of the same models: they see campaigns,
dashboards and figures, but cannot activate, pause, export phones or clone.
`audiences.view_phone_numbers` is not a view of a model but of personal data:
viewers never get it (audiences 0005 grants it to managers).

On a fresh `migrate` the permissions do not exist yet (post_migrate creates
them after every migration has run), so they are created here first, from
this migration's model state. Running it again changes nothing; each group's
permissions are set to exactly the role's. Reverse deletes the two groups.
The lists are frozen here on purpose: a model added later needs its own
migration to join a role.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

MANAGERS = "Campaign managers"
VIEWERS = "Campaign viewers"
APPS = ("campaigns", "audiences", "whatsapp")
BEAT = ("django_celery_beat", ("view_periodictask", "change_periodictask"))


def _ensure_permissions(apps, using):
    for label in (*APPS, BEAT[0]):
        app_config = apps.get_app_config(label)
        # create_permissions skips an app without a models module; the state's app stubs have none.
        # Put back what was there: with the real registry, None would hide the app from post_migrate.
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True
        try:
            create_permissions(app_config, apps=apps, verbosity=0, using=using)
        finally:
            app_config.models_module = models_module


def create_roles(apps, schema_editor):
    using = schema_editor.connection.alias
    _ensure_permissions(apps, using)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = Permission.objects.using(using)
    everything = permissions.filter(content_type__app_label__in=APPS)
    beat = permissions.filter(content_type__app_label=BEAT[0], codename__in=BEAT[1])
    roles = {
        MANAGERS: everything | beat,
        VIEWERS: (everything | beat).filter(codename__startswith="view_").exclude(codename="view_phone_numbers"),
    }
    for name, granted in roles.items():
        group, _ = Group.objects.using(using).get_or_create(name=name)
        group.permissions.set(list(granted))


def grant_later(apps, schema_editor, *, app_label: str, models: list[str], managers: list[str] | None = None):
    """A model added after this migration joins the roles (this one froze their lists): the managers get its
    permissions (only the codenames in `managers` when given), the viewers its view_ ones. The later migrations'
    `grant_roles` call it; adding twice is harmless."""
    using = schema_editor.connection.alias
    _ensure_permissions(apps, using)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perms = Permission.objects.using(using).filter(content_type__app_label=app_label, content_type__model__in=models)
    granted = {
        MANAGERS: perms if managers is None else perms.filter(codename__in=managers),
        VIEWERS: perms.filter(codename__startswith="view_"),
    }
    for name, given in granted.items():
        group = Group.objects.using(using).filter(name=name).first()
        if group is not None:
            group.permissions.add(*given)


def delete_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.using(schema_editor.connection.alias).filter(
        name__in=[MANAGERS, VIEWERS]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0005_campaign_days_backfill"),
        ("audiences", "0001_initial"),
        ("whatsapp", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, delete_roles)]
