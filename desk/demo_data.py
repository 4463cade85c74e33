"""What `seed_demo` plants: users, channels, warehouses, products, addresses, names and the mix of
order states a demo desk should show."""

from decimal import Decimal

from catalog.models import Platform
from core.roles import Role
from inventory.models import WarehouseKind
from orders.models import OrderStatus

DEMO_PASSWORD = "conduit-demo"  # demo only; documented in the README
DEMO_USERS = {
    "agent": Role.CUSTOMER_SERVICE,
    "warehouse": Role.WAREHOUSE,
    "finance": Role.FINANCE,
    "manager": Role.MANAGER,
    "buyer": Role.BUYER,
    "admin": Role.ADMIN,
}

CHANNELS = [
    ("tmall-flagship", Platform.TAOBAO, "天猫旗舰店", "Asia/Shanghai", "CNY"),
    ("shopify-global", Platform.SHOPIFY, "Shopify Global Store", "America/Los_Angeles", "USD"),
    ("woo-eu", Platform.WOOCOMMERCE, "WooCommerce EU", "Europe/Berlin", "EUR"),
    ("jd-pop", Platform.JD, "京东 POP 店", "Asia/Shanghai", "CNY"),
    ("pdd-shop", Platform.PDD, "拼多多旗舰店", "Asia/Shanghai", "CNY"),
    ("douyin-shop", Platform.DOUYIN, "抖音小店", "Asia/Shanghai", "CNY"),
    ("xhs-shop", Platform.XIAOHONGSHU, "小红书店铺", "Asia/Shanghai", "CNY"),
]
# Platforms that send the receiver masked (the demo orders carry it the way their adapters store
# it: masked text only, no ciphertext — there is no platform to decrypt through) and the shape of
# their order numbers.
PROTECTED_RECEIVER_PLATFORMS = {Platform.JD, Platform.PDD, Platform.DOUYIN, Platform.XIAOHONGSHU}
EXTERNAL_ID_FORMATS = {
    Platform.JD: "30{index:010d}",  # JD POP order ids are numbers
    Platform.PDD: "261201-{index:015d}",  # order_sn: date, dash, serial
    Platform.DOUYIN: "69214460{index:011d}",  # 19-digit shop order ids
    Platform.XIAOHONGSHU: "P7{index:016d}",  # P + digits
}
WAREHOUSES = [
    (
        "WH-SH",
        "上海青浦仓",
        WarehouseKind.OWN,
        "上海市",
        "上海市",
        "青浦区",
        31.1494,
        121.1240,
        ["上海市", "江苏省", "浙江省", "安徽省"],
    ),
    (
        "WH-GZ",
        "广州白云云仓",
        WarehouseKind.THIRD_PARTY,
        "广东省",
        "广州市",
        "白云区",
        23.1579,
        113.2732,
        ["广东省", "广西壮族自治区", "福建省", "海南省"],
    ),
    (
        "WH-BJ",
        "北京顺义仓",
        WarehouseKind.OWN,
        "北京市",
        "北京市",
        "顺义区",
        40.1302,
        116.6546,
        ["北京市", "天津市", "河北省", "山东省"],
    ),
    (
        "WH-CD",
        "成都春熙路门店",
        WarehouseKind.STORE,
        "四川省",
        "成都市",
        "锦江区",
        30.6575,
        104.0808,
        ["四川省", "重庆市", "云南省", "贵州省"],
    ),
]
PRODUCTS = [
    ("TEA", "龙井绿茶礼盒", "Longjing green tea gift box", Decimal("168.00")),
    ("MUG", "保温杯 500ml", "Insulated mug 500 ml", Decimal("89.00")),
    ("SILK", "真丝围巾", "Silk scarf", Decimal("259.00")),
    ("CHOP", "竹筷套装", "Bamboo chopsticks set", Decimal("39.90")),
    ("FAN", "苏绣团扇", "Suzhou embroidered fan", Decimal("128.00")),
    ("BOWL", "青瓷碗", "Celadon bowl", Decimal("59.00")),
    ("LAMP", "纸灯笼台灯", "Paper lantern lamp", Decimal("199.00")),
    ("SOCK", "棉袜五双装", "Cotton socks, 5 pairs", Decimal("49.00")),
]
VARIANTS = ["RED", "BLU", "BLK", "WHT", "GRN"]
SIZES = ["S", "M", "L", "XL", "U"]
CN_ADDRESSES = [
    ("浙江省", "杭州市", "西湖区", "文三路 90 号", "310000"),
    ("江苏省", "南京市", "鼓楼区", "中山北路 30 号", "210000"),
    ("广东省", "深圳市", "南山区", "科技园南路 12 号", "518000"),
    ("北京市", "北京市", "朝阳区", "建国路 88 号", "100020"),
    ("四川省", "成都市", "武侯区", "天府大道 1000 号", "610041"),
    ("上海市", "上海市", "浦东新区", "世纪大道 100 号", "200120"),
    ("山东省", "青岛市", "市南区", "香港中路 8 号", "266071"),
]
FOREIGN_ADDRESSES = {
    "US": [
        ("CA", "San Francisco", "", "500 Howard St", "94105"),
        ("NY", "New York", "", "11 W 53rd St", "10019"),
    ],
    "DE": [
        ("BE", "Berlin", "", "Unter den Linden 5", "10117"),
        ("BY", "München", "", "Marienplatz 1", "80331"),
    ],
}
SURNAMES = "王李张刘陈杨黄赵吴周"
GIVEN = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军"]
WESTERN = ["Alex Miller", "Sam Taylor", "Jordan Lee", "Anna Schmidt", "Lukas Weber", "Mia Fischer"]

