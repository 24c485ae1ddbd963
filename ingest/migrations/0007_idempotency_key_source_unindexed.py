"""The unique (tenant, source, external_id) index finds a source's keys: the source column
needs no index of its own (see IdempotencyKey.source)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0006_hot_tenant_key"),
    ]

    operations = [
        migrations.AlterField(
            model_name="idempotencykey",
            name="source",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="ingest.source"
            ),
        ),
    ]
