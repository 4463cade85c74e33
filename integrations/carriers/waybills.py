"""Electronic waybills at release (issue #17 part 2): which source issues a shipment's waybill and
the outbox handler that asks it. The request's state lives in fulfilment.waybills.

Sources (one class each; `request(shipment, carrier)` returns a Waybill or raises CarrierRefused /
core.http.PlatformError / RateLimited; they never write to the database):

- Kuaidi100 (generic carriers): integrations.carriers.kuaidi100 label/order. An order whose
  receiver the platform protects is decrypted (integrations.protected_data, audited) for this call
  only and never stored.
- The platform's own e-waybill, for orders of a platform that requires it, with the channel's
  signed client — research and every field's source: integrations/tests/payloads/notes/
  platform-waybills.md (fixtures SOURCES.md §19). None of them decrypts: each passes the
  platform's own receiver handle or ciphertext.
  - Taobao / Tmall → Cainiao `cainiao.waybill.ii.get` (§A): recipient `oaid` + `tid` with the
    trade's masked name / mobile / address (what name/mobile must hold next to oaid is not in
    Cainiao's doc: ShopeX OMS practice).
  - Pinduoduo `pdd.waybill.get` (§B), "密文取号": the order's ciphertexts in recipient name /
    mobile / address.detail. PDD's doc text does not state this; it is third-party practice
    (ShopeX OMS) and the only path without decrypting outside 多多云 — labelled here as such.
  - Douyin `logistics.newCreateOrder` (§C): name / mobile / detail_address "支持密文".
  - JD `jingdong.logistics.ewaybill.waybill.create` (§D): `toAddress.oaid` with the order's
    ciphertext / masked values (contact/address beside oaid: third-party practice).

What a platform source needs of our side is kept on the carrier: `Carrier.waybill_credentials`
holds a block per source — {"cainiao": {"cp_code", "template_url", "user_id"?}, "pdd": {"wp_code",
"template_url", "user_id"?}, "douyin": {"logistics_code", "user_id"?}, "jd": {"provider_code",
"settlement_code" | "branch_code", "vendor_code"?}} — with optional sender_name / sender_mobile /
sender_phone (the sender address is the warehouse's; Cainiao and Douyin want an address of the
seller's waybill subscription, so the warehouse address must be that one).

Cancelling (a shipment cancelled before it leaves, fulfilment.waybills.waybill_cancel_open): each
source's `cancel` — Kuaidi100 电子面单取消 (label/order method=cancel), cainiao.waybill.ii.cancel,
pdd.waybill.cancel, logistics.cancelOrder, jingdong.logistics.ewaybill.waybill.cancel.

A lost answer (the platform issued a number, its answer never came): the retry asks again with the
same request. Douyin documents that the same order_id + pack_id gets the old number back (§C1), so
it never takes a second one. Cainiao (`object_id` is only unique within one call; "避免使用同个订单号
重复取号" says a repeat takes another number), Pinduoduo and JD publish no idempotency key: there a
retry after a lost answer may take a second number, the first one unused and not cancelled (we never
learnt it). The history of the request says when a retry followed an unclear failure."""

import logging
from abc import ABC, abstractmethod

from django.utils.translation import gettext as _

from core.errors import DomainError
from core.http import PlatformError, RateLimited, outbox_outcome
from core.outbox import PermanentFailure, RetryLater, is_last_attempt, outbox_failure
from fulfilment import waybills
from fulfilment.carrier_rules import carriers_for_shipments
from fulfilment.models import Carrier, Shipment, ShipmentLine
from fulfilment.waybills import WaybillCancel
from integrations.adapters import get_adapter as get_platform_adapter
from integrations.carriers.base import CarrierRefused, Waybill
from integrations.carriers.services import get_adapter as get_kuaidi100
from integrations.protected_data import DecryptionRefused, receiver_plain
from inventory.models import WmsProtocol
from orders.models import Order

logger = logging.getLogger(__name__)

