"""SQLite's own statement limits, read from the library on each new connection."""

import sqlite3


def use_the_library_variable_limit(sender, connection, **kwargs) -> None:
    """Django 5.2 assumes SQLite's pre-3.32 default of 999 variables per statement, so bulk_create
    on SQLite splits a batch into one INSERT per 999 values: 40 new orders took three INSERTs into
    the order table and three into their lines, and an intake's statements grew with its orders on
    the embedded default alone. The library says what it accepts (32,766 by default since 3.32,
    250,000 in Debian's build): batch by that, as Django 6.0 does (ticket #36143)."""
    if connection.vendor == "sqlite":
        limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        connection.features.max_query_params = limit
