"""Column layouts: which header of a file is which field of a statement line.

Built-in layouts (below) cover one real platform export and standard bank / POS files; finance
adds more as ImportLayout rows (a JSON mapping header → field), selectable per import. Headers
are compared after Unicode NFKC normalisation, case-folding and collapsing spaces/underscores,
so 收入金额（+元） and 收入金额(+元), "Bank reference" and bank_reference are the same header.

Alipay account statement (支付宝 账务明细, CSV downloaded from the merchant portal or the
bill API with bill_type=signcustomer; GBK encoded). Lines starting with "#" above and below the
table (account, date range, totals, export time) are skipped; every value may carry a trailing tab
(Alipay adds one so Excel keeps long numbers as text). Columns:

    账务流水号        account entry id, unique per entry                → entry_id
    业务流水号        Alipay trade / transfer number                     → transaction_id
    商户订单号        the merchant's order number (ours, or Tmall's T200P<tid>) → order_ref
    商品名称          item / subject                                     → description
    发生时间          YYYY-MM-DD HH:MM:SS, Beijing time                  → occurred_at
    对方账号          counterparty account and name                      → counterparty
    收入金额（+元）   money in                                           → income
    支出金额（-元）   money out                                          → expense
    账户余额（元）    balance after the entry                            (ignored)
    交易渠道          channel (支付宝, 余额宝, bank card …)              → method
    业务类型          在线支付 / 交易付款 / 交易退款 / 收费 / 提现 / 转账 … → kind (kind_values)
    备注              remark, e.g. 服务费[2026…]                         → memo
"""

import unicodedata
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import DomainError
from finance.imports.models import ImportLayout, StatementKind, StatementSource

FIELDS = {
    "entry_id": gettext_lazy("entry id (unique per account)"),
    "occurred_at": gettext_lazy("date or time"),
    "amount": gettext_lazy("amount (signed)"),
    "income": gettext_lazy("money in"),
    "expense": gettext_lazy("money out"),
    "currency": gettext_lazy("currency"),
    "kind": gettext_lazy("kind"),
    "transaction_id": gettext_lazy("transaction id"),
    "order_ref": gettext_lazy("order number"),
    "account": gettext_lazy("account"),
    "counterparty": gettext_lazy("counterparty"),
    "memo": gettext_lazy("memo"),
    "description": gettext_lazy("description"),
    "method": gettext_lazy("method"),
}
REQUIRED = ("entry_id", "occurred_at")
MONEY_FIELDS = ("amount", "income", "expense")
BUILTIN_PREFIX = "builtin:"
CUSTOM_PREFIX = "layout:"


def normalise_header(text) -> str:
    text = unicodedata.normalize("NFKC", "" if text is None else str(text))
    return " ".join(text.replace("_", " ").split()).casefold()


@dataclass(frozen=True)
class Layout:
    key: str
    name: str
    source: str
    mapping: dict[str, str]
    kind_values: dict[str, str] = field(default_factory=dict)
    account: str = ""
    currency: str = "CNY"
    time_zone: str = ""

    @property
    def headers(self) -> dict[str, str]:
        """Normalised header → field."""
        return {normalise_header(header): target for header, target in self.mapping.items()}

    @property
    def read_as(self) -> list[tuple[str, str]]:
        """(header as the file spells it, what the field means in the reader's language)."""
        return [(header, FIELDS.get(target, target)) for header, target in self.mapping.items()]

    def headers_for(self, target: str) -> list[str]:
        return [header for header, mapped in self.mapping.items() if mapped == target]

    @property
    def kinds(self) -> dict[str, str]:
        return {normalise_header(value): kind for value, kind in self.kind_values.items()}

    def zone(self) -> ZoneInfo | None:
        return ZoneInfo(self.time_zone) if self.time_zone else None

    def check(self) -> "Layout":
        """Refuse a layout that could not import anything, naming what is wrong."""
        if not isinstance(self.mapping, dict) or not self.mapping:
            raise DomainError(_("Map at least the required columns."), field="mapping")
        unknown = sorted({str(t) for t in self.mapping.values() if t not in FIELDS})
        if unknown:
            raise DomainError(
                _("Unknown fields: %(fields)s. Use: %(known)s.")
                % {"fields": ", ".join(unknown), "known": ", ".join(FIELDS)},
                field="mapping",
            )
        targets = set(self.mapping.values())
        missing = [t for t in REQUIRED if t not in targets]
        if not targets & set(MONEY_FIELDS):
            missing.append("amount")
        if missing:
            raise DomainError(
                _("The mapping needs %(fields)s.") % {"fields": ", ".join(missing)}, field="mapping"
            )
        if "amount" in targets and targets & {"income", "expense"}:
            raise DomainError(_("Map either amount or income/expense, not both."), field="mapping")
        if not isinstance(self.kind_values, dict):
            raise DomainError(_("Kind values must be an object."), field="kind_values")
        bad = sorted({str(k) for k in self.kind_values.values() if k not in StatementKind.values})
        if bad:
            raise DomainError(
                _("Unknown kinds: %(kinds)s. Use: %(known)s.")
                % {"kinds": ", ".join(bad), "known": ", ".join(StatementKind.values)},
                field="kind_values",
            )
        if self.time_zone:
            try:
                ZoneInfo(self.time_zone)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise DomainError(_("Unknown time zone."), field="time_zone") from exc
        return self

    def snapshot(self) -> dict:
        return {
            "key": self.key,
            "name": self.name,
            "source": self.source,
            "mapping": self.mapping,
            "kind_values": self.kind_values,
            "account": self.account,
            "currency": self.currency,
            "time_zone": self.time_zone,
        }


