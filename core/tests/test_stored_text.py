"""Sentences the system stored are shown in the reader's language, whichever language wrote them."""

from django.utils import translation

from core.stored_text import in_reader_language


def test_a_plain_sentence_in_either_language_reads_in_the_readers():
    with translation.override("zh-hans"):
        chinese = in_reader_language("Paid on the platform")
        assert chinese != "Paid on the platform" and chinese
    with translation.override("en"):
        assert in_reader_language(chinese) == "Paid on the platform"


def test_a_sentence_with_values_keeps_them_and_translates_those_that_are_labels():
    stored = "Ships from WH-HZ, the only warehouse that holds the whole order."
    with translation.override("zh-hans"):
        said = in_reader_language(stored)
        assert "WH-HZ" in said and said != stored
        status = in_reader_language("Shipments: Shipped")
        assert status.endswith(translation.gettext("Shipped")) and status != "Shipments: Shipped"
    with translation.override("en"):
        assert in_reader_language(said) == stored


def test_several_stored_sentences_are_each_said_again():
    stored = (
        "Split across WH-BJ, WH-SH: no single warehouse holds the whole order. "
        "Pre-sale lines ship on their own from WH-GZ."
    )
    with translation.override("zh-hans"):
        said = in_reader_language(stored)
    assert "Split across" not in said and "Pre-sale" not in said
    assert "WH-BJ, WH-SH" in said and "WH-GZ" in said


def test_what_a_person_typed_is_shown_as_typed():
    with translation.override("zh-hans"):
        assert in_reader_language("顾客来电：改地址") == "顾客来电：改地址"
        assert in_reader_language("customer asked to wait") == "customer asked to wait"
        assert in_reader_language("") == ""


def test_a_transition_with_its_reason_after_it_is_said_again_sentence_by_sentence():
    # The transition's sentence alone would match the whole text, its last value swallowing the
    # reason in English ("Approved. Within the return policy.").
    stored = "Return RMA1: Requested → Approved. Within the return policy."
    with translation.override("zh-hans"):
        said = in_reader_language(stored)
        approved, within = translation.gettext("Approved"), translation.gettext("Within the return policy.")
    assert "RMA1" in said and approved in said and within in said
    assert "Approved" not in said and "Within" not in said
