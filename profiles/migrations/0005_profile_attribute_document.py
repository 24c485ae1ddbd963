"""Profile.attributes: each profile's current attribute values as one JSON document, for
segment reads (issue 20; docs/storage.md).

A segment with several attribute conditions over the EAV rows (one row per profile and
attribute) must intersect one large set of profile ids per condition: 0.9 s for three
conditions on 1M profiles, whatever the plan. On one document per profile, PostgreSQL
intersects the conditions in a GIN index (`@>`) and checks the rest on the same row.

The document is a copy of the AttributeValue rows (the source of truth, which every
writer keeps writing), kept exact inside the writing transaction by database triggers, so
that no writer (ingest, merges, erasure, merge reverts, the admin, raw SQL, a future one)
can forget it:

- PostgreSQL: statement-level AFTER INSERT / UPDATE / DELETE triggers on
  profiles_attributevalue (transition tables: one refresh per statement, however many rows)
  recompute the documents of the profiles the statement touched; a BEFORE trigger on
  profiles_profile ignores any other write of the column (a stale `Profile.save()`).
  The refresh updates rows whose writer already holds their lock (profiles are locked
  before their attribute values are written), so it adds no lock-order risk.
- SQLite (`make run`, the second half of `make test`): row-level triggers doing the same.

Existing rows are backfilled here, before the triggers exist.
"""

from django.db import migrations, models

DOCUMENT_PG = """
COALESCE((SELECT jsonb_object_agg(a.name, a.value) FROM profiles_attributevalue a
          WHERE a.tenant_id = {p}.tenant_id AND a.profile_id = {p}.id AND a.value IS NOT NULL), '{{}}'::jsonb)
"""

POSTGRESQL = [
    # Backfill first (the guard below would undo it), in one set-based statement.
    """UPDATE profiles_profile p SET attributes = d.document
       FROM (SELECT profile_id, jsonb_object_agg(name, value) AS document FROM profiles_attributevalue
             WHERE value IS NOT NULL GROUP BY profile_id) d
       WHERE p.id = d.profile_id""",
    f"""CREATE OR REPLACE FUNCTION profiles_attributes_refresh(ids uuid[]) RETURNS void
        LANGUAGE sql AS $$
          UPDATE profiles_profile p SET attributes = d.document
          FROM (SELECT q.id, {DOCUMENT_PG.format(p="q")} AS document
                FROM profiles_profile q WHERE q.id = ANY(ids)) d
          WHERE p.id = d.id AND p.attributes IS DISTINCT FROM d.document
        $$""",
    """CREATE OR REPLACE FUNCTION profiles_attributes_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         PERFORM profiles_attributes_refresh(ARRAY(SELECT DISTINCT profile_id FROM new_rows));
         RETURN NULL;
       END $$""",
    """CREATE OR REPLACE FUNCTION profiles_attributes_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         PERFORM profiles_attributes_refresh(ARRAY(SELECT DISTINCT profile_id FROM old_rows));
         RETURN NULL;
       END $$""",
    """CREATE OR REPLACE FUNCTION profiles_attributes_updated() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         PERFORM profiles_attributes_refresh(
           ARRAY(SELECT profile_id FROM new_rows UNION SELECT profile_id FROM old_rows));
         RETURN NULL;
       END $$""",
    # Only the refresh (a trigger's statement, depth 2) writes the column.
    """CREATE OR REPLACE FUNCTION profiles_attributes_guard() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF pg_trigger_depth() < 2 THEN
           IF TG_OP = 'INSERT' THEN NEW.attributes := '{}'::jsonb; ELSE NEW.attributes := OLD.attributes; END IF;
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER profiles_attributes_inserted AFTER INSERT ON profiles_attributevalue
       REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION profiles_attributes_inserted()""",
    """CREATE TRIGGER profiles_attributes_deleted AFTER DELETE ON profiles_attributevalue
       REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION profiles_attributes_deleted()""",
    """CREATE TRIGGER profiles_attributes_updated AFTER UPDATE ON profiles_attributevalue
       REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
       FOR EACH STATEMENT EXECUTE FUNCTION profiles_attributes_updated()""",
    """CREATE TRIGGER profiles_attributes_guard_insert BEFORE INSERT ON profiles_profile FOR EACH ROW
       WHEN (NEW.attributes IS DISTINCT FROM '{}'::jsonb) EXECUTE FUNCTION profiles_attributes_guard()""",
    """CREATE TRIGGER profiles_attributes_guard_update BEFORE UPDATE OF attributes ON profiles_profile FOR EACH ROW
       WHEN (NEW.attributes IS DISTINCT FROM OLD.attributes) EXECUTE FUNCTION profiles_attributes_guard()""",
    # jsonb_path_ops: the smallest GIN for `@>`. It cannot lead with tenant_id without the
    # btree_gin extension; the tenant is checked on the row the index finds.
    "CREATE INDEX IF NOT EXISTS profile_attributes_document ON profiles_profile USING gin (attributes jsonb_path_ops)",
]
POSTGRESQL_DROP = [
    "DROP INDEX IF EXISTS profile_attributes_document",
    "DROP TRIGGER IF EXISTS profiles_attributes_guard_update ON profiles_profile",
    "DROP TRIGGER IF EXISTS profiles_attributes_guard_insert ON profiles_profile",
    "DROP TRIGGER IF EXISTS profiles_attributes_updated ON profiles_attributevalue",
    "DROP TRIGGER IF EXISTS profiles_attributes_deleted ON profiles_attributevalue",
    "DROP TRIGGER IF EXISTS profiles_attributes_inserted ON profiles_attributevalue",
    "DROP FUNCTION IF EXISTS profiles_attributes_guard()",
    "DROP FUNCTION IF EXISTS profiles_attributes_updated()",
    "DROP FUNCTION IF EXISTS profiles_attributes_deleted()",
    "DROP FUNCTION IF EXISTS profiles_attributes_inserted()",
    "DROP FUNCTION IF EXISTS profiles_attributes_refresh(uuid[])",
]

