"""The order as sold, to the cent (issue #14, part 1): the platforms' own published sample orders
fed through Conduit's real paths — Shopify and WooCommerce webhooks, Taobao polling against a
local TOP server that answers only the fields asked for — and every amount checked per line
and per order, the paid amount as the platform states it, no money hold, and the revenue lines
adding up to what the buyer paid with tax as its own kind.

Where each sample comes from is written at its test and, in full, in payloads/SOURCES.md."""

import copy
from decimal import Decimal
from types import SimpleNamespace

import pytest

from finance.models import RevenueKind as K
from finance.revenue import order_revenue_amounts
from integrations.adapters import get_adapter
from integrations.sync import channel_sync
from integrations.taobao.client import INCREMENT_RESPONSE
from integrations.tests.conftest import payload, receive
from integrations.tests.test_taobao import APP_KEY, APP_SECRET, SESSION, top_server  # noqa: F401 (fixture)
from orders import amounts
from orders.canonical import CanonicalOrderInput
from orders.models import Order, OrderStatus
from orders.tests.factories import ChannelFactory, SKUFactory, ensure_master_data

pytestmark = pytest.mark.django_db

D = Decimal
ORDER_FIELDS = (
    "goods_amount",
    "adjustment_amount",
    "line_discount_amount",
    "discount",
    "platform_discount_amount",
    "shipping_fee",
    "shipping_discount",
    "shipping_tax",
    "tax_amount",
    "tax_included",
    "total",
    "paid_amount",
)


def money(**values) -> dict:
    """Expected order amounts: every field named, nothing left to a default."""
    assert set(values) == set(ORDER_FIELDS)
    return {name: D(value) if isinstance(value, str) else value for name, value in values.items()}


def order_money(order: Order) -> dict:
    return {name: getattr(order, name) for name in ORDER_FIELDS}


def line_money(order: Order) -> list[tuple]:
    """(seller code, quantity, unit price, adjustment, discount, order discount share, tax, rate,
    net, paid) per line."""
    return [
        (
            line.seller_code,
            line.quantity,
            line.unit_price,
            line.adjustment,
            line.discount,
            line.order_discount_share,
            line.tax_amount,
            line.tax_rate,
            line.net_amount,
            line.paid_amount,
        )
        for line in order.lines.order_by("line_no")
    ]


def line_ids(order: Order) -> list[tuple]:
    return [
        (line.sku.code if line.sku else None, line.platform_item_id, line.platform_sku_id, line.title)
        for line in order.lines.order_by("line_no")
    ]


def assert_not_held_for_money(order: Order) -> None:
    assert amounts.paid_mismatch(order) is None
    assert order.paid_amount == order.total
    assert "Paid amount" not in order.hold_reason


def assert_revenue(order: Order, expected: dict) -> None:
    """The revenue lines the order's amounts give, and that they add up to what was paid."""
    revenue = order_revenue_amounts(order)
    assert revenue == {kind: D(amount) for kind, amount in expected.items()}
    assert sum(revenue.values(), D(0)) == order.paid_amount


def stock(*codes: str) -> None:
    for code in codes:
        receive(SKUFactory(code=code), 10)


# --- Shopify (orders/create webhook) --------------------------------------------------------------


def post_shopify_order(post_shopify, capture, order: dict, **kwargs) -> Order:
    with capture(execute=True):
        assert post_shopify(order, **kwargs).status_code == 202
    return Order.objects.get(channel__code="shop-us", external_id=str(order["id"]))


