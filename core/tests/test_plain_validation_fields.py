"""core.plain_validation per field kind: a RegexField of the plain shape is checked inline, with
DRF's result; anything it is unsure of goes through the field's own validation."""

import pytest
from django.core.validators import RegexValidator
from rest_framework import serializers

from core import plain_validation


class Codes(serializers.Serializer):
    currency = serializers.RegexField(r"^[A-Z]{3}$", max_length=3)
    inverted = serializers.RegexField(r"^[0-9]+$", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # a validator passed in (here: one that refuses digits-only text) is not the field's own
        self.fields["inverted"].validators.append(RegexValidator(r"^[0-9]+$", inverse_match=True))


@pytest.fixture
def drf_calls(monkeypatch):
    calls = []
    original = serializers.RegexField.run_validation

    def counted(field, data=serializers.empty):
        calls.append(field.field_name)
        return original(field, data)

    monkeypatch.setattr(serializers.RegexField, "run_validation", counted)
    return calls


def test_a_plain_regex_field_is_checked_inline_with_drfs_result(drf_calls):
    assert plain_validation.validated(Codes(), {"currency": " CNY "}) == {"currency": "CNY"}
    assert drf_calls == []


@pytest.mark.parametrize("value", ["cny", "CNYX", "", "C\x00Y"])
def test_what_the_pattern_or_the_field_refuses_steps_aside_for_drf(value, drf_calls):
    with pytest.raises(plain_validation.Fallback):
        plain_validation.validated(Codes(), {"currency": value})
    assert not Codes(data={"currency": value}).is_valid()


def test_a_regex_field_with_a_validator_of_its_callers_goes_through_drf(drf_calls):
    with pytest.raises(plain_validation.Fallback):  # DRF refuses it: the added validator
        plain_validation.validated(Codes(), {"currency": "CNY", "inverted": "123"})
    assert drf_calls == ["inverted"]


def test_a_regex_field_whose_validators_were_emptied_goes_through_drf(drf_calls):
    serializer = Codes()
    serializer.fields["currency"].validators = []
    assert plain_validation.validated(serializer, {"currency": "cny"}) == {"currency": "cny"}
    assert drf_calls == ["currency"]
