"""E-waybills at release (issue #17 part 2) with carrier rules and their backup carrier (part 1).

A shipment released to an own warehouse gets its carrier by the rules and its waybill through the
outbox: from Kuaidi100 (the fake of test_kuaidi100, checking Kuaidi100's MD5 signature) for
generic orders, from the platform's own e-waybill for Taobao (Cainiao, fake_top checking TOP's
signature) and Pinduoduo (fake_pdd checking PDD's) orders, passing the receiver handle /
ciphertext the order holds — never plain text. Refusals go to the backup carrier once, then to the
"waybill failed" queue, retried in bulk from the desk."""

import json
import threading
from http.server import ThreadingHTTPServer

import pytest
from django.urls import reverse
from django.utils import timezone

from core.models import Alert, AlertState, OutboxMessage, OutboxState
from core.outbox import outbox_deliver
from fulfilment import waybills
from fulfilment.models import CarrierRule, Shipment, ShipmentStatus, WaybillRequest, WaybillState
from fulfilment.services import shipment_transition
from fulfilment.tests.shipping import carrier, ready_to_ship
from fulfilment.waybills import WaybillCancel
from integrations.carriers.waybills import SOURCES
from integrations.douyin import mapping as douyin_mapping
from integrations.jd import mapping as jd_mapping
from integrations.tests import fake_douyin, fake_jd, fake_pdd, fake_top
from integrations.tests import test_kuaidi100 as k100
from orders.services import order_transition
from orders.tests.factories import ChannelFactory, make_order

pytestmark = pytest.mark.django_db

REFUSAL = {"success": False, "code": 30004, "message": "电子面单余额不足"}
TAOBAO_TID = "2105811697799953286"
TAOBAO_OAID = "1p4nZ8Ap4ZNnnUplibDEoUb3kh1CIBqJtMXfD8Ba8V1o8vUaOicVZOp58nTVJQ6y309zTj1h"
SN_101 = "260512-100000000000101"
PDD_PLAIN = ("张三", "13800005678", "娄山关路533号")  # pdd_open_decrypt_batch_response.json


# --- a Kuaidi100 that refuses the carriers it is told to --------------------------------------------


class RefusingHandler(k100.Handler):
    def label(self, stub, form):
        if form.get("method") == "cancel":  # 电子面单取消: same address and signature as ordering
            if form.get("key") != k100.KEY or form.get("sign") != k100.md5(
                form["param"] + form["t"] + k100.KEY + k100.SECRET
            ):
                return self.answer({"success": False, "code": 503, "message": "签名验证失败"})
            return self.answer({"success": True, "code": 200, "message": "success"})
        company = json.loads(form["param"]).get("kuaidicom")
        stub.waybill_answer = REFUSAL if company in stub.refused else None
        return super().label(stub, form)


@pytest.fixture
def kuaidi(settings):
    stub = k100.Kuaidi100Stub()
    stub.refused = set()
    server = ThreadingHTTPServer(("127.0.0.1", 0), RefusingHandler)
    server.stub = stub
    stub.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.KUAIDI100_KEY, settings.KUAIDI100_CUSTOMER = k100.KEY, k100.CUSTOMER
    settings.KUAIDI100_SECRET, settings.KUAIDI100_SALT = k100.SECRET, k100.SALT
    settings.KUAIDI100_CALLBACK_URL = k100.CALLBACK
    settings.KUAIDI100_POLL_URL = settings.KUAIDI100_API_URL = stub.base_url
    yield stub
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def rules():
    zto, sf = carrier("zto", "zhongtong"), carrier("sf", "shunfeng")
    CarrierRule.objects.create(
        name="Zhejiang → ZTO", priority=10, provinces=["浙江省"], carrier=zto, backup_carrier=sf
    )
    return zto, sf


def release(django_capture_on_commit_callbacks, order=None, **order_fields) -> Shipment:
    with django_capture_on_commit_callbacks(execute=True):
        shipment = ready_to_ship(order, **order_fields)
    shipment.refresh_from_db()
    return shipment


def companies(kuaidi) -> list[str]:
    return [json.loads(form["param"])["kuaidicom"] for form in kuaidi.calls("/label/order")]


# --- Kuaidi100, rules and the backup carrier -------------------------------------------------------


