"""The keyword index: FTS5 table and triggers on SQLite, tsvector table and triggers on PostgreSQL."""

from django.db import migrations


def create(apps, schema_editor):
    from retrieval.keyword import ensure_index

    ensure_index(schema_editor.connection)


def drop(apps, schema_editor):
    from retrieval.keyword import drop_index

    drop_index(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("retrieval", "0001_initial"),
        ("sources", "0003_index_status"),
    ]

    operations = [migrations.RunPython(create, drop)]
