"""The desk's one search box: an order by its number, external id, phone, e-mail, a parcel's
tracking number or an RMA number. It reads orders, shipments and returns, so it lives here, above
all three."""

from django.db.models import Q, QuerySet
from django.db.models.functions import Right

from fulfilment.models import ShipmentLine
from orders import phones
from orders.models import Order
from returns.models import ReturnRequest


def order_search(queryset: QuerySet[Order], term: str) -> QuerySet[Order]:
    """Exact matches on indexed columns only, so a search stays fast on millions of orders."""
    term = term.strip()
    if not term:
        return queryset
    digits = "".join(ch for ch in term if ch.isdigit() or ch == "+")
    query = Q(number=term.upper()) | Q(external_id=term) | Q(customer_email=term.lower())
    if len(digits) >= 5:
        # Orders store valid phones in E.164 (orders.phones); older rows as typed, digits only.
        # "+86 137…", "0086 137…" and "137…" are one number: search every form of it.
        full = phones.e164(term)
        forms = {digits, *((full, phones.domestic(full)) if full else ())}
        query |= Q(customer_phone__in=forms) | Q(ship_phone__in=forms)
    elif len(digits) == 4 and digits.isdigit() and len(term.replace(" ", "")) == 4:
        # Four digits alone are the recipient's phone's last four (尾号), indexed by
        # order_ship_phone_last4_idx; masked platform numbers keep their last four too.
        query |= Q(ship_phone_last4=digits)
        queryset = queryset.alias(ship_phone_last4=Right("ship_phone", 4))
    # A tracking number finds every order its parcel carries (merged orders included); an RMA
    # number or a return parcel's tracking number finds the order it returns goods of. The ids are
    # looked up first: an IN (subquery) inside the OR would make PostgreSQL scan every order.
    linked = set(
        ShipmentLine.objects.filter(shipment__tracking_number=term).values_list(
            "order_line__order_id", flat=True
        )
    )
    linked.update(
        ReturnRequest.objects.filter(Q(number=term.upper()) | Q(return_tracking_number=term)).values_list(
            "order_id", flat=True
        )
    )
    if linked:
        query |= Q(pk__in=sorted(linked))
    return queryset.filter(query)