def test_release_takes_the_waybill_of_the_rules_carrier(kuaidi, rules, django_capture_on_commit_callbacks):
    shipment = release(django_capture_on_commit_callbacks)

    assert companies(kuaidi) == ["zhongtong"]
    assert shipment.carrier.code == "zto"
    assert shipment.tracking_number == f"ZT9{shipment.number[-6:]}"  # printing reads it
    assert shipment.routing["carrier"]["reason"] == "Rule “Zhejiang → ZTO” (priority 10)"
    assert shipment.waybill_request.state == WaybillState.ISSUED


def test_the_first_carrier_refuses_and_the_backup_is_used_with_the_reason_shown(
    kuaidi, rules, django_capture_on_commit_callbacks, admin_client
):
    kuaidi.refused = {"zhongtong"}

    shipment = release(django_capture_on_commit_callbacks)

    assert companies(kuaidi) == ["zhongtong", "shunfeng"]
    assert shipment.carrier.code == "sf" and shipment.tracking_number
    used = shipment.routing["carrier"]["backup_used"]
    assert "ZTO failed" in used and "电子面单余额不足" in used and "backup carrier SF" in used
    assert shipment.waybill_request.state == WaybillState.ISSUED
    page = admin_client.get(reverse("fulfilment:shipment", args=[shipment.number])).content.decode()
    assert "Rule “Zhejiang → ZTO” (priority 10)" in page and "backup carrier SF" in page


def test_both_refuse_the_shipment_joins_the_failed_queue_and_a_bulk_retry_succeeds(
    kuaidi, rules, django_capture_on_commit_callbacks, admin_client
):
    kuaidi.refused = {"zhongtong", "shunfeng"}
    first = release(django_capture_on_commit_callbacks)
    second = release(django_capture_on_commit_callbacks, make_order(paid=True))

    for shipment in (first, second):
        request = shipment.waybill_request
        assert (request.state, request.carrier.code) == (WaybillState.FAILED, "sf")
        assert "电子面单余额不足" in request.error and shipment.tracking_number == ""
    alerts = Alert.objects.filter(kind="waybill_failed").exclude(state=AlertState.RESOLVED)
    assert alerts.count() == 2
    queue = admin_client.get(reverse("fulfilment:waybills-failed")).content.decode()
    assert first.number in queue and second.number in queue and "电子面单余额不足" in queue

    # the account was topped up: select all, "Retry selected"
    kuaidi.refused = set()
    ids = [first.waybill_request.pk, second.waybill_request.pk]
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("fulfilment:waybills-retry"), {"request": ids})
    assert response.status_code == 302

    for shipment in (first, second):
        shipment.refresh_from_db()
        assert shipment.tracking_number and shipment.carrier.code == "sf" and shipment.problem == ""
        assert shipment.waybill_request.state == WaybillState.ISSUED
    assert not Alert.objects.filter(kind="waybill_failed").exclude(state=AlertState.RESOLVED).exists()
    assert first.number not in admin_client.get(reverse("fulfilment:waybills-failed")).content.decode()


def test_a_repeated_outbox_delivery_never_takes_a_second_number(
    kuaidi, rules, django_capture_on_commit_callbacks
):
    shipment = release(django_capture_on_commit_callbacks)
    number = shipment.tracking_number
    message = OutboxMessage.objects.get(kind=waybills.KIND)

    # delivered again (a worker lost its lease, a broker redelivered): nothing is asked
    OutboxMessage.objects.filter(pk=message.pk).update(
        state=OutboxState.PENDING, next_attempt_at=timezone.now()
    )
    assert outbox_deliver(message.pk) == "delivered"
    # and a delivery while another one is calling the source waits instead of calling too
    WaybillRequest.objects.filter(pk=shipment.waybill_request.pk).update(state=WaybillState.PENDING)
    claimed = waybills.waybill_claim(request_id=shipment.waybill_request.pk, attempt=1)
    assert claimed == "done"  # the shipment has its number: the request is marked issued again

    assert len(kuaidi.calls("/label/order")) == 1
    shipment.refresh_from_db()
    assert shipment.tracking_number == number


