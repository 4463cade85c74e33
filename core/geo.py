"""Where places in China are, roughly: enough to compare warehouses by distance to an address
when the platform gives no coordinates (R-F1 delivery time, the store geo-fence).

A province is placed at its capital (most parcels go to cities, so the capital is a better guess
than the geometric centre of, say, Xinjiang); a city at its centre. Names match with or without
their administrative suffix (浙江省 = 浙江, 杭州市 = 杭州) and in pinyin (Zhejiang, Hangzhou)."""

import math
import re
from decimal import Decimal

Point = tuple[float, float]  # (latitude, longitude) in degrees

EARTH_RADIUS_KM = 6371.0088

# name, pinyin, capital's (lat, lon)
PROVINCES: list[tuple[str, str, float, float]] = [
    ("北京市", "Beijing", 39.9042, 116.4074),
    ("天津市", "Tianjin", 39.3434, 117.3616),
    ("河北省", "Hebei", 38.0428, 114.5149),
    ("山西省", "Shanxi", 37.8706, 112.5489),
    ("内蒙古自治区", "Inner Mongolia", 40.8424, 111.7492),
    ("辽宁省", "Liaoning", 41.8057, 123.4315),
    ("吉林省", "Jilin", 43.8171, 125.3235),
    ("黑龙江省", "Heilongjiang", 45.8038, 126.5350),
    ("上海市", "Shanghai", 31.2304, 121.4737),
    ("江苏省", "Jiangsu", 32.0603, 118.7969),
    ("浙江省", "Zhejiang", 30.2741, 120.1551),
    ("安徽省", "Anhui", 31.8206, 117.2272),
    ("福建省", "Fujian", 26.0745, 119.2965),
    ("江西省", "Jiangxi", 28.6820, 115.8579),
    ("山东省", "Shandong", 36.6512, 117.1201),
    ("河南省", "Henan", 34.7466, 113.6254),
    ("湖北省", "Hubei", 30.5928, 114.3055),
    ("湖南省", "Hunan", 28.2282, 112.9388),
    ("广东省", "Guangdong", 23.1291, 113.2644),
    ("广西壮族自治区", "Guangxi", 22.8170, 108.3665),
    ("海南省", "Hainan", 20.0440, 110.1999),
    ("重庆市", "Chongqing", 29.5630, 106.5516),
    ("四川省", "Sichuan", 30.5728, 104.0668),
    ("贵州省", "Guizhou", 26.6470, 106.6302),
    ("云南省", "Yunnan", 25.0389, 102.7183),
    ("西藏自治区", "Tibet", 29.6520, 91.1721),
    ("陕西省", "Shaanxi", 34.3416, 108.9398),
    ("甘肃省", "Gansu", 36.0611, 103.8343),
    ("青海省", "Qinghai", 36.6171, 101.7782),
    ("宁夏回族自治区", "Ningxia", 38.4872, 106.2309),
    ("新疆维吾尔自治区", "Xinjiang", 43.8256, 87.6168),
    ("台湾省", "Taiwan", 25.0330, 121.5654),
    ("香港特别行政区", "Hong Kong", 22.3193, 114.1694),
    ("澳门特别行政区", "Macau", 22.1987, 113.5439),
]

