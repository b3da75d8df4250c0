from django.db import migrations

from botsmith.schedules import remove_periodic_task, seed_periodic_task


def seed(apps, schema_editor):
    seed_periodic_task(
        apps,
        name="analytics-daily",
        task="analytics.tasks.generate_daily_reports",
        crontab={"minute": "0", "hour": "3"},
        description="Makes the 24h analytics report of every chatbot active in the last 24 hours.",
    )


def unseed(apps, schema_editor):
    remove_periodic_task(apps, "analytics-daily")


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0002_reports_and_cleanup_runs"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(seed, unseed)]
