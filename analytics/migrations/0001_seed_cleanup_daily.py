from django.db import migrations

from botsmith.schedules import remove_periodic_task, seed_periodic_task


def seed(apps, schema_editor):
    seed_periodic_task(
        apps,
        name="cleanup-daily",
        task="analytics.tasks.cleanup_old_data",
        kwargs={"days": 90},
        crontab={"minute": "0", "hour": "2"},
        description="Deletes conversations, read notifications and task results older than `days`.",
    )


def unseed(apps, schema_editor):
    remove_periodic_task(apps, "cleanup-daily")


class Migration(migrations.Migration):
    dependencies = [("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(seed, unseed)]