def test_shopify_rest_sample_order_450789469(post_shopify, django_capture_on_commit_callbacks):
    """Shopify's sample order 450789469 ("Retrieve a specific order", the body Shopify's SDKs
    replay: Shopify/shopify-app-js rest/admin/__tests__/2026-07/order.test.ts test_8): three
    iPods at 199.00, the TENOFF code allocated 3.34/3.33/3.33, State Tax 0.06 of 3.98 a line,
    free shipping, total_price 598.94, partially refunded (so paid)."""
    stock("IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK")

    order = post_shopify_order(
        post_shopify, django_capture_on_commit_callbacks, payload("shopify_order_rest_sample")["order"]
    )

    rate = D("0.0600")
    assert line_money(order) == [
        (
            "IPOD2008GREEN",
            1,
            D("199.00"),
            D("0"),
            D("3.34"),
            D("0"),
            D("3.98"),
            rate,
            D("195.66"),
            D("199.64"),
        ),
        ("IPOD2008RED", 1, D("199.00"), D("0"), D("3.33"), D("0"), D("3.98"), rate, D("195.67"), D("199.65")),
        (
            "IPOD2008BLACK",
            1,
            D("199.00"),
            D("0"),
            D("3.33"),
            D("0"),
            D("3.98"),
            rate,
            D("195.67"),
            D("199.65"),
        ),
    ]
    assert [line.discount_allocations for line in order.lines.order_by("line_no")] == [
        [{"amount": amount, "funded_by": "merchant", "title": "TENOFF"}]
        for amount in ("3.34", "3.33", "3.33")
    ]
    assert line_ids(order) == [
        ("IPOD2008GREEN", "632910392", "39072856", "IPod Nano - 8gb - green"),
        ("IPOD2008RED", "632910392", "49148385", "IPod Nano - 8gb - red"),
        ("IPOD2008BLACK", "632910392", "457924702", "IPod Nano - 8gb - black"),
    ]
    assert order_money(order) == money(
        goods_amount="597.00",
        adjustment_amount="0.00",
        line_discount_amount="10.00",  # every discount is on the lines: no order-level rest
        discount="0.00",
        platform_discount_amount="0.00",
        shipping_fee="0.00",
        shipping_discount="0.00",
        shipping_tax="0.00",
        tax_amount="11.94",
        tax_included=False,
        total="598.94",
        paid_amount="598.94",  # total_price (current_total_price 199.65 is after the refund)
    )
    assert_not_held_for_money(order)
    assert order.status != OrderStatus.ON_HOLD and order.paid_at is not None
    assert_revenue(order, {K.GOODS: "597.00", K.MERCHANT_DISCOUNT: "-10.00", K.TAX: "11.94"})


def test_shopify_sample_with_a_percentage_code(post_shopify, django_capture_on_commit_callbacks):
    """Shopify's "create an order with a discount" sample (same SDK file, test_23): one iPod
    Touch at 199.00, FAKE30 9 % = 17.91 allocated to the line, no tax, paid 181.09."""
    stock("IPOD2009BLACK")

    order = post_shopify_order(
        post_shopify,
        django_capture_on_commit_callbacks,
        payload("shopify_order_rest_create_discount_sample")["order"],
    )

    assert line_money(order) == [
        ("IPOD2009BLACK", 1, D("199.00"), D("0"), D("17.91"), D("0"), D("0"), None, D("181.09"), D("181.09"))
    ]
    assert order.lines.get().discount_allocations == [
        {"amount": "17.91", "funded_by": "merchant", "title": "FAKE30"}
    ]
    assert order_money(order) == money(
        goods_amount="199.00",
        adjustment_amount="0.00",
        line_discount_amount="17.91",
        discount="0.00",
        platform_discount_amount="0.00",
        shipping_fee="0.00",
        shipping_discount="0.00",
        shipping_tax="0.00",
        tax_amount="0.00",
        tax_included=False,
        total="181.09",
        paid_amount="181.09",
    )
    assert_not_held_for_money(order)
    assert_revenue(order, {K.GOODS: "199.00", K.MERCHANT_DISCOUNT: "-17.91"})


def test_shopify_sample_with_two_tax_rates_and_an_untaxed_line(
    post_shopify, django_capture_on_commit_callbacks
):
    """Shopify's "create an order with tax lines" sample (same SDK file, test_24): State tax 0.06
    and County tax 0.025 split over the taxable lines by Shopify (7.81 + 3.26, none, 2.39 + 0.99),
    total_price 270.37. Its three lines are custom items with no product, variant or sku, which
    Conduit cannot name; the test gives each a sku and changes nothing else."""
    stock("COAT-RED", "SHOES-BLUE", "BERET-RASPBERRY")
    order_data = payload("shopify_order_rest_create_tax_lines_sample")["order"]
    for item, code in zip(
        order_data["line_items"], ("COAT-RED", "SHOES-BLUE", "BERET-RASPBERRY"), strict=True
    ):
        item["sku"] = code

    order = post_shopify_order(post_shopify, django_capture_on_commit_callbacks, order_data)

    rate = D("0.0850")  # 0.06 + 0.025
    assert line_money(order) == [
        ("COAT-RED", 1, D("129.99"), D("0"), D("0"), D("0"), D("11.07"), rate, D("129.99"), D("141.06")),
        ("SHOES-BLUE", 1, D("85.95"), D("0"), D("0"), D("0"), D("0"), None, D("85.95"), D("85.95")),
        ("BERET-RASPBERRY", 2, D("19.99"), D("0"), D("0"), D("0"), D("3.38"), rate, D("39.98"), D("43.36")),
    ]
    assert order_money(order) == money(
        goods_amount="255.92",
        adjustment_amount="0.00",
        line_discount_amount="0.00",
        discount="0.00",
        platform_discount_amount="0.00",
        shipping_fee="0.00",
        shipping_discount="0.00",
        shipping_tax="0.00",
        tax_amount="14.45",
        tax_included=False,
        total="270.37",
        paid_amount="270.37",
    )
    assert_not_held_for_money(order)
    assert_revenue(order, {K.GOODS: "255.92", K.TAX: "14.45"})


