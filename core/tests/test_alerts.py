"""alerts_raise_many: batch raising in a constant number of queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.alerts import alert_raise, alert_resolve, alerts_raise_many
from core.models import Alert, AlertSeverity, AlertState

pytestmark = pytest.mark.django_db


def spec(key: str, **extra) -> dict:
    return {"kind": "test", "key": key, "role": "warehouse", "message": f"about {key}", **extra}


def queries_for(alerts: list[dict]) -> int:
    with CaptureQueriesContext(connection) as ctx:
        alerts_raise_many(alerts)
    return len(ctx.captured_queries)


def test_new_alerts_are_created_and_open_ones_bumped():
    alert_raise(kind="test", key="k:1", role="warehouse", message="first")
    alert_raise(kind="test", key="k:2", role="warehouse", message="gone")
    alert_resolve(key="k:2")

    created = alerts_raise_many(
        [
            spec("k:1"),
            spec("k:2"),
            spec("k:3", severity=AlertSeverity.CRITICAL, payload={"n": 3}),
            spec("k:3"),
        ]
    )

    assert created == 2  # k:2 again (its old alert is resolved) and k:3, once
    open_ = {a.key: a for a in Alert.objects.exclude(state=AlertState.RESOLVED)}
    assert set(open_) == {"k:1", "k:2", "k:3"}
    assert open_["k:1"].occurrences == 2 and open_["k:1"].message == "first"
    assert open_["k:2"].occurrences == 1
    assert (open_["k:3"].occurrences, open_["k:3"].role) == (1, "warehouse")
    assert Alert.objects.get(key="k:2", state=AlertState.RESOLVED).occurrences == 1
    assert alerts_raise_many([]) == 0


def test_the_number_of_queries_does_not_grow_with_the_number_of_alerts():
    few = queries_for([spec(f"a:{n}") for n in range(2)])
    many = queries_for([spec(f"b:{n}") for n in range(40)])
    assert few == many  # all new

    few_bumped = queries_for([spec(f"a:{n}") for n in range(2)] + [spec("c:1")])
    many_bumped = queries_for([spec(f"b:{n}") for n in range(40)] + [spec("c:2")])
    assert few_bumped == many_bumped  # bumped and new

    assert Alert.objects.get(key="b:39").occurrences == 2
    assert Alert.objects.count() == 44
