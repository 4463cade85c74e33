"""Order numbers hidden in bank memos. A memo is free text typed by the payer or the bank:
"货款 SO20260216000892", "SO 2026 0216-000892 张三", "ＴＢ订单：２０２６…" — so digits are
normalised (full-width → ASCII), and besides every run of ≥ 8 consecutive digits, digit groups
split by single spaces or symbols are joined into one candidate when they make ≥ 8 digits. These
are only candidates: a person confirms which order a line belongs to."""

import re
import unicodedata

MIN_DIGITS = 8
ORDER_NUMBER_DIGITS = 14  # SO + YYYYMMDD + 6-digit daily sequence
RUN = re.compile(rf"\d{{{MIN_DIGITS},}}")
SPLIT_RUN = re.compile(r"\d+(?:[\s\-_/.·:,，、]\d+)+")
SEPARATORS = re.compile(r"\D")


def memo_digit_runs(memo: str) -> list[str]:
    """Candidate digit strings in the order they appear, each once."""
    text = "".join(
        c if not c.isdigit() else str(unicodedata.digit(c, c))
        for c in unicodedata.normalize("NFKC", memo or "")
    )
    found: list[str] = []
    for match in RUN.finditer(text):
        found.append(match.group())
    for match in SPLIT_RUN.finditer(text):
        joined = SEPARATORS.sub("", match.group())
        if len(joined) >= MIN_DIGITS:
            found.append(joined)
    return list(dict.fromkeys(found))


def order_numbers_for(digits: str) -> list[str]:
    """The order numbers a run of digits may stand for (ours are SO + 14 digits)."""
    return [f"SO{digits}"] if len(digits) == ORDER_NUMBER_DIGITS else []
