"""Cursors whose statements PostgreSQL parses and plans once per connection (hot paths).

Django binds parameters on the client (the statement text carries the values), so PostgreSQL
plans a statement again on every call: for the checkout-lock statement of a hot SKU that was a
quarter of the statement's time. A prepared cursor binds on the server and prepares the statement
the first time a connection runs it. It is still a Django cursor: logged, wrapped, its errors
Django's. Behind PgBouncer in transaction pooling (DB_DISABLE_SERVER_SIDE_CURSORS, see the README)
a prepared statement may not be there on the next transaction's server, so it is Django's cursor."""

import psycopg
from django.db import connection

# Django's own cursors bind on the client and never prepare, whatever the connection's threshold.
_ONLY_WHEN_ASKED = 2**31 - 1


class _PreparingCursor(psycopg.Cursor):
    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


def prepared_cursor():
    """A cursor on the default connection; on PostgreSQL its statements are prepared."""
    # Logging queries (DEBUG, or a test capturing them) needs each statement's text, which Django
    # cannot read back from a prepared statement: then Django's cursor too.
    if (
        connection.vendor != "postgresql"
        or connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")
        or connection.queries_logged
    ):
        return connection.cursor()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    raw = connection.connection
    if raw.prepare_threshold is None:  # Django turns preparing off; only our cursor asks for it
        raw.prepare_threshold = _ONLY_WHEN_ASKED
    cursor = _PreparingCursor(raw)
    return connection.make_cursor(cursor)
