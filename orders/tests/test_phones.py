"""orders.phones: the shortcut for mainland mobiles as written gives what phonenumbers gives."""

import random

import pytest

from orders import phones


def eleven_digit_numbers(count_per_prefix: int):
    """11-digit strings over every 4-digit start 1000–1999, the rest random."""
    rng = random.Random(18)
    for start in range(1000, 2000):
        for _ in range(count_per_prefix):
            yield f"{start}{rng.randrange(10**7):07d}"


def test_every_eleven_digit_number_starting_with_1_reads_as_phonenumbers_reads_it():
    phones._e164.cache_clear()
    taken = valid = 0
    for raw in eleven_digit_numbers(12):
        taken += phones._mainland_mobile_as_written(raw)
        expected = phones.parsed_e164(raw, "CN")
        valid += expected is not None
        assert phones.e164(raw, "CN") == expected, raw
    # The shortcut is taken for most of them (not for carrier-code starts such as 17951),
    # and both valid and invalid numbers are among them.
    assert taken > 9_000 and 3_000 < valid < taken, (taken, valid)


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("13800000001", "CN"),
        ("17951138000000", "CN"),  # a carrier select code before the number
        ("12345678901", "CN"),
        ("１３８０００００００１", "CN"),  # full-width digits: through phonenumbers
        ("13800000001", "HK"),
        ("+8613800000001", "CN"),
        ("010 1234 5678", "CN"),
    ],
)
def test_other_shapes_and_regions_go_through_phonenumbers(raw, region):
    assert phones.e164(raw, region) == phones.parsed_e164(raw, region)