def layout_from_snapshot(data: dict) -> Layout:
    return Layout(**data)


def layout_from_model(row: ImportLayout) -> Layout:
    return Layout(
        key=f"{CUSTOM_PREFIX}{row.pk}",
        name=row.name,
        source=row.source,
        mapping=row.mapping,
        kind_values=row.kind_values or {},
        account=row.account,
        currency=row.currency or "CNY",
        time_zone=row.time_zone,
    )


K = StatementKind
ALIPAY_ACCOUNT = Layout(
    key=f"{BUILTIN_PREFIX}alipay-account",
    name="Alipay account statement (支付宝账务明细)",
    source=StatementSource.SETTLEMENT,
    mapping={
        "账务流水号": "entry_id",
        "业务流水号": "transaction_id",
        "商户订单号": "order_ref",
        "商品名称": "description",
        "发生时间": "occurred_at",
        "对方账号": "counterparty",
        "收入金额（+元）": "income",
        "支出金额（-元）": "expense",
        "交易渠道": "method",
        "业务类型": "kind",
        "备注": "memo",
    },
    kind_values={
        "在线支付": K.SALE,
        "交易付款": K.SALE,
        "交易收款": K.SALE,
        "交易退款": K.REFUND,
        "退款": K.REFUND,
        "收费": K.FEE,
        "服务费": K.FEE,
        "交易服务费": K.FEE,
        "佣金": K.COMMISSION,
        "天猫佣金": K.COMMISSION,
        "技术服务费": K.COMMISSION,
        "营销补贴": K.PLATFORM_DISCOUNT,
        "红包": K.PLATFORM_DISCOUNT,
        "提现": K.PAYOUT,
        "转账": K.OTHER,
    },
    time_zone="Asia/Shanghai",
)
BANK_STATEMENT = Layout(
    key=f"{BUILTIN_PREFIX}bank",
    name="Bank statement (date, amount, currency, counterparty, memo, bank reference)",
    source=StatementSource.BANK,
    mapping={
        "date": "occurred_at",
        "交易日期": "occurred_at",
        "amount": "amount",
        "交易金额": "amount",
        "currency": "currency",
        "币种": "currency",
        "counterparty": "counterparty",
        "对方户名": "counterparty",
        "memo": "memo",
        "摘要": "memo",
        "bank reference": "entry_id",
        "流水号": "entry_id",
        "account": "account",
        "本方账号": "account",
    },
)
POS_RECEIPTS = Layout(
    key=f"{BUILTIN_PREFIX}pos",
    name="POS receipts (receipt no, time, amount, store, method, order number)",
    source=StatementSource.POS,
    mapping={
        "receipt no": "entry_id",
        "小票号": "entry_id",
        "time": "occurred_at",
        "交易时间": "occurred_at",
        "amount": "amount",
        "金额": "amount",
        "currency": "currency",
        "store": "account",
        "门店": "account",
        "method": "method",
        "支付方式": "method",
        "order number": "order_ref",
        "订单号": "order_ref",
        "transaction id": "transaction_id",
        "memo": "memo",
    },
)
BUILTIN = {layout.key: layout for layout in (ALIPAY_ACCOUNT, BANK_STATEMENT, POS_RECEIPTS)}


def layout_choices() -> list[tuple[str, str]]:
    custom = [
        (f"{CUSTOM_PREFIX}{row.pk}", row.name)
        for row in ImportLayout.objects.filter(is_active=True).order_by("name")
    ]
    return [(layout.key, layout.name) for layout in BUILTIN.values()] + custom


def layout_get(key: str) -> Layout:
    """A built-in layout or an active ImportLayout row, by its choice key."""
    if key in BUILTIN:
        return BUILTIN[key]
    if key.startswith(CUSTOM_PREFIX) and key[len(CUSTOM_PREFIX) :].isdigit():
        row = ImportLayout.objects.filter(pk=int(key[len(CUSTOM_PREFIX) :]), is_active=True).first()
        if row is not None:
            return layout_from_model(row).check()
    raise DomainError(_("Choose one of the layouts offered."), field="layout")
