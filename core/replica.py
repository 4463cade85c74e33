"""Where dashboards, reports and their exports read: the read replica when DATABASE_REPLICA_URL
is set, the primary otherwise (settings.REPORTING_DATABASE).

Only reads that tolerate a replica's lag of a few seconds go there: aggregates over days, report
rows and spreadsheet exports. A read that decides a write, or a page showing what the user just
changed, stays on the primary. Each such read names the alias with `.using(reporting_database())`
when its queryset is built, so a streamed export still reads from the replica after the view has
returned (a router consulted at evaluation time could not promise that)."""

from django.conf import settings


def reporting_database() -> str:
    return settings.REPORTING_DATABASE