KUAIDI100, CAINIAO, PDD, DOUYIN, JD = "kuaidi100", "cainiao", "pdd", "douyin", "jd"
BUSY_RETRY_SECONDS = 60.0
DOUYIN_PACK_ID_MAX = 15  # pack_id ≤ 15 chars [A-Za-z0-9_] (notes §C2)


# --- sources ------------------------------------------------------------------------------------------


class WaybillSource(ABC):
    code = ""

    @abstractmethod
    def request(self, shipment: Shipment, carrier: Carrier) -> Waybill:
        """Take one waybill number of `carrier` for the shipment."""

    @abstractmethod
    def cancel(self, shipment: Shipment, carrier: Carrier, waybill: dict) -> str:
        """Give back the number in `waybill` (the shipment's `waybill`): WaybillCancel.CANCELLED
        or SENT; raises CarrierRefused when the source says no, PlatformError / RateLimited."""


CANCEL_REASON = "订单取消"  # the reason text sent where a cancel call takes one


def _refused_cancel(source: str, number: str) -> CarrierRefused:
    return CarrierRefused(
        _("%(source)s refused to cancel waybill %(number)s.") % {"source": source, "number": number}
    )


def _account(carrier: Carrier, source: str, *required: str) -> dict:
    account = (carrier.waybill_credentials or {}).get(source) or {}
    missing = [name for name in required if not account.get(name)]
    if missing:
        raise CarrierRefused(
            _("Carrier %(carrier)s has no %(source)s waybill account settings: %(missing)s")
            % {"carrier": carrier.name, "source": source, "missing": ", ".join(missing)}
        )
    return account


def _items(shipment: Shipment) -> list[tuple[str, int]]:
    lines = ShipmentLine.objects.filter(shipment=shipment).select_related("sku").order_by("pk")
    return [(line.sku.name[:100], line.quantity) for line in lines]


def _platform_orders(shipment: Shipment) -> list[str]:
    """The platform order ids the parcel carries (merged orders of one channel: several)."""
    ids = (
        ShipmentLine.objects.filter(
            shipment=shipment, order_line__order__channel_id=shipment.order.channel_id
        )
        .values_list("order_line__order__external_id", flat=True)
        .distinct()
    )
    return sorted({shipment.order.external_id, *ids})


def _protected(order: Order, name: str) -> str:
    return str(((order.receiver_protected or {}).get(name) or {}).get("cipher") or "")


def _handle(order: Order, name: str) -> str:
    return str(((order.receiver_protected or {}).get(name) or {}).get("value") or "")


def _detail(order: Order) -> str:
    return " ".join(filter(None, [order.ship_line1, order.ship_line2]))


def _client(order: Order):
    return get_platform_adapter(order.channel.platform).client_class(order.channel)


def _sender(account: dict, shipment: Shipment) -> dict:
    warehouse = shipment.warehouse
    return {
        "name": account.get("sender_name") or warehouse.name,
        "mobile": account.get("sender_mobile", ""),
        "phone": account.get("sender_phone", ""),
        "province": warehouse.province,
        "city": warehouse.city,
        "district": warehouse.district,
        "detail": warehouse.address_line,
    }


def _module(modules: list[dict], object_id: str, platform: str) -> dict:
    found = next((m for m in modules if str(m.get("object_id")) == object_id), None)
    if found is None and len(modules) == 1:
        found = modules[0]
    if found is None or not found.get("waybill_code"):
        raise PlatformError(
            _("%(platform)s answered without a waybill number for %(id)s.")
            % {"platform": platform, "id": object_id}
        )
    return found


class Kuaidi100Source(WaybillSource):
    code = KUAIDI100

    def request(self, shipment: Shipment, carrier: Carrier) -> Waybill:
        adapter = get_kuaidi100()
        if not adapter.can_issue_waybills():
            raise CarrierRefused(_("Kuaidi100 electronic waybills are not configured (key and secret)."))
        receiver = None
        if any(_protected(shipment.order, name) for name in ("name", "phone", "address")):
            # plain text for this call only: decrypted (audited) and never stored
            receiver = receiver_plain(order=shipment.order, purpose="waybill")
        return adapter.request_waybill(shipment, carrier, receiver=receiver)

    def cancel(self, shipment: Shipment, carrier: Carrier, waybill: dict) -> str:
        get_kuaidi100().cancel_waybill(
            carrier=carrier,
            tracking_number=waybill["tracking_number"],
            order_id=str(waybill.get("kd_com_order_num") or ""),
            reason=CANCEL_REASON,
        )
        return WaybillCancel.CANCELLED


