from django.db import migrations

from botsmith.schedules import remove_periodic_task, seed_periodic_task


def seed(apps, schema_editor):
    seed_periodic_task(
        apps,
        name="sources-reap-stuck",
        task="sources.tasks.reap_stuck_sources",
        every_seconds=300,
        description="Requeues or fails sources whose worker died (no heartbeat) or that waited too long.",
    )


def unseed(apps, schema_editor):
    remove_periodic_task(apps, "sources-reap-stuck")


class Migration(migrations.Migration):
    dependencies = [
        ("sources", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(seed, unseed)]