def test_a_shopify_order_whose_paid_amount_differs_is_held_naming_both(
    post_shopify, django_capture_on_commit_callbacks
):
    """Shopify's sample order 450789469 with total_price changed from 598.94 to 600.00."""
    stock("IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK")
    order_data = payload("shopify_order_rest_sample")["order"]
    order_data["total_price"] = "600.00"
    order_data["total_price_set"]["shop_money"]["amount"] = "600.00"

    order = post_shopify_order(post_shopify, django_capture_on_commit_callbacks, order_data)

    assert order.status == OrderStatus.ON_HOLD
    assert (order.paid_amount, order.total) == (D("600.00"), D("598.94"))
    assert "600.00" in order.hold_reason and "598.94" in order.hold_reason


# --- WooCommerce (order.created webhook) ---------------------------------------------------------


def post_woo_order(post_woo, capture, order: dict) -> Order:
    with capture(execute=True):
        assert post_woo(order).status_code == 202
    return Order.objects.get(channel__code="woo-cn", external_id=str(order["id"]))


def test_woocommerce_rest_docs_order_727(post_woo, django_capture_on_commit_callbacks):
    """The WooCommerce REST API docs' order 727 ("Retrieve an order", woocommerce/
    woocommerce-rest-api-docs source/includes/wp-api-v3/_orders.md): 2 × 3.00 and 12.00, State
    Tax 0.45 + 0.90, flat rate 10.00, total 29.35, processing (paid). Its first line has no sku:
    it names product 93 and waits for the item mapping, which is not a money hold."""
    stock("Bar3")

    order = post_woo_order(
        post_woo, django_capture_on_commit_callbacks, payload("woocommerce_order_rest_sample")
    )

    assert line_money(order) == [
        ("", 2, D("3.00"), D("0"), D("0"), D("0"), D("0.45"), None, D("6.00"), D("6.45")),
        ("Bar3", 1, D("12.00"), D("0"), D("0"), D("0"), D("0.90"), None, D("12.00"), D("12.90")),
    ]  # no rate: this version of Woo sends rate ids without rate_percent
    assert line_ids(order) == [
        (None, "93", "", "Woo Single #1"),
        ("Bar3", "22", "23", "Ship Your Idea – Color: Black, Size: M Test"),
    ]
    assert order_money(order) == money(
        goods_amount="18.00",
        adjustment_amount="0.00",
        line_discount_amount="0.00",
        discount="0.00",
        platform_discount_amount="0.00",
        shipping_fee="10.00",
        shipping_discount="0.00",
        shipping_tax="0.00",
        tax_amount="1.35",
        tax_included=False,
        total="29.35",
        paid_amount="29.35",
    )
    assert_not_held_for_money(order)
    assert order.hold_reason.startswith("Unmapped item")
    assert_revenue(order, {K.GOODS: "18.00", K.SHIPPING: "10.00", K.TAX: "1.35"})