DOCUMENT_SQLITE = """(SELECT COALESCE(json_group_object(a.name, json(a.value)), '{}') FROM profiles_attributevalue a
    WHERE a.profile_id = profiles_profile.id AND a.value IS NOT NULL)"""
SQLITE = [
    f"UPDATE profiles_profile SET attributes = {DOCUMENT_SQLITE}",
    f"""CREATE TRIGGER profiles_attributes_inserted AFTER INSERT ON profiles_attributevalue BEGIN
        UPDATE profiles_profile SET attributes = {DOCUMENT_SQLITE} WHERE id = NEW.profile_id; END""",
    f"""CREATE TRIGGER profiles_attributes_deleted AFTER DELETE ON profiles_attributevalue BEGIN
        UPDATE profiles_profile SET attributes = {DOCUMENT_SQLITE} WHERE id = OLD.profile_id; END""",
    f"""CREATE TRIGGER profiles_attributes_updated AFTER UPDATE OF profile_id, name, value ON profiles_attributevalue
        BEGIN UPDATE profiles_profile SET attributes = {DOCUMENT_SQLITE} WHERE id IN (OLD.profile_id, NEW.profile_id);
        END""",
    # Any other write of the column is recomputed from the rows (SQLite's triggers do not recurse).
    f"""CREATE TRIGGER profiles_attributes_guard_update AFTER UPDATE OF attributes ON profiles_profile BEGIN
        UPDATE profiles_profile SET attributes = {DOCUMENT_SQLITE} WHERE id = NEW.id; END""",
    f"""CREATE TRIGGER profiles_attributes_guard_insert AFTER INSERT ON profiles_profile
        WHEN NEW.attributes <> '{{}}' BEGIN
        UPDATE profiles_profile SET attributes = {DOCUMENT_SQLITE} WHERE id = NEW.id; END""",
]
SQLITE_DROP = [
    f"DROP TRIGGER IF EXISTS {name}"
    for name in (
        "profiles_attributes_guard_insert",
        "profiles_attributes_guard_update",
        "profiles_attributes_updated",
        "profiles_attributes_deleted",
        "profiles_attributes_inserted",
    )
]


def create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for statement in {"postgresql": POSTGRESQL, "sqlite": SQLITE}.get(vendor, []):
        schema_editor.execute(statement)


def drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for statement in {"postgresql": POSTGRESQL_DROP, "sqlite": SQLITE_DROP}.get(vendor, []):
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("profiles", "0004_merge_revert"),
    ]

    operations = [
        migrations.AddField(
            model_name="profile",
            name="attributes",
            field=models.JSONField(
                db_default=models.Value({}, output_field=models.JSONField()), default=dict, editable=False
            ),
        ),
        migrations.RunPython(create, drop, elidable=False),
    ]