def test_nothing_is_requested_without_a_carrier_or_for_a_cloud_warehouse(
    kuaidi, django_capture_on_commit_callbacks
):
    shipment = release(django_capture_on_commit_callbacks)  # no rule, no default carrier

    assert kuaidi.calls("/label/order") == []
    assert not WaybillRequest.objects.filter(shipment=shipment).exists()


# --- the platforms' own e-waybills ---------------------------------------------------------------------


@pytest.fixture
def top():
    server, thread = fake_top.serve()
    yield server.top
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def pdd():
    server, thread = fake_pdd.serve()
    yield server.pdd
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def cainiao_carrier():
    return carrier(
        "ems",
        "ems",
        waybill_credentials={
            "cainiao": {
                "cp_code": "POSTB",
                "template_url": "http://cloudprint.cainiao.com/template/standard/101",
            },
            "pdd": {"wp_code": "JTSD", "template_url": "https://file-link.pinduoduo.com/jtsd_one"},
        },
    )


def platform_rule(by):
    CarrierRule.objects.create(name="All → EMS", priority=10, carrier=by)


def test_a_taobao_order_takes_a_cainiao_waybill_with_its_oaid_and_no_plain_text(
    top, django_capture_on_commit_callbacks
):
    ChannelFactory(code="tb-1", platform="taobao", api_credentials=fake_top.credentials(top))
    platform_rule(cainiao_carrier())
    order = make_order(
        channel="tb-1",
        external_id=TAOBAO_TID,
        paid=True,
        customer={"name": "大**", "phone": "", "email": ""},
        shipping_address={
            "name": "大**",
            "country": "CN",
            "province": "上海",
            "city": "上海市",
            "district": "普陀区",
            "line1": "长**街道祥源西康***大门**路**号***室",
            "phone": "*******8650",
        },
        protected_receiver={"oaid": {"value": TAOBAO_OAID}},
    )

    shipment = release(django_capture_on_commit_callbacks, order)

    (call,) = top.calls("cainiao.waybill.ii.get")
    assert call["sign"] == fake_top.top_sign(call, fake_top.APP_SECRET)
    sent = json.loads(call["param_waybill_cloud_print_apply_new_request"])
    (dto,) = sent["trade_order_info_dtos"]
    expected = fake_top.sample("taobao_waybill_get_request")["param_waybill_cloud_print_apply_new_request"]
    assert sent["cp_code"] == expected["cp_code"]
    assert dto["recipient"]["oaid"] == TAOBAO_OAID and dto["recipient"]["tid"] == TAOBAO_TID
    assert dto["order_info"] == {"order_channels_type": "TB", "trade_order_list": [TAOBAO_TID]}
    assert dto["object_id"] == shipment.number
    assert set(dto["recipient"]) <= set(expected["trade_order_info_dtos"][0]["recipient"]) | {"phone"}
    assert dto["recipient"]["mobile"] == "*******8650"  # the masked text, nothing in clear
    assert shipment.tracking_number == "9890000066001"
    assert shipment.waybill["print_data"].startswith('{"encryptedData"')
    assert shipment.waybill_request.source == "cainiao"


def test_a_cainiao_refusal_is_queued_with_the_platforms_error(top, django_capture_on_commit_callbacks):
    ChannelFactory(code="tb-1", platform="taobao", api_credentials=fake_top.credentials(top))
    platform_rule(cainiao_carrier())
    top.faults = [("cainiao.waybill.ii.get", "taobao_waybill_get_error_no_balance_response")]

    shipment = release(django_capture_on_commit_callbacks, channel="tb-1")

    request = shipment.waybill_request
    assert request.state == WaybillState.FAILED
    assert "isv.invalid-parameter" in request.error and "电子面单余额不足" in request.error
    assert "电子面单余额不足" in shipment.problem


