"""Invoice number, date, amount and seller from the text OCR read off a Chinese invoice or a
shop receipt.

The labels are those printed on the invoices of the State Taxation Administration: the fully
digitised e-invoice (数电发票: 发票号码 of 20 digits, 开票日期 yyyy年mm月dd日, 价税合计（大写）…（小写）¥,
销售方信息 with 名称 in the right-hand column) and the older VAT invoices (发票代码 plus an 8-digit
发票号码, 销售方名称); receipts print 合计 / 实付 and the shop as 商户名称 or 店铺. OCR turns ¥ into ￥,
Y or 羊 and a full-width colon into a plain one, so the patterns accept those."""

import datetime
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from returns.ocr import TextLine

COLON = r"\s*[:：;；]?\s*"
YUAN = r"[¥￥Y羊半]?"
MONEY = r"(\d{1,3}(?:,\d{3})+|\d+)\.(\d{2})(?!\d)"

NUMBER_LABELLED = re.compile(r"(?:发票号码|票据号码|号码)" + COLON + r"(\d{20}|\d{8})(?!\d)")
NUMBER_ALONE = re.compile(r"(?<!\d)(\d{20})(?!\d)")  # a 数电 number is the only 20-digit run
DATE_LABELLED = re.compile(
    r"(?:开票日期|日期|时间)" + COLON + r"(\d{4})\s*(?:年|[-/.])\s*(\d{1,2})\s*(?:月|[-/.])\s*(\d{1,2})"
)
DATE_ANY = re.compile(r"(?<!\d)(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
# In order of trust: the invoice's total with tax, then what a receipt says was paid, then totals.
AMOUNT_PATTERNS = [
    re.compile(r"[（(]\s*小写\s*[）)]" + COLON + YUAN + r"\s*" + MONEY),
    re.compile(r"价税合计[^\d]*?" + YUAN + r"\s*" + MONEY),
    re.compile(r"(?:实付款|实付金额|实付|实收|应付)" + r"[^\d]{0,8}?" + YUAN + r"\s*" + MONEY),
    re.compile(r"(?:合计|总计|总额)" + r"[^\d]{0,8}?" + YUAN + r"\s*" + MONEY),
    re.compile(r"金额" + r"[^\d]{0,8}?" + YUAN + r"\s*" + MONEY),
]
SELLER_PATTERNS = [
    re.compile(r"销售方名称" + COLON + r"(.+)"),
    re.compile(r"(?:销售方|销方)" + COLON + r"(?!信息)(.+)"),
    re.compile(r"(?:商户名称|商家名称|店铺名称|商户|店铺)" + COLON + r"(.+)"),
]
NAME = re.compile(r"(?<![方户家铺])名称" + COLON + r"(.+)")
DIGIT_GAPS = re.compile(r"(?<=\d)[ \t]+(?=\d)")


@dataclass(frozen=True)
class InvoiceFields:
    invoice_number: str = ""
    date: datetime.date | None = None
    amount: Decimal | None = None
    seller: str = ""


def rows(lines: list[TextLine]) -> list[str]:
    """The lines in reading order: boxes whose centres are within half a line height of each
    other form one row, read left to right and joined by a space."""
    grouped: list[list[TextLine]] = []
    for line in sorted(lines, key=lambda item: (item.y, item.x)):
        if grouped and abs(line.y - grouped[-1][0].y) <= max(grouped[-1][0].height, line.height) / 2:
            grouped[-1].append(line)
        else:
            grouped.append([line])
    return [" ".join(item.text for item in sorted(row, key=lambda item: item.x)) for row in grouped]


def _first(patterns, texts: list[str]):
    for pattern in patterns:
        for text in texts:
            found = pattern.search(text)
            if found:
                return found
    return None


def _date(found) -> datetime.date | None:
    try:
        return datetime.date(int(found.group(1)), int(found.group(2)), int(found.group(3)))
    except ValueError:
        return None


def _seller(lines: list[TextLine], texts: list[str]) -> str:
    found = _first(SELLER_PATTERNS, texts)
    if found:
        return _clean_name(found.group(1))
    # The 数电 layout: 购买方信息 | 名称：… on the left, 销售方信息 | 名称：… on the right; take the
    # right-hand one, or the second when the columns cannot be told apart.
    named = [(line, NAME.search(line.text)) for line in lines]
    named = [(line, found) for line, found in named if found]
    if len(named) < 2:  # one 名称 alone may be the buyer's or a product's
        return ""
    rightmost = max(named, key=lambda pair: pair[0].x)
    return _clean_name(rightmost[1].group(1))


def _clean_name(value: str) -> str:
    # A name ends where the next label on the same row starts (统一社会信用代码, 纳税人识别号…).
    value = re.split(r"\s{2,}|统一社会信用代码|纳税人识别号|地址|电话", value)[0]
    return value.strip(" :：;；")[:200]


def extract(lines: list[TextLine]) -> InvoiceFields:
    texts = [DIGIT_GAPS.sub("", text) for text in rows(lines)]
    found = _first([NUMBER_LABELLED], texts) or _first([NUMBER_ALONE], texts)
    number = found.group(1) if found else ""
    found = _first([DATE_LABELLED], texts) or _first([DATE_ANY], texts)
    invoice_date = _date(found) if found else None
    found = _first(AMOUNT_PATTERNS, texts)
    amount = None
    if found:
        try:
            amount = Decimal(f"{found.group(1).replace(',', '')}.{found.group(2)}")
        except InvalidOperation:
            amount = None
    return InvoiceFields(
        invoice_number=number, date=invoice_date, amount=amount, seller=_seller(lines, texts)
    )