class CainiaoSource(WaybillSource):
    """Taobao / Tmall orders: cainiao.waybill.ii.get (notes §A)."""

    code = CAINIAO

    def request(self, shipment: Shipment, carrier: Carrier) -> Waybill:
        account = _account(carrier, CAINIAO, "cp_code", "template_url")
        order, sender = shipment.order, _sender(account, shipment)
        recipient = {
            "name": order.ship_name,
            "mobile": order.ship_phone,
            "address": {
                "province": order.ship_province,
                "city": order.ship_city,
                "district": order.ship_district,
                "detail": _detail(order),
            },
            "tid": order.external_id,
        }
        if _handle(order, "oaid"):
            recipient["oaid"] = _handle(order, "oaid")
        entry = {
            "object_id": shipment.number,
            "order_info": {
                # TB / TM: the shop's kind, set on the channel (api_credentials cainiao_order_channel)
                "order_channels_type": (order.channel.api_credentials or {}).get("cainiao_order_channel")
                or "TB",
                "trade_order_list": _platform_orders(shipment),
            },
            "package_info": {
                "id": shipment.number,
                "items": [{"name": name, "count": count} for name, count in _items(shipment)],
            },
            "recipient": recipient,
            "template_url": account["template_url"],
        }
        if account.get("user_id") not in (None, ""):
            entry["user_id"] = int(account["user_id"])
        request = {
            "cp_code": account["cp_code"],
            "need_encrypt": True,
            "sender": {
                "name": sender["name"],
                "mobile": sender["mobile"],
                "phone": sender["phone"],
                "address": {k: sender[k] for k in ("province", "city", "district", "detail")},
            },
            "trade_order_info_dtos": [entry],
        }
        module = _module(_client(order).waybill_get(request), shipment.number, "Cainiao")
        number = str(module.get("parent_waybill_code") or module["waybill_code"])
        details = {
            key: module[key]
            for key in ("waybill_code", "print_data", "cp_code", "real_cp_code")
            if module.get(key)
        }
        return Waybill(tracking_number=number, details=details)

    def cancel(self, shipment: Shipment, carrier: Carrier, waybill: dict) -> str:
        cp_code = waybill.get("cp_code") or _account(carrier, CAINIAO, "cp_code")["cp_code"]
        number = str(waybill.get("waybill_code") or waybill["tracking_number"])
        if not _client(shipment.order).waybill_cancel(cp_code=cp_code, waybill_code=number):
            # cancel_result false without error_response: refused, not worth repeating (notes §A4)
            raise _refused_cancel("Cainiao", number)
        return WaybillCancel.CANCELLED