def test_a_pinduoduo_order_takes_its_waybill_with_the_ciphertexts_and_no_plain_text(
    pdd, django_capture_on_commit_callbacks
):
    ChannelFactory(code="pdd-1", platform="pdd", api_credentials=fake_pdd.credentials(pdd))
    platform_rule(cainiao_carrier())
    ciphers = {name: f"TESTCIPHER-{name}-{SN_101}" for name in ("name", "phone", "address")}
    order = make_order(
        channel="pdd-1",
        external_id=SN_101,
        paid=True,
        shipping_address={
            "name": "张*",
            "country": "CN",
            "province": "上海市",
            "city": "上海市",
            "district": "长宁区",
            "line1": "娄山关路***",
            "phone": "138****5678",
        },
        protected_receiver={
            name: {"masked": "", "cipher": cipher, "index": ""} for name, cipher in ciphers.items()
        },
    )

    shipment = release(django_capture_on_commit_callbacks, order)

    (call,) = pdd.calls("pdd.waybill.get")
    assert call["sign"] == fake_pdd.pdd_sign(call, fake_pdd.CLIENT_SECRET)
    raw = json.dumps(call, ensure_ascii=False)
    assert not any(plain in raw for plain in PDD_PLAIN)
    sent = json.loads(call["param_waybill_cloud_print_apply_new_request"])
    expected = fake_pdd.sample("pdd_waybill_get_request")["param_waybill_cloud_print_apply_new_request"]
    (dto,) = sent["trade_order_info_dtos"]
    assert dto["recipient"] == expected["trade_order_info_dtos"][0]["recipient"]
    assert dto["order_info"] == expected["trade_order_info_dtos"][0]["order_info"]
    assert (
        sent["wp_code"] == expected["wp_code"]
        and dto["template_url"] == expected["trade_order_info_dtos"][0]["template_url"]
    )
    assert shipment.tracking_number == "JT5049988959708"
    assert shipment.waybill_request.source == "pdd"

    # a repeated delivery of the same message asks PDD for nothing more
    message = OutboxMessage.objects.get(kind=waybills.KIND)
    OutboxMessage.objects.filter(pk=message.pk).update(
        state=OutboxState.PENDING, next_attempt_at=timezone.now()
    )
    outbox_deliver(message.pk)
    assert pdd.waybills_issued == ["JT5049988959708"]


# --- Douyin and JD (issue #17 part 2) ------------------------------------------------------------------

DOUYIN_ID = "6921446093102487771"  # douyin_order_detail_response.json
DOUYIN_PLAIN = ("张三", "13117428564", "丹棱街1号")  # douyin_order_batch_decrypt_response.json
JD_ID = "300000000001"  # jd_pop_order_enget_response.json
JD_PLAIN = ("张三", "13800005678", "娄山关路533号")  # jd_jos_order_oaid_decrypt_response.json


@pytest.fixture
def douyin():
    server, thread = fake_douyin.serve()
    yield server.douyin
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def jos():
    server, thread = fake_jd.serve()
    yield server.jos
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def douyin_carrier():
    return carrier(
        "yto",
        "yuantong",
        waybill_credentials={"douyin": {"logistics_code": "yuantong", "sender_mobile": "13601812022"}},
    )


def jd_carrier():
    expected = fake_jd.sample("jd_waybill_create_request")["request"]
    return carrier(
        "sf",
        "shunfeng",
        waybill_credentials={
            "jd": {
                "provider_code": expected["providerCode"],
                "settlement_code": expected["settlementCode"],
                "vendor_code": expected["vendorCode"],
                "express_pay_method": expected["expressPayMethod"],
                "express_type": expected["expressType"],
            }
        },
    )


def douyin_order(douyin_gateway, **fields):
    """The Douyin order of douyin_order_detail_response.json as the Douyin mapping keeps it: masked
    text on the order, the ciphertexts in receiver_protected."""
    ChannelFactory(code="dy-1", platform="douyin", api_credentials=fake_douyin.credentials(douyin_gateway))
    detail = fake_douyin.sample("douyin_order_detail_response")["data"]["shop_order_detail"]
    address, protected = douyin_mapping._receiver(detail)
    return make_order(
        channel="dy-1",
        external_id=DOUYIN_ID,
        paid=True,
        customer={"name": address["name"], "phone": "", "email": ""},
        shipping_address=address,
        protected_receiver=protected,
        **fields,
    )


def jd_order(jos_gateway):
    ChannelFactory(code="jd-1", platform="jd", api_credentials=fake_jd.credentials(jos_gateway))
    consignee = fake_jd.order_of("jd_pop_order_enget_response")["consigneeInfo"]
    return make_order(
        channel="jd-1",
        external_id=JD_ID,
        paid=True,
        customer={"name": "", "phone": "", "email": ""},
        shipping_address={
            "name": consignee["fullname"],
            "country": "CN",
            "province": consignee["province"],
            "city": consignee["city"],
            "district": consignee["county"],
            "line1": jd_mapping.MASKED_STREET,
            "phone": consignee["mobile"],
        },
        protected_receiver=jd_mapping.protected_receiver(consignee),
    )


