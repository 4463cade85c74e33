import pytest

from finance.reconciliation.memo import memo_digit_runs, order_numbers_for


@pytest.mark.parametrize(
    ("memo", "runs"),
    [
        ("货款 SO20260216000892", ["20260216000892"]),
        ("SO 2026 0216-000892 张三", ["20260216000892"]),  # the bank split it with spaces and a dash
        ("订单号:２０２６０２１６０００８９２。", ["20260216000892"]),  # full-width digits
        ("tid=3012345678901234567/退款", ["3012345678901234567"]),
        ("REF12345678 金额 1000.00", ["12345678"]),  # 1000.00 is too short even when joined
        ("1234567 and 7654321", []),  # runs of 7 digits are not candidates
        ("", []),
        ("12345678 12345678", ["12345678", "1234567812345678"]),  # each once, the joined run too
    ],
)
def test_runs_of_eight_or_more_digits_are_candidates(memo, runs):
    assert memo_digit_runs(memo) == runs


def test_fourteen_digits_may_be_one_of_our_order_numbers():
    assert order_numbers_for("20260216000892") == ["SO20260216000892"]
    assert order_numbers_for("3012345678901234567") == []
