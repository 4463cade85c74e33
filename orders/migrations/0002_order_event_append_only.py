"""On PostgreSQL the timeline is append-only in the database itself, not only in the ORM."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION orders_orderevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'order events are append-only' USING DETAIL = TG_OP || ' refused';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER orders_orderevent_append_only
    BEFORE UPDATE OR DELETE ON orders_orderevent
    FOR EACH ROW EXECUTE FUNCTION orders_orderevent_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS orders_orderevent_append_only ON orders_orderevent;
DROP FUNCTION IF EXISTS orders_orderevent_append_only();
"""


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("orders", "0001_initial")]

    operations = [migrations.RunPython(_on_postgresql(CREATE), _on_postgresql(DROP))]