def redeliver(kind: str) -> str:
    """Deliver the message of `kind` once more, as a worker that lost its lease would."""
    message = OutboxMessage.objects.get(kind=kind)
    OutboxMessage.objects.filter(pk=message.pk).update(
        state=OutboxState.PENDING, next_attempt_at=timezone.now()
    )
    return outbox_deliver(message.pk)


def test_a_douyin_order_takes_its_waybill_with_the_ciphertexts_and_no_plain_text(
    douyin, django_capture_on_commit_callbacks
):
    platform_rule(douyin_carrier())
    shipment = release(django_capture_on_commit_callbacks, douyin_order(douyin))

    (call,) = douyin.calls("logistics.newCreateOrder")
    query = call["query"]
    assert query["sign"] == fake_douyin.dy_sign(
        fake_douyin.APP_SECRET,
        fake_douyin.APP_KEY,
        "logistics.newCreateOrder",
        call["body"],
        query["timestamp"],
        query.get("sign_method") or "md5",
    )
    assert not any(plain in call["body"] for plain in DOUYIN_PLAIN)
    expected = fake_douyin.sample("douyin_waybill_new_create_order_request")
    (info,) = call["params"]["order_infos"]
    # receiver as the constructed request: the order's ciphertexts, street in plain; the region
    # names are the order's, normalised at intake (北京市 for the platform's city "市辖区")
    receiver = expected["order_infos"][0]["receiver_info"]
    assert info["receiver_info"]["contact"] == receiver["contact"]
    assert info["receiver_info"]["address"] == {**receiver["address"], "city_name": "北京市"}
    assert info["order_id"] == DOUYIN_ID and "pack_id" not in info  # one parcel: no pack id
    assert call["params"]["logistics_code"] == "yuantong"
    assert call["params"]["sender_info"]["contact"] == {"name": "Hangzhou", "mobile": "13601812022"}
    assert shipment.tracking_number == "YT8800000000001"
    assert shipment.waybill["source"] == "douyin" and shipment.waybill["sort_code"] == "400-W00 000"
    assert shipment.waybill_request.state == WaybillState.ISSUED

    # a repeated delivery of the same message asks Douyin for nothing more
    assert redeliver(waybills.KIND) == "delivered"
    assert len(douyin.calls("logistics.newCreateOrder")) == 1
    assert douyin.waybills_issued == ["YT8800000000001"]


def test_a_douyin_item_refusal_goes_to_the_failed_queue_with_its_code_and_text(
    douyin, django_capture_on_commit_callbacks, admin_client
):
    platform_rule(douyin_carrier())
    douyin.waybill_no_stock = {DOUYIN_ID}

    shipment = release(django_capture_on_commit_callbacks, douyin_order(douyin))

    request = shipment.waybill_request
    assert request.state == WaybillState.FAILED and shipment.tracking_number == ""
    assert "10701" in request.error and "电子面单库存不足" in request.error
    assert "电子面单库存不足" in shipment.problem
    assert Alert.objects.filter(kind="waybill_failed", key=waybills.waybill_alert_key(shipment.pk)).exists()
    queue = admin_client.get(reverse("fulfilment:waybills-failed")).content.decode()
    assert shipment.number in queue and "10701" in queue
    assert len(douyin.calls("logistics.newCreateOrder")) == 1  # a refusal is not repeated


def test_a_lost_douyin_answer_is_asked_again_and_gets_the_same_number(
    douyin, django_capture_on_commit_callbacks
):
    """Douyin: asking again with the same order and pack id returns the old number (notes §C1)."""
    platform_rule(douyin_carrier())
    douyin.faults = [("logistics.newCreateOrder", "lost")]  # issued, but the answer is a 502

    shipment = release(django_capture_on_commit_callbacks, douyin_order(douyin))
    assert shipment.tracking_number == "" and shipment.waybill_request.state == WaybillState.PENDING
    assert douyin.waybills_issued == ["YT8800000000001"]

    assert redeliver(waybills.KIND) == "delivered"  # the outbox's retry

    shipment.refresh_from_db()
    assert len(douyin.calls("logistics.newCreateOrder")) == 2
    assert douyin.waybills_issued == ["YT8800000000001"]  # no second number taken
    assert shipment.tracking_number == "YT8800000000001"
    assert [event["event"] for event in shipment.waybill_request.history] == ["requested", "retry", "issued"]


