"""The keyword index takes every chunk as it is written, staged or active, so the swap that
activates a generation no longer re-indexes its text (see ``retrieval.keyword``)."""

from django.db import migrations


def upgrade(apps, schema_editor):
    from retrieval.keyword import ensure_index

    ensure_index(schema_editor.connection)


def downgrade(apps, schema_editor):
    # The earlier code rebuilds its active-only index after migrate when the index is missing.
    from retrieval.keyword import drop_index

    drop_index(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("retrieval", "0003_seed_sync_index")]
    operations = [migrations.RunPython(upgrade, downgrade)]
