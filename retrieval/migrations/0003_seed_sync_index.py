from django.db import migrations

from botsmith.schedules import remove_periodic_task, seed_periodic_task


def seed(apps, schema_editor):
    seed_periodic_task(
        apps,
        name="retrieval-sync-index",
        task="retrieval.tasks.sync_index",
        every_seconds=120,
        description="Queues sources whose vectors are missing, stale or of another model; deletes unused vectors.",
    )


def unseed(apps, schema_editor):
    remove_periodic_task(apps, "retrieval-sync-index")


class Migration(migrations.Migration):
    dependencies = [
        ("retrieval", "0002_keyword_index"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(seed, unseed)]