def test_a_jd_order_takes_its_waybill_with_the_oaid_and_no_plain_text(
    jos, django_capture_on_commit_callbacks
):
    platform_rule(jd_carrier())
    shipment = release(django_capture_on_commit_callbacks, jd_order(jos))

    (call,) = jos.calls("jingdong.logistics.ewaybill.waybill.create")
    assert call["sign"] == fake_jd.jos_sign(call, fake_jd.APP_SECRET)
    assert not any(plain in json.dumps(call, ensure_ascii=False) for plain in JD_PLAIN)
    sent = json.loads(call["360buy_param_json"])["request"]
    expected = fake_jd.sample("jd_waybill_create_request")["request"]
    # ciphertexts, masked mobile and the oaid; the province as normalised at intake (上海 → 上海市)
    assert sent["toAddress"] == {**expected["toAddress"], "provinceName": "上海市"}
    for key in ("providerCode", "settlementCode", "salePlatform", "platformOrderNo", "vendorCode", "payType"):
        assert sent[key] == expected[key], key
    assert sent["vendorOrderCode"] == shipment.number
    assert shipment.tracking_number == "SF1400000000001"
    assert shipment.waybill["source"] == "jd" and shipment.waybill_request.state == WaybillState.ISSUED

    assert redeliver(waybills.KIND) == "delivered"
    assert jos.waybills_issued == ["SF1400000000001"]


# --- cancelled before it leaves: the number is given back -------------------------------------------


def cancel_shipment(shipment, django_capture_on_commit_callbacks) -> Shipment:
    with django_capture_on_commit_callbacks(execute=True):
        shipment_transition(shipment=shipment, name="cancel", args={"problem": "customer cancelled"})
    shipment.refresh_from_db()
    return shipment


def taobao_shipment(top, django_capture_on_commit_callbacks) -> Shipment:
    ChannelFactory(code="tb-1", platform="taobao", api_credentials=fake_top.credentials(top))
    platform_rule(cainiao_carrier())
    order = make_order(
        channel="tb-1", external_id=TAOBAO_TID, paid=True, protected_receiver={"oaid": {"value": TAOBAO_OAID}}
    )
    return release(django_capture_on_commit_callbacks, order)


def test_cancelling_the_order_cancels_its_cainiao_waybill_once(top, django_capture_on_commit_callbacks):
    shipment = taobao_shipment(top, django_capture_on_commit_callbacks)
    assert shipment.tracking_number == "9890000066001"

    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order=shipment.order_id, name="cancel", reason="customer changed their mind")

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.CANCELLED
    (call,) = top.calls("cainiao.waybill.ii.cancel")
    assert call["sign"] == fake_top.top_sign(call, fake_top.APP_SECRET)
    expected = fake_top.sample("taobao_waybill_cancel_request")
    assert {k: call[k] for k in expected} == expected  # cp_code POSTB, waybill_code 9890000066001
    assert top.cainiao_cancelled == ["9890000066001"]
    assert shipment.waybill["cancel"]["state"] == WaybillCancel.CANCELLED
    assert "cancel_cancelled" in [event["event"] for event in shipment.waybill_request.history]

    assert redeliver(waybills.CANCEL_KIND) == "delivered"  # delivered again: nothing asked
    assert len(top.calls("cainiao.waybill.ii.cancel")) == 1