def test_woocommerce_order_727_from_a_shop_whose_prices_include_tax(
    post_woo, django_capture_on_commit_callbacks
):
    """The same order 727 as a shop showing prices with tax sends it (WooCommerce keeps line
    figures without tax either way): prices carry their tax, the total is the same."""
    stock("Bar3")
    data = payload("woocommerce_order_rest_sample", prices_include_tax=True)

    order = post_woo_order(post_woo, django_capture_on_commit_callbacks, data)

    # 6.00 + 0.45 = 6.45 for 2 units: 3.23 each and the rounding cent back as an adjustment
    assert line_money(order) == [
        ("", 2, D("3.23"), D("-0.01"), D("0"), D("0"), D("0.45"), None, D("6.45"), D("6.45")),
        ("Bar3", 1, D("12.90"), D("0"), D("0"), D("0"), D("0.90"), None, D("12.90"), D("12.90")),
    ]
    assert order_money(order) == money(
        goods_amount="19.36",
        adjustment_amount="-0.01",
        line_discount_amount="0.00",
        discount="0.00",
        platform_discount_amount="0.00",
        shipping_fee="10.00",
        shipping_discount="0.00",
        shipping_tax="0.00",
        tax_amount="1.35",
        tax_included=True,
        total="29.35",
        paid_amount="29.35",
    )
    assert_not_held_for_money(order)
    # goods without the tax inside them: 19.36 − 1.35
    assert_revenue(order, {K.GOODS: "18.01", K.ADJUSTMENT: "-0.01", K.SHIPPING: "10.00", K.TAX: "1.35"})


def test_woocommerce_docs_order_728_takes_the_order_tax_not_the_rounded_line_taxes(
    post_woo, django_capture_on_commit_callbacks
):
    """The WooCommerce REST docs' order 728 ("Batch update orders" response, create[0]): line
    taxes 1.125 + 0.225 + 0.9 are sent rounded as 1.13 + 0.23 + 0.90 = 2.26, the order's cart_tax
    is 2.25 and its total 62.25. The order's figure wins; the lines carry 1.13 + 0.22 + 0.90."""
    stock("Bar3")

    order = post_woo_order(
        post_woo, django_capture_on_commit_callbacks, payload("woocommerce_order_batch_728_sample")
    )

    assert line_money(order) == [
        ("", 1, D("15.00"), D("0"), D("0"), D("0"), D("1.13"), None, D("15.00"), D("16.13")),
        ("", 1, D("3.00"), D("0"), D("0"), D("0"), D("0.22"), None, D("3.00"), D("3.22")),
        ("Bar3", 1, D("12.00"), D("0"), D("0"), D("0"), D("0.90"), None, D("12.00"), D("12.90")),
    ]
    assert order_money(order) == money(
        goods_amount="30.00",
        adjustment_amount="0.00",
        line_discount_amount="0.00",
        discount="0.00",
        platform_discount_amount="0.00",
        shipping_fee="30.00",
        shipping_discount="0.00",
        shipping_tax="0.00",
        tax_amount="2.25",
        tax_included=False,
        total="62.25",
        paid_amount="62.25",
    )
    assert_not_held_for_money(order)
    assert order.paid_at is None  # pending: no revenue yet
    assert order_revenue_amounts(order) == {}


# --- Taobao / Tmall (polling taobao.trades.sold.increment.get) ------------------------------------


def top_answer(trade: dict, fields: str) -> dict:
    """A trade as TOP returns it: only the fields the request asked for (`orders.x` for a line's)."""
    wanted = fields.split(",")
    answer = {key: value for key, value in trade.items() if key in wanted}
    line_fields = {name.removeprefix("orders.") for name in wanted if name.startswith("orders.")}
    if "orders" in trade and line_fields:
        answer["orders"] = {
            "order": [
                {k: v for k, v in line.items() if k in line_fields} for line in trade["orders"]["order"]
            ]
        }
    return answer


@pytest.fixture
def tmall(db, top_server):  # noqa: F811 (the fixture imported above)
    ensure_master_data(stock=0)
    host, port = top_server.server_address
    return ChannelFactory(
        code="tmall-1",
        platform="taobao",
        api_credentials={
            "app_key": APP_KEY,
            "app_secret": APP_SECRET,
            "session": SESSION,
            "base_url": f"http://{host}:{port}/router/rest",
        },
    )


@pytest.fixture
def poll_trades(tmall, top_server):  # noqa: F811
    def poll(*trades: dict) -> dict[str, Order]:
        top_server.top.pages = {
            1: lambda params: {
                INCREMENT_RESPONSE: {
                    "has_next": False,
                    "trades": {"trade": [top_answer(trade, params["fields"]) for trade in trades]},
                }
            }
        }
        result = channel_sync(channel_id=tmall.pk)
        assert (result.status, result.error) == ("ok", "")
        return {order.external_id: order for order in Order.objects.filter(channel=tmall)}

    return poll


