"""The Qimen (奇门) WMS standard API on the wire, both directions.

Every call is an HTTP POST whose query string carries the system parameters (method, app_key,
customerId, format=xml, sign_method=md5, timestamp in Beijing time, v=2.0, sign) and whose body
is the XML request. sign = upper(MD5(secret + name+value of each parameter but `sign`, sorted by
name + body + secret)). Answers are `<response><flag>success|failure</flag><code/><message/>…`."""

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET

import defusedxml
from defusedxml import ElementTree as SafeET
from django.utils import timezone

from core.timezones import format_beijing_time
from integrations.taobao.signing import string_to_sign

VERSION = "2.0"
# What we take from a warehouse: v=2.0 is what the SDKs and gateway samples send
# (integrations/tests/payloads/SOURCES.md, "Qimen deliveryorder.confirm"). A sample with v=3.0 was
# seen once, in code we could not attribute to a published source: refused until one is found.
VERSIONS = ("2.0",)
PREFIX = "taobao.qimen."

DELIVERY_ORDER_CREATE = "taobao.qimen.deliveryorder.create"
ORDER_CANCEL = "taobao.qimen.order.cancel"
INVENTORY_QUERY = "taobao.qimen.inventory.query"
DELIVERY_ORDER_CONFIRM = "taobao.qimen.deliveryorder.confirm"
ORDER_PROCESS_REPORT = "taobao.qimen.orderprocess.report"
STOCKOUT_CREATE = "taobao.qimen.stockout.create"  # transfers (integrations.wms.qimen.transfers)
ENTRYORDER_CREATE = "taobao.qimen.entryorder.create"
STOCKOUT_CONFIRM = "taobao.qimen.stockout.confirm"
ENTRYORDER_CONFIRM = "taobao.qimen.entryorder.confirm"

ORDER_TYPE = "JYCK"  # 一般交易出库单: an ordinary sales shipment
TRANSFER_OUT_TYPE = "DBCK"  # 调拨出库
TRANSFER_IN_TYPE = "DBRK"  # 调拨入库
PURCHASE_IN_TYPE = "CGRK"  # 采购入库 (integrations.wms.qimen.purchases)
SALEABLE = "ZP"  # 正品: the inventory type comparable with our on-hand stock


class MalformedXml(ValueError):
    pass


def short_method(method: str) -> str:
    """The name gateways forward without the prefix: deliveryorder.confirm."""
    return method.removeprefix(PREFIX)


def version_supported(version) -> bool:
    return isinstance(version, str) and version.strip() in VERSIONS


def sign(params: Mapping[str, Any], body: bytes, secret: str) -> str:
    key = secret.encode("utf-8")
    return hashlib.md5(key + string_to_sign(params).encode("utf-8") + body + key).hexdigest().upper()


def verify(params: Mapping[str, Any], body: bytes, secret: str) -> bool:
    """Constant-time check of `params["sign"]`; an empty secret never verifies."""
    given = params.get("sign")
    if not secret or not isinstance(given, str) or not given:
        return False
    expected = sign(params, body, secret)
    return hmac.compare_digest(expected.encode("ascii"), given.strip().upper().encode("utf-8", "replace"))


def system_params(
    *, method: str, app_key: str, customer_id: str, now: datetime | None = None
) -> dict[str, str]:
    return {
        "method": method,
        "app_key": app_key,
        "customerId": customer_id,
        "format": "xml",
        "sign_method": "md5",
        "timestamp": format_beijing_time(now or timezone.now()),
        "v": VERSION,
    }


# --- XML ------------------------------------------------------------------------------------------


def add(parent: ET.Element, tag: str, value: Any = None) -> ET.Element:
    """Append <tag>value</tag>; an element without a value is a container for children."""
    element = ET.SubElement(parent, tag)
    if value is not None:
        element.text = str(value)
    return element


def to_bytes(root: ET.Element) -> bytes:
    return b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(
        root, encoding="utf-8", xml_declaration=False
    )


def parse(raw: bytes) -> ET.Element:
    """Parse XML from outside; DOCTYPE and entity declarations are refused (XML bombs, XXE)."""
    try:
        return SafeET.fromstring(raw, forbid_dtd=True)
    except (ET.ParseError, defusedxml.DefusedXmlException) as exc:
        raise MalformedXml(f"not well-formed XML: {exc}") from exc


def response(*, success: bool, message: str = "", code: str = "0") -> bytes:
    root = ET.Element("response")
    add(root, "flag", "success" if success else "failure")
    add(root, "code", code if not success else "0")
    add(root, "message", message)
    return to_bytes(root)
