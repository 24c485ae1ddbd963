"""The tenant of the tables ingest writes on every item loses its foreign-key constraint and
its own index (`tenants.models.hot_tenant_key`). SQLite rebuilds a table to drop a
constraint, and its attribute-document triggers name both rebuilt tables: they are dropped
before and created again after (PostgreSQL only drops the constraint and the index)."""

from importlib import import_module

import django.db.models.deletion
from django.db import migrations, models

document = import_module("profiles.migrations.0005_profile_attribute_document")


def _on_sqlite(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "sqlite":
            for statement in statements:
                schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("profiles", "0005_profile_attribute_document"),
        ("tenants", "0004_operator_accounts"),
    ]

    operations = [
        migrations.RunPython(_on_sqlite(document.SQLITE_DROP), _on_sqlite(document.SQLITE)),
        migrations.AlterField(
            model_name="attributevalue",
            name="tenant",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="tenants.tenant",
            ),
        ),
        migrations.AlterField(
            model_name="derivedvalue",
            name="tenant",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="tenants.tenant",
            ),
        ),
        migrations.AlterField(
            model_name="mergeledgerentry",
            name="tenant",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="tenants.tenant",
            ),
        ),
        migrations.AlterField(
            model_name="profile",
            name="tenant",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="tenants.tenant",
            ),
        ),
        migrations.RunPython(_on_sqlite(document.SQLITE), _on_sqlite(document.SQLITE_DROP)),
    ]