def trade_86_03() -> dict:
    """A Tmall trade paid 86.03 (taobao.trade.fullinfo.get, published in huanglietao/visitorshop
    SaasDiyAssistantRepository.php getDemoData): two combo lines, total_fee 64.00 and 35.00 after
    their own discounts, shop discount shares (part_mjz_discount) 8.38 and 4.59, divide_order_fee
    55.62 and 30.41. Only TOP's own `trade` object is fed."""
    return payload("taobao_trade_fullinfo_86_03")["result"]["trade"]


def test_taobao_trade_paid_86_03(poll_trades):
    stock("A008", "651")

    order = poll_trades(trade_86_03())["1011032513941101325"]

    # price 168.00 × num 4 is not what TOP says the line sold for (total_fee 64.00 = 168.00 −
    # 104.00; Trade.total_fee 296.00 = Σ price): the list amount 168.00 is spread over the 4 units
    assert line_money(order) == [
        ("A008", 4, D("42.00"), D("0"), D("104.00"), D("8.38"), D("0"), None, D("55.62"), D("55.62")),
        ("651", 2, D("64.00"), D("0"), D("93.00"), D("4.59"), D("0"), None, D("30.41"), D("30.41")),
    ]
    assert [ids[:3] for ids in line_ids(order)] == [
        ("A008", "549924403733", "4120248730389"),
        ("651", "587980015928", "4023785093587"),
    ]
    assert order_money(order) == money(
        goods_amount="296.00",
        adjustment_amount="0.00",
        line_discount_amount="197.00",
        discount="12.97",  # 8.38 + 4.59
        platform_discount_amount="0.00",
        shipping_fee="0.00",
        shipping_discount="0.00",
        shipping_tax="0.00",
        tax_amount="0.00",
        tax_included=False,
        total="86.03",
        paid_amount="86.03",
    )
    assert_not_held_for_money(order)
    assert order.status != OrderStatus.ON_HOLD and order.paid_at is not None
    assert_revenue(order, {K.GOODS: "296.00", K.MERCHANT_DISCOUNT: "-209.97"})


def test_taobao_line_paid_59_00_after_a_seller_price_change(poll_trades):
    """A Taobao line paid 59.00 (a stored taobao.trade.fullinfo.get copy published in the "Tao11
    BuyerTrade API" document, see SOURCES.md §7): price 152.20, discount_fee 77.62 and the
    seller's adjust_fee −15.58. The stored copy keeps only tid_str, orders and payment of the
    trade; the test adds the trade's id, status and times, which carry no money."""
    stored = payload("taobao_trade_fullinfo_59_00")
    trade = {
        "tid": stored["tid_str"],
        "status": stored["orders"]["order"][0]["status"],
        "created": "2018-08-06 16:49:08",
        "modified": "2018-08-06 16:49:08",
        "pay_time": "2018-08-06 16:49:08",
        "orders": stored["orders"],
        "payment": stored["payment"],
    }
    stock("572013962176")

    order = poll_trades(trade)["196076085034242859"]

    assert line_money(order) == [
        (
            "572013962176",
            1,
            D("152.20"),
            D("-15.58"),
            D("77.62"),
            D("0"),
            D("0"),
            None,
            D("59.00"),
            D("59.00"),
        )
    ]
    assert line_ids(order)[0][:3] == ("572013962176", "574612203672", "3759761869413")
    assert order_money(order) == money(
        goods_amount="152.20",
        adjustment_amount="-15.58",
        line_discount_amount="77.62",
        discount="0.00",
        platform_discount_amount="0.00",
        shipping_fee="0.00",
        shipping_discount="0.00",
        shipping_tax="0.00",
        tax_amount="0.00",
        tax_included=False,
        total="59.00",
        paid_amount="59.00",
    )
    assert_not_held_for_money(order)  # held only for the address the stored copy lacks
    assert_revenue(order, {K.GOODS: "152.20", K.ADJUSTMENT: "-15.58", K.MERCHANT_DISCOUNT: "-77.62"})