# Target share of final states across the 5,000 orders.
STATE_MIX = [
    (OrderStatus.PENDING_PAYMENT, 10),
    (OrderStatus.PAID, 15),
    (OrderStatus.ALLOCATED, 10),
    (OrderStatus.PARTIALLY_SHIPPED, 5),
    (OrderStatus.SHIPPED, 15),
    (OrderStatus.DELIVERED, 15),
    (OrderStatus.COMPLETED, 20),
    (OrderStatus.ON_HOLD, 5),
    (OrderStatus.CANCELLED, 5),
]
# How far each state's orders go once routed: do their shipments leave the warehouse, do they
# arrive. The order follows its shipments (a partly shipped one has a pre-sale line waiting).
ROUTED_STATES = {
    OrderStatus.ALLOCATED: (False, False),
    OrderStatus.PARTIALLY_SHIPPED: (True, False),
    OrderStatus.SHIPPED: (True, False),
    OrderStatus.DELIVERED: (True, True),
    OrderStatus.COMPLETED: (True, True),
}
CARRIERS = [  # code, name, Kuaidi100 company code
    ("sf", "顺丰速运 SF Express", "shunfeng"),
    ("zto", "中通快递 ZTO Express", "zhongtong"),
    ("yto", "圆通速递 YTO Express", "yuantong"),
]
# Per warehouse: its default carrier, its rate to the provinces it serves and to everywhere else.
SHIPPING = {
    "WH-SH": ("sf", (Decimal("8.00"), 1), (Decimal("14.00"), 3)),
    "WH-GZ": ("zto", (Decimal("6.00"), 1), (Decimal("11.00"), 3)),
    "WH-BJ": ("yto", (Decimal("7.00"), 1), (Decimal("12.00"), 3)),
    "WH-CD": ("sf", (Decimal("9.00"), 1), (Decimal("16.00"), 4)),
}
HOLD_REASONS = [
    "地址含“临时”关键词",
    "同一手机号一小时内下单 6 次 / Same phone placed 6 orders within an hour",
    "金额超过审核阈值 / Amount above review threshold",
]
# What agents typed: demo data, bilingual like the product names (the desk shows it as typed).
CANCEL_REASONS = [
    "客户要求取消",
    "缺货，客户同意 / Out of stock, customer agreed",
    "重复订单 / Duplicate order",
]
