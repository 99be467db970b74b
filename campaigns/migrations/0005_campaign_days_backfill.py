"""Fill CampaignDay for campaigns that existed before it, from their recipients' dates."""

from django.db import migrations


def backfill(apps, schema_editor):
    from campaigns.lifecycle import day_counts

    Campaign = apps.get_model("campaigns", "Campaign")
    CampaignDay = apps.get_model("campaigns", "CampaignDay")
    Recipient = apps.get_model("campaigns", "Recipient")
    for campaign_id in Campaign.objects.filter(total__gt=0).values_list("id", flat=True).iterator():
        days = day_counts(Recipient.objects.filter(campaign_id=campaign_id))
        CampaignDay.objects.bulk_create(
            [CampaignDay(campaign_id=campaign_id, day=day, **counts) for day, counts in days.items()],
            batch_size=1000,
            ignore_conflicts=True,
        )


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0004_campaign_day_permissions_pause_error")]
    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