def test_taobao_single_line_trade_whose_line_payment_includes_postage(poll_trades):
    """A trade of one line, 160.00 − 20.00 + 8.00 postage = 148.00 (taobao.trades.sold.get, logged
    in hcwincom/zzjm AdminTaobaoController.php): the line's `payment` 148.00 is the trade's,
    postage included; its divide_order_fee 140.00 is what the line was paid. The logged trade has
    no `created`: the test gives it the pay time."""
    trade = payload("taobao_trade_sold_get_148_00")
    trade["created"] = trade["pay_time"]
    stock("06-18-08")

    order = poll_trades(trade)["227668460417201790"]

    assert line_money(order) == [
        ("06-18-08", 1, D("160.00"), D("0"), D("20.00"), D("0"), D("0"), None, D("140.00"), D("140.00"))
    ]
    assert order_money(order) == money(
        goods_amount="160.00",
        adjustment_amount="0.00",
        line_discount_amount="20.00",
        discount="0.00",
        platform_discount_amount="0.00",
        shipping_fee="8.00",
        shipping_discount="0.00",
        shipping_tax="0.00",
        tax_amount="0.00",
        tax_included=False,
        total="148.00",
        paid_amount="148.00",
    )
    assert_not_held_for_money(order)
    assert_revenue(order, {K.GOODS: "160.00", K.MERCHANT_DISCOUNT: "-20.00", K.SHIPPING: "8.00"})


def test_taobao_trade_refunded_in_full_is_recorded_cancelled_with_its_money(poll_trades):
    """A Tmall trade refunded in full (taobao.trades.sold.get, listed in zeasin/qihangerp-sdk
    TaoOrderListResponse.java): 4999.00 − 500.00 − the shop discount share 2000.00 = 2499.00;
    the trade's payment stays 2499.00 while the line's own payment fell to 0.00."""
    stock("F3-HGHT-23E-WQM-C1")

    order = poll_trades(payload("taobao_trade_sold_refunded_2499_00"))["2105811697799953286"]

    assert order.status == OrderStatus.CANCELLED
    assert line_money(order) == [
        (
            "F3-HGHT-23E-WQM-C1",
            1,
            D("4999.00"),
            D("0"),
            D("500.00"),
            D("2000.00"),
            D("0"),
            None,
            D("2499.00"),
            D("2499.00"),
        )
    ]
    assert order_money(order) == money(
        goods_amount="4999.00",
        adjustment_amount="0.00",
        line_discount_amount="500.00",
        discount="2000.00",
        platform_discount_amount="0.00",
        shipping_fee="0.00",
        shipping_discount="0.00",
        shipping_tax="0.00",
        tax_amount="0.00",
        tax_included=False,
        total="2499.00",
        paid_amount="2499.00",
    )


def test_taobao_line_refunded_before_the_order_is_taken_leaves_its_payment_out(poll_trades):
    """The 86.03 trade with its second line refunded (refund_status SUCCESS; what TOP does to a
    refunded line's payment is shown by the refunded trade above): the trade's payment still
    counts the 30.41 paid for it, so the order stands at 55.62 — no false hold."""
    trade = trade_86_03()
    trade["orders"]["order"][1]["refund_status"] = "SUCCESS"
    stock("A008", "651")

    order = poll_trades(trade)["1011032513941101325"]

    assert line_money(order) == [
        ("A008", 4, D("42.00"), D("0"), D("104.00"), D("8.38"), D("0"), None, D("55.62"), D("55.62"))
    ]
    assert (order.goods_amount, order.discount, order.total, order.paid_amount) == (
        D("168.00"),
        D("8.38"),
        D("55.62"),
        D("55.62"),
    )
    assert_not_held_for_money(order)
    assert_revenue(order, {K.GOODS: "168.00", K.MERCHANT_DISCOUNT: "-112.38"})


def test_a_taobao_trade_whose_payment_differs_is_held_naming_both(poll_trades):
    """The 86.03 trade with its payment changed to 90.00."""
    trade = copy.deepcopy(trade_86_03())
    trade["payment"] = "90.00"
    stock("A008", "651")

    order = poll_trades(trade)["1011032513941101325"]

    assert order.status == OrderStatus.ON_HOLD
    assert (order.paid_amount, order.total) == (D("90.00"), D("86.03"))
    assert "90.00" in order.hold_reason and "86.03" in order.hold_reason


# --- mapping rules the published samples do not reach (the samples changed as each test says) ------

CHANNEL = SimpleNamespace(code="any")


def canonical_total(canonical: dict) -> Decimal:
    """The canonical order's total by orders.amounts, as the intake computes it."""
    data = CanonicalOrderInput(data=canonical)
    assert data.is_valid(), data.errors
    return amounts.order_amounts(data.validated_data)["total"]