class PddSource(WaybillSource):
    """Pinduoduo orders: pdd.waybill.get with the order's ciphertexts (密文取号, notes §B)."""

    code = PDD

    def request(self, shipment: Shipment, carrier: Carrier) -> Waybill:
        account = _account(carrier, PDD, "wp_code", "template_url")
        order, sender = shipment.order, _sender(account, shipment)
        ciphers = {name: _protected(order, name) for name in ("name", "phone", "address")}
        if not all(ciphers.values()):
            # PDD clears the ciphertext once an order ships or is refunded; never fall back to
            # the masked text (a waybill to "张**" is undeliverable)
            raise CarrierRefused(
                _("Pinduoduo order %(id)s has no receiver ciphertext to take a waybill with.")
                % {"id": order.external_id}
            )
        request = {
            "need_encrypt": True,
            "sender": {
                "name": sender["name"],
                "mobile": sender["mobile"],
                "phone": sender["phone"],
                "address": {k: sender[k] for k in ("province", "city", "district", "detail")},
            },
            "trade_order_info_dtos": [
                {
                    "object_id": shipment.number,
                    "order_info": {
                        "order_channels_type": "PDD",
                        "trade_order_list": _platform_orders(shipment),
                    },
                    "package_info": {
                        "id": shipment.number,
                        "items": [{"name": name, "count": count} for name, count in _items(shipment)],
                    },
                    "recipient": {
                        "name": ciphers["name"],
                        "mobile": ciphers["phone"],
                        "address": {
                            "province": order.ship_province,
                            "city": order.ship_city,
                            "district": order.ship_district,
                            "detail": ciphers["address"],
                        },
                    },
                    "template_url": account["template_url"],
                    # the shop's own account: 0 as a real caller sends (notes §B6, a gap)
                    "user_id": int(account.get("user_id") or 0),
                }
            ],
            "wp_code": account["wp_code"],
        }
        module = _module(_client(order).waybill_get(request), shipment.number, "Pinduoduo")
        number = str(module.get("parent_waybill_code") or module["waybill_code"])
        details = {key: module[key] for key in ("waybill_code", "print_data") if module.get(key)}
        return Waybill(tracking_number=number, details={"wp_code": account["wp_code"], **details})

    def cancel(self, shipment: Shipment, carrier: Carrier, waybill: dict) -> str:
        wp_code = waybill.get("wp_code") or _account(carrier, PDD, "wp_code")["wp_code"]
        number = str(waybill.get("waybill_code") or waybill["tracking_number"])
        if not _client(shipment.order).waybill_cancel(wp_code=wp_code, waybill_code=number):
            raise _refused_cancel("Pinduoduo", number)
        return WaybillCancel.CANCELLED


class DouyinSource(WaybillSource):
    """Douyin orders: logistics.newCreateOrder with the order's ciphertexts (notes §C)."""

    code = DOUYIN

    def request(self, shipment: Shipment, carrier: Carrier) -> Waybill:
        account = _account(carrier, DOUYIN, "logistics_code")
        order, sender = shipment.order, _sender(account, shipment)
        ciphers = {name: _protected(order, name) for name in ("name", "phone", "address")}
        plain = {"name": order.ship_name, "phone": order.ship_phone, "address": _detail(order)}
        if any(not ciphers[name] and "*" in plain[name] for name in ciphers):
            # an encrypted shop's order without its ciphertext: the masked text ("张*") would be
            # printed on the parcel, so no number is taken (as for Pinduoduo)
            raise CarrierRefused(
                _("Douyin order %(id)s has no receiver ciphertext to take a waybill with.")
                % {"id": order.external_id}
            )
        contact = {"name": ciphers["name"] or plain["name"], "mobile": ciphers["phone"] or plain["phone"]}
        sender_contact = {"name": sender["name"], "mobile": sender["mobile"] or sender["phone"]}
        address = {
            "country_code": "CHN",
            "province_name": order.ship_province,
            "city_name": order.ship_city,
            "district_name": order.ship_district,
            "detail_address": ciphers["address"] or plain["address"],
        }
        street = _douyin_street(order)
        if ciphers["address"] and street:
            address["street_name"] = street
        info = {
            "order_id": order.external_id,
            "receiver_info": {"address": address, "contact": contact},
            "items": [{"item_name": name, "item_count": count} for name, count in _items(shipment)],
        }
        pack_id = _douyin_pack_id(shipment)
        if pack_id:
            info["pack_id"] = pack_id
        params = {
            "sender_info": {
                "address": {
                    "country_code": "CHN",
                    "province_name": sender["province"],
                    "city_name": sender["city"],
                    "district_name": sender["district"],
                    "detail_address": sender["detail"],
                },
                "contact": sender_contact,
            },
            "logistics_code": account["logistics_code"],
            "order_infos": [info],
        }
        if account.get("user_id") not in (None, ""):
            params["user_id"] = int(account["user_id"])
        data = _client(order).waybill_create(params)

        def ours(item: dict) -> bool:
            return (
                str(item.get("order_id")) == order.external_id and str(item.get("pack_id") or "") == pack_id
            )

        issued = next((i for i in data.get("ebill_infos") or [] if ours(i) and i.get("track_no")), None)
        if issued is None:
            refused = next((i for i in data.get("err_infos") or [] if ours(i)), None)
            if refused is not None:
                raise CarrierRefused(f"Douyin {refused.get('err_code', '')}: {refused.get('err_msg', '')}")
            raise PlatformError(
                _("Douyin answered without a waybill number for order %(id)s.") % {"id": order.external_id}
            )
        details = {
            key: issued[key] for key in ("sort_code", "company", "sub_waybill_codes") if issued.get(key)
        }
        details["logistics_code"] = account["logistics_code"]
        return Waybill(tracking_number=str(issued["track_no"]), details=details)

    def cancel(self, shipment: Shipment, carrier: Carrier, waybill: dict) -> str:
        code = waybill.get("logistics_code") or _account(carrier, DOUYIN, "logistics_code")["logistics_code"]
        number = waybill["tracking_number"]
        if not _client(shipment.order).waybill_cancel(logistics_code=code, track_no=number):
            raise _refused_cancel("Douyin", number)
        return WaybillCancel.CANCELLED