# name, pinyin, (lat, lon) of the city centre: capitals and the larger e-commerce destinations.
CITIES: list[tuple[str, str, float, float]] = [
    ("杭州市", "Hangzhou", 30.2741, 120.1551),
    ("宁波市", "Ningbo", 29.8683, 121.5440),
    ("温州市", "Wenzhou", 27.9943, 120.6994),
    ("绍兴市", "Shaoxing", 30.0303, 120.5802),
    ("嘉兴市", "Jiaxing", 30.7469, 120.7555),
    ("湖州市", "Huzhou", 30.8930, 120.0868),
    ("金华市", "Jinhua", 29.0790, 119.6474),
    ("义乌市", "Yiwu", 29.3069, 120.0753),
    ("台州市", "Taizhou", 28.6564, 121.4208),
    ("南京市", "Nanjing", 32.0603, 118.7969),
    ("苏州市", "Suzhou", 31.2990, 120.5853),
    ("无锡市", "Wuxi", 31.4912, 120.3119),
    ("常州市", "Changzhou", 31.8107, 119.9741),
    ("南通市", "Nantong", 31.9802, 120.8943),
    ("扬州市", "Yangzhou", 32.3942, 119.4129),
    ("徐州市", "Xuzhou", 34.2044, 117.2858),
    ("广州市", "Guangzhou", 23.1291, 113.2644),
    ("深圳市", "Shenzhen", 22.5431, 114.0579),
    ("东莞市", "Dongguan", 23.0207, 113.7518),
    ("佛山市", "Foshan", 23.0218, 113.1219),
    ("珠海市", "Zhuhai", 22.2710, 113.5767),
    ("中山市", "Zhongshan", 22.5176, 113.3926),
    ("惠州市", "Huizhou", 23.1115, 114.4152),
    ("汕头市", "Shantou", 23.3535, 116.6822),
    ("福州市", "Fuzhou", 26.0745, 119.2965),
    ("厦门市", "Xiamen", 24.4798, 118.0894),
    ("泉州市", "Quanzhou", 24.8741, 118.6757),
    ("合肥市", "Hefei", 31.8206, 117.2272),
    ("南昌市", "Nanchang", 28.6820, 115.8579),
    ("济南市", "Jinan", 36.6512, 117.1201),
    ("青岛市", "Qingdao", 36.0671, 120.3826),
    ("烟台市", "Yantai", 37.4638, 121.4479),
    ("郑州市", "Zhengzhou", 34.7466, 113.6254),
    ("洛阳市", "Luoyang", 34.6197, 112.4540),
    ("武汉市", "Wuhan", 30.5928, 114.3055),
    ("长沙市", "Changsha", 28.2282, 112.9388),
    ("成都市", "Chengdu", 30.5728, 104.0668),
    ("绵阳市", "Mianyang", 31.4675, 104.6796),
    ("贵阳市", "Guiyang", 26.6470, 106.6302),
    ("昆明市", "Kunming", 25.0389, 102.7183),
    ("南宁市", "Nanning", 22.8170, 108.3665),
    ("桂林市", "Guilin", 25.2736, 110.2900),
    ("海口市", "Haikou", 20.0440, 110.1999),
    ("三亚市", "Sanya", 18.2528, 109.5119),
    ("西安市", "Xi'an", 34.3416, 108.9398),
    ("兰州市", "Lanzhou", 36.0611, 103.8343),
    ("西宁市", "Xining", 36.6171, 101.7782),
    ("银川市", "Yinchuan", 38.4872, 106.2309),
    ("乌鲁木齐市", "Urumqi", 43.8256, 87.6168),
    ("拉萨市", "Lhasa", 29.6520, 91.1721),
    ("石家庄市", "Shijiazhuang", 38.0428, 114.5149),
    ("太原市", "Taiyuan", 37.8706, 112.5489),
    ("呼和浩特市", "Hohhot", 40.8424, 111.7492),
    ("沈阳市", "Shenyang", 41.8057, 123.4315),
    ("大连市", "Dalian", 38.9140, 121.6147),
    ("长春市", "Changchun", 43.8171, 125.3235),
    ("哈尔滨市", "Harbin", 45.8038, 126.5350),
    ("台北市", "Taipei", 25.0330, 121.5654),
    # The municipalities are their own cities.
    ("北京市", "Beijing", 39.9042, 116.4074),
    ("天津市", "Tianjin", 39.3434, 117.3616),
    ("上海市", "Shanghai", 31.2304, 121.4737),
    ("重庆市", "Chongqing", 29.5630, 106.5516),
    ("香港", "Hong Kong", 22.3193, 114.1694),
    ("澳门", "Macau", 22.1987, 113.5439),
]

# Longest first, so 壮族自治区 goes before 自治区.
_SUFFIXES = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "自治州", "地区", "省", "市")
_NOISE = re.compile(r"[\s'’\-·.]+")


def normalise_region(name: str) -> str:
    """The comparable form of a province or city name: no spaces, no suffix, lower case."""
    text = _NOISE.sub("", (name or "").strip()).lower()
    for suffix in _SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)]
    for suffix in ("province", "city", "shi", "sheng"):
        if text.endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)]
    return text


def _index(rows) -> tuple[dict[str, Point], dict[str, str]]:
    """{normalised name or pinyin: point} and {normalised name or pinyin: canonical name}."""
    points: dict[str, Point] = {}
    names: dict[str, str] = {}
    for name, pinyin, lat, lon in rows:
        for alias in (normalise_region(name), normalise_region(pinyin)):
            points.setdefault(alias, (lat, lon))
            names.setdefault(alias, name)
    return points, names


_PROVINCES, _PROVINCE_NAMES = _index(PROVINCES)
_CITIES, _CITY_NAMES = _index(CITIES)


def canonical_region(name: str) -> str:
    """The table's name for a province or city (Zhejiang → 浙江省); unknown names normalised."""
    key = normalise_region(name)
    return _PROVINCE_NAMES.get(key) or _CITY_NAMES.get(key) or key


def same_region(a: str, b: str) -> bool:
    """Whether two region names mean the same place (浙江省 / 浙江 / Zhejiang)."""
    left, right = canonical_region(a), canonical_region(b)
    return bool(left) and left == right


def centroid(*, province: str = "", city: str = "") -> Point | None:
    """The city's point when we know the city, else the province's, else None."""
    return _CITIES.get(normalise_region(city)) or _PROVINCES.get(normalise_region(province))


def point(latitude, longitude) -> Point | None:
    """A (lat, lon) pair from model fields (Decimal or None)."""
    if latitude is None or longitude is None:
        return None
    return float(Decimal(latitude)), float(Decimal(longitude))


def haversine_km(a: Point, b: Point) -> float:
    """Great-circle distance between two points, in kilometres."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))
