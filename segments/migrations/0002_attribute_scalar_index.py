"""An index for attribute conditions on PostgreSQL (segments.compiler.SCALAR_INDEX_PREDICATE).

Attribute values are JSON of any size, and a btree entry must stay under ~2.7 kB, so the
index holds only scalar values of bounded length: the compiler adds the same predicate to
the comparisons it can serve (eq/in/orderings on short scalars), which lets the planner
use it. Extended statistics keep the planner's estimates right. On SQLite nothing is created (it is the embedded database for small installs).
"""

from django.db import migrations

CREATE = """
CREATE INDEX IF NOT EXISTS segments_attribute_scalar
ON profiles_attributevalue (tenant_id, name, value) INCLUDE (profile_id)
WHERE jsonb_typeof(value) IN ('string', 'number', 'boolean') AND octet_length(value::text) < 512
"""
# Without statistics on the predicate's expressions the planner guesses their selectivity
# (0.5 % for an equality on a function), estimates a handful of rows and picks nested loops.
STATISTICS = [
    """CREATE STATISTICS IF NOT EXISTS segments_attribute_scalar_predicate
       ON (jsonb_typeof(value)), (octet_length(value::text)) FROM profiles_attributevalue""",
    "CREATE STATISTICS IF NOT EXISTS segments_attribute_name_value (mcv) ON name, value FROM profiles_attributevalue",
]
DROP = [
    "DROP STATISTICS IF EXISTS segments_attribute_name_value",
    "DROP STATISTICS IF EXISTS segments_attribute_scalar_predicate",
    "DROP INDEX IF EXISTS segments_attribute_scalar",
]


def create(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    schema_editor.execute(CREATE)
    if connection.pg_version >= 140000:  # statistics on expressions
        for statement in STATISTICS:
            schema_editor.execute(statement)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("segments", "0001_initial"),
        ("profiles", "0002_derivedvalue"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