def _douyin_street(order: Order) -> str:
    """The street (乡镇/街道) of a Douyin order whose detail is encrypted: the order keeps "street
    masked-detail" in ship_line1 (integrations.douyin.mapping), and the ciphertext stands for the
    detail only, so the street is what comes before the masked detail. Empty when it cannot be told."""
    masked = str(((order.receiver_protected or {}).get("address") or {}).get("masked") or "")
    line = (order.ship_line1 or "").strip()
    if not masked or not line.endswith(masked):
        return ""
    return line.removesuffix(masked).strip()


def _douyin_pack_id(shipment: Shipment) -> str:
    """ "一单一包裹是不需要传，有2个以上时，从第二个开始都需要传不同id" (notes §C2): none for the
    order's first parcel, the shipment's id for the others (Douyin returns the old number for the
    same order and pack id, so a retry never takes a second one)."""
    first = (
        Shipment.objects.filter(order_id=shipment.order_id)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    return "" if first == shipment.pk else f"S{shipment.pk}"[:DOUYIN_PACK_ID_MAX]


class JdSource(WaybillSource):
    """JD orders: jingdong.logistics.ewaybill.waybill.create with toAddress.oaid (notes §D)."""

    code = JD

    def request(self, shipment: Shipment, carrier: Carrier) -> Waybill:
        account = _account(carrier, JD, "provider_code")
        order, sender = shipment.order, _sender(account, shipment)
        if "cod" in (order.tags or []):
            # 货到付款 needs payType / shouldPayMoney whose meaning JD does not publish (notes §D3)
            raise CarrierRefused(_("Cash-on-delivery JD orders are not sent to the JD waybill service."))
        if not account.get("settlement_code") and not account.get("branch_code"):
            raise CarrierRefused(
                _("Carrier %(carrier)s has no JD settlement code or branch code.") % {"carrier": carrier.name}
            )
        to_address = {
            "provinceName": order.ship_province,
            "cityName": order.ship_city,
            "countryName": order.ship_district,
            "address": _protected(order, "address") or _detail(order),
            "contact": _protected(order, "name") or order.ship_name,
            "mobile": order.ship_phone,
        }
        if _handle(order, "oaid"):
            to_address["oaid"] = _handle(order, "oaid")
        request = {
            "providerCode": account["provider_code"],
            "salePlatform": "0010001",  # 京东平台订单
            "platformOrderNo": order.external_id,
            "vendorOrderCode": shipment.number,
            "waybillCount": 1,
            "weight": round((shipment.weight_grams or 0) / 1000, 2),
            "volume": 0,
            "payType": 0,
            "shouldPayMoney": 0,
            "needGuarantee": False,
            "guaranteeMoney": 0,
            "receiveTimeType": 0,
            "fromAddress": {
                "provinceName": sender["province"],
                "cityName": sender["city"],
                "countryName": sender["district"],
                "address": sender["detail"],
                "contact": sender["name"],
                "phone": sender["phone"] or sender["mobile"],
                "mobile": sender["mobile"],
            },
            "toAddress": to_address,
        }
        for ours, theirs in (
            ("settlement_code", "settlementCode"),
            ("branch_code", "branchCode"),
            ("vendor_code", "vendorCode"),
            ("express_pay_method", "expressPayMethod"),
            ("express_type", "expressType"),
        ):
            if account.get(ours):
                request[theirs] = str(account[ours])
        response = _client(order).waybill_create(request)
        if str(response.get("statusCode")) != "0":
            raise CarrierRefused(f"JD {response.get('statusCode', '')}: {response.get('statusMessage', '')}")
        codes = ((response.get("data") or {}).get("waybillCodeInfoList")) or []
        number = str((codes[0] if codes else {}).get("waybillCode") or "")
        if not number:
            raise PlatformError(
                _("JD answered without a waybill number for order %(id)s.") % {"id": order.external_id}
            )
        return Waybill(tracking_number=number, details={"provider_code": account["provider_code"]})

    def cancel(self, shipment: Shipment, carrier: Carrier, waybill: dict) -> str:
        account = (carrier.waybill_credentials or {}).get(JD) or {}
        provider = waybill.get("provider_code") or account.get("provider_code")
        if not provider:
            raise CarrierRefused(
                _("Carrier %(carrier)s has no JD provider code.") % {"carrier": carrier.name}
            )
        request = {
            "providerCode": str(provider),
            "waybillCode": waybill["tracking_number"],
            "cancelReason": CANCEL_REASON,
        }
        if account.get("vendor_code"):
            request["vendorCode"] = str(account["vendor_code"])
        answer = _client(shipment.order).waybill_cancel(request)
        # The cancel response's fields are not published (notes §D6). A `response` with a
        # statusCode is read as the create's (0 = done); without one the call was only accepted.
        response = answer.get("response") if isinstance(answer.get("response"), dict) else {}
        if "statusCode" not in response:
            return WaybillCancel.SENT
        if str(response.get("statusCode")) != "0":
            raise CarrierRefused(f"JD {response.get('statusCode', '')}: {response.get('statusMessage', '')}")
        return WaybillCancel.CANCELLED


SOURCES: dict[str, WaybillSource] = {
    source.code: source
    for source in (Kuaidi100Source(), CainiaoSource(), PddSource(), DouyinSource(), JdSource())
}
# Sales platforms whose orders must ship on the platform's own e-waybill.
PLATFORM_SOURCES = {"taobao": CAINIAO, "pdd": PDD, "douyin": DOUYIN, "jd": JD}


def source_for(order: Order) -> str:
    """The platform's own e-waybill for its orders — when the channel can call the platform (it has
    API credentials; a shop set up for webhooks or uploads only cannot) — else Kuaidi100."""
    platform_source = PLATFORM_SOURCES.get(order.channel.platform)
    if platform_source and order.channel.api_credentials:
        return platform_source
    return KUAIDI100


# --- at release ----------------------------------------------------------------------------------------


def waybill_on_release(shipment: Shipment) -> None:
    """In the transaction releasing the shipment: an own warehouse's parcel gets its carrier (carrier
    rules) and, when its source can issue one, its waybill request through the outbox. Nothing is
    requested for cloud warehouses (their WMS takes the number) or without a carrier."""
    waybills_on_release([shipment])


def waybills_on_release(shipments: list[Shipment]) -> None:
    """waybill_on_release for shipments released together (the carrier rules read once)."""
    own = [s for s in shipments if s.warehouse.wms_protocol == WmsProtocol.OWN and not s.tracking_number]
    if not own:
        return
    choices = carriers_for_shipments(own)
    for shipment in own:
        choice = choices[shipment.pk]
        if choice is None:
            continue
        waybills.shipment_carrier_chosen(shipment=shipment, choice=choice)
        source = source_for(shipment.order)
        if source == KUAIDI100 and not get_kuaidi100().can_issue_waybills():
            continue  # no e-waybill account: the warehouse types the number in, as before
        waybills.waybill_request_open(shipment=shipment, choice=choice, source=source)


# --- the outbox handler ------------------------------------------------------------------------------


def _outcome(exc: Exception) -> RetryLater | PermanentFailure:
    if isinstance(exc, RateLimited | PlatformError):
        return outbox_outcome(exc)
    return outbox_failure(str(exc), temporary=False)  # the carrier's or platform's "no"


def waybill_deliver(message) -> None:
    """Ask the request's source for the number. A temporary failure is retried by the outbox; a
    refusal, or the last temporary failure, goes to the backup carrier once, then to the failed
    queue (fulfilment.waybills.waybill_failed)."""
    payload = message.payload
    claimed = waybills.waybill_claim(request_id=payload["request_id"], attempt=payload["attempt"])
    if claimed == "done":
        return
    if claimed == "busy":
        raise RetryLater("another delivery is taking this waybill", retry_after=BUSY_RETRY_SECONDS)
    request = claimed
    shipment = Shipment.objects.select_related("order__channel", "warehouse").get(pk=request.shipment_id)
    try:
        waybill = SOURCES[request.source].request(shipment, request.carrier)
    except (RateLimited, PlatformError, CarrierRefused, DecryptionRefused) as exc:
        error = exc.message if isinstance(exc, DomainError) else str(exc)
        outcome = _outcome(exc) if not isinstance(exc, DecryptionRefused) else RetryLater(error)
        if isinstance(outcome, RetryLater) and not is_last_attempt(message):
            waybills.waybill_release_claim(request=request, error=error)
            raise outcome from exc
        logger.info("waybill of shipment %s refused by %s: %s", shipment.number, request.source, error)
        waybills.waybill_failed(request=request, error=error)
        return
    try:
        waybills.waybill_issued(
            request=request,
            tracking_number=waybill.tracking_number,
            label=waybill.label,
            details=waybill.details,
        )
    except DomainError as exc:
        raise PermanentFailure(exc.message) from exc


# --- at cancel ---------------------------------------------------------------------------------------


def waybill_on_cancel(shipment: Shipment) -> None:
    """In the transaction cancelling the (locked) shipment before it left the warehouse: a number
    one of the sources issued for it is cancelled through the outbox. A number typed in by hand
    (no source on the waybill) is left alone."""
    if (
        shipment.tracking_number
        and (shipment.waybill or {}).get("tracking_number") == shipment.tracking_number
    ):
        waybills.waybill_cancel_open(shipment=shipment)


def waybill_cancel_deliver(message) -> None:
    """Ask the waybill's source to cancel it. A temporary failure is retried by the outbox; a
    refusal, or the last temporary failure, is kept on the shipment with an alert — never undoing
    the shipment's cancel."""
    payload = message.payload
    number = payload["tracking_number"]
    shipment = waybills.waybill_cancel_pending(shipment_id=payload["shipment_id"], tracking_number=number)
    if shipment is None:
        return  # done already (a repeated delivery asks nothing)
    waybill = shipment.waybill
    source = SOURCES.get(str(waybill.get("source") or ""))
    carrier = Carrier.objects.filter(code=waybill.get("carrier") or "").first() or shipment.carrier
    recorded = {"shipment_id": shipment.pk, "tracking_number": number}
    if source is None or carrier is None:
        error = _("No cancel call for waybill source “%(source)s”.") % {"source": waybill.get("source", "")}
        waybills.waybill_cancel_recorded(**recorded, state=WaybillCancel.NOT_CANCELLABLE, error=error)
        return
    try:
        state = source.cancel(shipment, carrier, waybill)
    except (RateLimited, PlatformError, CarrierRefused) as exc:
        outcome = _outcome(exc)
        if isinstance(outcome, RetryLater) and not is_last_attempt(message):
            waybills.waybill_cancel_attempt_failed(**recorded, error=str(exc))
            raise outcome from exc
        logger.info("waybill %s of shipment %s not cancelled: %s", number, shipment.number, exc)
        state = WaybillCancel.REFUSED if isinstance(exc, CarrierRefused) else WaybillCancel.FAILED
        waybills.waybill_cancel_recorded(**recorded, state=state, error=str(exc))
        return
    waybills.waybill_cancel_recorded(**recorded, state=state)
