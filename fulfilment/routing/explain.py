"""Why routing chose what it chose: the facts stored on the shipment and the sentence on the
order timeline (translated into the reader's language when rendered)."""

import logging

from django.utils.translation import gettext as _

from fulfilment.models import (
    RoutingPolicy,
)
from fulfilment.routing.facts import destination
from fulfilment.routing.planner import RS, Candidate, Need, Plan, coverage, deciding_strategy, ships_whole

logger = logging.getLogger(__name__)


def explain_choice(
    order, policy, regular: Plan, presale: Plan, waiting: list[Need], exclusions, fallback
) -> dict:
    where, source = destination(order)
    codes = {c.warehouse_id: c.code for c in regular.ranking + presale.ranking}
    explanation = {
        "policy": policy.name if policy.pk else "",
        "strategies": list(policy.strategies),
        "allow_split": policy.allow_split,
        "destination": {
            "province": order.ship_province,
            "city": order.ship_city,
            "district": order.ship_district,
            "point": list(where) if where else None,
            "point_from": source,
        },
        "candidates": [
            {"rank": index, **_candidate_facts(c, regular)}
            for index, c in enumerate(regular.ranking or presale.ranking, start=1)
        ],
        "excluded": exclusions,
        "mode": regular.mode or ("presale" if presale.parts else ""),
        "chosen": [codes[w] for w in regular.parts],
        "presale": [codes[w] for w in presale.parts],
        "waiting": [{"line": n.line_id, "quantity": n.quantity} for n in waiting],
    }
    if fallback:
        explanation["fallback"] = fallback
    explanation["why"] = _sentence(regular, presale, waiting, policy, codes, fallback)
    return explanation


def _candidate_facts(candidate: Candidate, regular: Plan) -> dict:
    needs = [n for part in regular.parts.values() for n, _q in part]
    return {
        "warehouse": candidate.code,
        "kind": candidate.kind,
        "covers": coverage(candidate.stock, needs) if needs else None,
        "whole": ships_whole(candidate.stock, needs) if needs else None,
        "in_region": candidate.in_region,
        "days": candidate.days,
        "distance_km": candidate.distance_km,
        "cost": str(candidate.cost) if candidate.cost is not None else None,
    }


def _sentence(regular: Plan, presale: Plan, waiting, policy, codes, fallback) -> str:
    parts = [fallback_sentence(fallback)] if fallback else []
    chosen = [codes[w] for w in regular.parts]
    if regular.mode == "single":
        parts.append(_single_sentence(regular, policy, chosen[0]))
    elif regular.mode == "split":
        parts.append(
            _("Split across %(warehouses)s: no single warehouse holds the whole order.")
            % {"warehouses": ", ".join(chosen)}
        )
    if presale.parts:
        parts.append(
            _("Pre-sale lines ship on their own from %(warehouses)s.")
            % {"warehouses": ", ".join(codes[w] for w in presale.parts)}
        )
    if waiting:
        parts.append(_("%(n)s pre-sale units wait for stock.") % {"n": sum(n.quantity for n in waiting)})
    return " ".join(parts)


def _single_sentence(regular: Plan, policy: RoutingPolicy, chosen: str) -> str:
    needs = [n for part in regular.parts.values() for n, _q in part]
    whole = [c for c in regular.ranking if ships_whole(c.stock, needs)]
    if len(whole) < 2:
        return _("Ships from %(warehouse)s, the only warehouse that holds the whole order.") % {
            "warehouse": chosen
        }
    strategy = deciding_strategy(whole[0], whole[1], policy.strategies, needs)
    criterion = str(RS(strategy).label) if strategy else _("warehouse code (a tie on every strategy)")
    return _(
        "Ships from %(warehouse)s: it holds the whole order and comes before %(runner_up)s on %(criterion)s."
    ) % {"warehouse": chosen, "runner_up": whole[1].code, "criterion": criterion}


def fallback_sentence(fallback: dict) -> str:
    return _("%(warehouse)s rejected shipment %(shipment)s (%(reason)s).") % {
        "warehouse": fallback.get("warehouse", ""),
        "shipment": fallback.get("shipment", ""),
        "reason": fallback.get("reason", ""),
    }