def test_a_failing_cainiao_cancel_is_retried_then_recorded_and_never_blocks_the_cancel(
    top, django_capture_on_commit_callbacks, settings
):
    settings.OUTBOX_MAX_ATTEMPTS = 2
    shipment = taobao_shipment(top, django_capture_on_commit_callbacks)
    top.faults = [("cainiao.waybill.ii.cancel", "http_502")] * 2

    shipment = cancel_shipment(shipment, django_capture_on_commit_callbacks)

    assert shipment.status == ShipmentStatus.CANCELLED  # the cancel went through at once
    message = OutboxMessage.objects.get(kind=waybills.CANCEL_KIND)
    assert message.state == OutboxState.PENDING and message.attempts == 1  # to be retried
    assert shipment.waybill["cancel"]["state"] == WaybillCancel.REQUESTED

    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert outbox_deliver(message.pk) == "delivered"  # the last attempt fails too: recorded

    shipment.refresh_from_db()
    assert len(top.calls("cainiao.waybill.ii.cancel")) == 2 and top.cainiao_cancelled == []
    assert shipment.waybill["cancel"]["state"] == WaybillCancel.FAILED
    assert "502" in shipment.waybill["cancel"]["error"]
    alert = Alert.objects.get(kind=waybills.CANCEL_ALERT_KIND)
    assert "9890000066001" in alert.message and shipment.number in alert.message
    assert shipment.status == ShipmentStatus.CANCELLED


def test_a_douyin_waybill_is_cancelled_and_a_refusal_is_recorded_without_retrying(
    douyin, django_capture_on_commit_callbacks
):
    platform_rule(douyin_carrier())
    first = release(django_capture_on_commit_callbacks, douyin_order(douyin))

    first = cancel_shipment(first, django_capture_on_commit_callbacks)

    (call,) = douyin.calls("logistics.cancelOrder")
    assert call["params"] == fake_douyin.sample("douyin_waybill_cancel_order_request")
    assert douyin.waybills_cancelled == ["YT8800000000001"]
    assert first.waybill["cancel"]["state"] == WaybillCancel.CANCELLED

    # another order's number Douyin will not cancel (cancel_result.success false)
    second = release(django_capture_on_commit_callbacks, make_order(channel="dy-1", paid=True))
    douyin.waybills_cancelled.append(second.tracking_number)
    second = cancel_shipment(second, django_capture_on_commit_callbacks)

    assert len(douyin.calls("logistics.cancelOrder")) == 2  # asked once, not retried
    assert second.status == ShipmentStatus.CANCELLED
    assert second.waybill["cancel"]["state"] == WaybillCancel.REFUSED
    assert "Douyin refused" in second.waybill["cancel"]["error"]
    assert OutboxMessage.objects.filter(kind=waybills.CANCEL_KIND, state=OutboxState.DELIVERED).count() == 2
    assert Alert.objects.filter(kind=waybills.CANCEL_ALERT_KIND, key__endswith=f":{second.pk}").exists()


def test_a_number_issued_after_the_shipment_was_cancelled_is_given_back(
    douyin, django_capture_on_commit_callbacks
):
    platform_rule(douyin_carrier())
    order = douyin_order(douyin)
    with django_capture_on_commit_callbacks(execute=False):  # the request waits in the outbox
        shipment = ready_to_ship(order)
    request = waybills.waybill_claim(request_id=shipment.waybill_request.pk, attempt=1)  # a call goes out
    shipment = cancel_shipment(shipment, django_capture_on_commit_callbacks)  # meanwhile: cancelled

    with django_capture_on_commit_callbacks(execute=True):  # the source's answer arrives
        waybill = SOURCES["douyin"].request(shipment, request.carrier)
        waybills.waybill_issued(
            request=request, tracking_number=waybill.tracking_number, details=waybill.details
        )

    shipment.refresh_from_db()
    assert shipment.tracking_number == ""  # nobody may print it
    assert shipment.waybill["issued_after_cancel"] is True
    assert douyin.waybills_cancelled == [waybill.tracking_number]
    assert shipment.waybill["cancel"]["state"] == WaybillCancel.CANCELLED
    assert not Alert.objects.filter(kind="waybill_failed").exists()


def test_a_kuaidi100_waybill_is_cancelled_with_its_documented_call(
    kuaidi, rules, django_capture_on_commit_callbacks
):
    shipment = release(django_capture_on_commit_callbacks)

    shipment = cancel_shipment(shipment, django_capture_on_commit_callbacks)

    (form,) = [form for form in kuaidi.calls("/label/order") if form["method"] == "cancel"]
    param = json.loads(form["param"])
    assert param["kuaidicom"] == "zhongtong" and param["kuaidinum"] == shipment.tracking_number
    assert shipment.waybill["cancel"]["state"] == WaybillCancel.CANCELLED
