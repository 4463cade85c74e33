"""An order's shipping address in China under official names and placed on the map
(core.divisions): at intake (orders.building.header_values) and when the desk changes an address
(orders.services.order_change_address). Addresses outside China pass through untouched."""

from decimal import Decimal
from typing import Any

from core import divisions

# What placing an address reads, and what it writes.
PLACE_FIELDS = ("ship_country", "ship_province", "ship_city", "ship_district", "ship_line1")
COORDINATE = Decimal("0.000001")  # Order.ship_latitude / ship_longitude keep 6 decimal places


def placed(values: dict[str, Any]) -> dict[str, Any]:
    """ship_province, ship_city and ship_district under their official names (the missing ones
    filled from the others or from line 1), and ship_latitude / ship_longitude at the district's
    centre — None when the district is not known (routing then uses the city's or province's)."""
    found = divisions.normalise(
        country=values.get("ship_country") or "",
        province=values.get("ship_province") or "",
        city=values.get("ship_city") or "",
        district=values.get("ship_district") or "",
        line1=values.get("ship_line1") or "",
    )
    latitude = longitude = None
    if found.point is not None and found.point_from == divisions.DISTRICT:
        latitude, longitude = (Decimal(repr(value)).quantize(COORDINATE) for value in found.point)
    return {
        "ship_province": found.province,
        "ship_city": found.city,
        "ship_district": found.district,
        "ship_latitude": latitude,
        "ship_longitude": longitude,
    }