def test_woocommerce_fee_lines_become_line_adjustments_and_tax(db):
    """Order 727 with a 2.00 gift-wrap fee taxed 0.15 (total 31.50): the fee is spread over the
    lines by their totals as seller adjustments, its tax onto their tax; the total still holds."""
    ChannelFactory(code="any", platform="woocommerce")
    data = payload("woocommerce_order_rest_sample", total="31.50", cart_tax="1.50", total_tax="1.50")
    data["fee_lines"] = [{"id": 9, "name": "Gift wrap", "total": "2.00", "total_tax": "0.15", "taxes": []}]

    canonical = get_adapter("woocommerce").to_canonical(data, CHANNEL)

    assert [(line["adjustment"], line["tax_amount"]) for line in canonical["lines"]] == [
        ("0.67", "0.50"),  # 2.00 × 6/18, 0.15 × 6/18 (0.05) on the line's 0.45
        ("1.33", "1.00"),
    ]
    assert canonical_total(canonical) == D(canonical["paid_amount"]) == D("31.50")


def test_woocommerce_more_than_rounding_is_left_for_the_intake_to_hold(db):
    """Order 727 with total 30.35 instead of 29.35: a whole unit is not rounding; nothing absorbs it."""
    ChannelFactory(code="any", platform="woocommerce")

    canonical = get_adapter("woocommerce").to_canonical(
        payload("woocommerce_order_rest_sample", total="30.35"), CHANNEL
    )

    assert [line["adjustment"] for line in canonical["lines"]] == ["0.00", "0.00"]
    assert (canonical_total(canonical), canonical["paid_amount"]) == (D("29.35"), "30.35")


def test_woocommerce_rate_percent_gives_the_line_rate():
    """Order 727 as newer WooCommerce sends it, with tax_lines[].rate_percent (7.5)."""
    data = payload("woocommerce_order_rest_sample")
    data["tax_lines"][0]["rate_percent"] = 7.5

    lines = get_adapter("woocommerce").to_canonical(data, CHANNEL)["lines"]

    assert [line.get("tax_rate") for line in lines] == ["0.0750", "0.0750"]


def test_shopify_shipping_discount_and_shipping_tax(db):
    """Order 450789469 with a 10.00 shipping line, taxed 0.60, and a free-shipping code allocated
    to it through the shipping line's discount_allocations: total_price 598.94 + 0.60. Whether
    total_discounts counts the shipping discount (20.00) or not (10.00), nothing is left over."""
    ChannelFactory(code="any", platform="shopify", currency="USD")
    order = payload("shopify_order_rest_sample")["order"]
    order["discount_applications"].append(
        {"target_type": "shipping_line", "type": "discount_code", "code": "FREESHIP", "value": "100.0"}
    )
    order["shipping_lines"] = [
        {
            "price": "10.00",
            "discount_allocations": [{"amount": "10.00", "discount_application_index": 1}],
            "tax_lines": [{"price": "0.60", "rate": 0.06, "title": "State Tax"}],
        }
    ]
    order.update(total_discounts="20.00", total_price="599.54")
    order.pop("total_price_set")
    order.pop("total_discounts_set")

    canonical = get_adapter("shopify").to_canonical(order, CHANNEL)

    assert (canonical["shipping_fee"], canonical["shipping_discount"], canonical["shipping_tax"]) == (
        "10.00",
        "10.00",
        "0.60",
    )
    assert canonical["discount"] == "0.00"  # 20.00 is all allocated: 10.00 to lines, 10.00 to shipping
    assert canonical_total(canonical) == D(canonical["paid_amount"]) == D("599.54")


def test_taobao_line_paid_without_divide_order_fee_follows_tops_payment_rule():
    """Without divide_order_fee a line's paid amount comes from `payment` as TOP defines it: the
    trade's payment (postage in) on a trade of one line, before the shop discount share on a trade
    of several. The 148.00 and 86.03 trades, divide_order_fee left out."""
    single = payload("taobao_trade_sold_get_148_00", created="2018-09-27 19:54:34")
    del single["orders"]["order"][0]["divide_order_fee"]
    several = trade_86_03()
    for line in several["orders"]["order"]:
        del line["divide_order_fee"]

    adapter = get_adapter("taobao")
    one = adapter.to_canonical(single, CHANNEL)["lines"]
    two = adapter.to_canonical(several, CHANNEL)["lines"]

    assert [line["paid_amount"] for line in one] == ["140.00"]  # 148.00 − 8.00 postage
    assert [line["paid_amount"] for line in two] == ["55.62", "30.41"]  # 64.00 − 8.38, 35.00 − 4.59
