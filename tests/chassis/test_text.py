"""Text from clients (chassis/text.py): what a text field may hold, and how ?q= compares text."""
import pytest

from chassis.text import clean_fields, search_key

MAX_LENGTHS = {"name": 10, "role": 10, "cep": 9}
REQUIRED = ("name", "cep")


def no_check(name, value):
    """A service's own rule that refuses nothing."""
    return None


def clean(data, partial=False, check=no_check):
    """clean_fields over MAX_LENGTHS and REQUIRED: (clean, errors)."""
    errors = {}
    return clean_fields(data, MAX_LENGTHS, REQUIRED, partial, check, errors), errors


def test_every_field_at_fault_is_named_at_once_and_the_others_are_kept():
    kept, errors = clean({"name": 12, "role": "r" * 11, "other": "left to the service"})
    assert errors == {"name": "must be a string", "role": "must be at most 10 characters", "cep": "is required"}
    assert kept == {}


def test_a_full_write_gives_missing_optional_fields_as_empty_and_a_partial_one_leaves_them_out():
    assert clean({"name": "Ana", "cep": "01001000"}) == ({"name": "Ana", "role": "", "cep": "01001000"}, {})
    assert clean({"role": "Lead"}, partial=True) == ({"role": "Lead"}, {})  # a PATCH: nothing is required


def test_text_is_trimmed_and_kept_in_nfc():
    kept, errors = clean({"name": "  Joa\u0303o  ", "cep": "01001000"})
    assert errors == {} and kept["name"] == "Jo\u00e3o"


@pytest.mark.parametrize("value", ["A\x00na", "A\tna", "A\nna", "A\x1b[2Jna", "A\x7fna", "A\x85na", "A\x9fna",
                                   "A\ud800na", "A\udfffna"])
def test_a_control_character_or_a_lone_surrogate_is_not_plain_text(value):
    _, errors = clean({"name": value}, partial=True)
    assert errors == {"name": "must be plain text (no control character or lone surrogate)"}


def test_the_length_is_counted_as_sent_and_an_empty_required_field_is_refused():
    assert clean({"name": "x" * 10}, partial=True) == ({"name": "x" * 10}, {})
    assert clean({"name": " " + "x" * 10}, partial=True)[1] == {"name": "must be at most 10 characters"}
    assert clean({"name": " \u00a0\u3000 "}, partial=True)[1] == {"name": "must not be empty"}
    assert clean({"role": "  "}, partial=True) == ({"role": ""}, {})  # an optional field may be empty


def test_the_services_own_check_sees_the_clean_value_and_says_why_it_refuses():
    seen = []

    def cep_digits(name, value):
        seen.append((name, value))
        return "must be 8 digits" if name == "cep" and not value.isdigit() else None

    kept, errors = clean({"name": " Ana ", "cep": " 0100-10 "}, check=cep_digits)
    assert errors == {"cep": "must be 8 digits"} and kept == {"name": "Ana", "role": ""}
    assert seen == [("name", "Ana"), ("cep", "0100-10")]  # trimmed before the check


@pytest.mark.parametrize("text, key", [
    ("São  Paulo", "sao paulo"),
    ("SAO PAULO", "sao paulo"),
    ("Sa\u0303o Paulo", "sao paulo"),  # a combining tilde, typed apart
    ("  Praça\tda\nSé ", "praca da se"),  # any run of spaces is one
    ("Straße", "strasse"),  # casefold(), not lower()
    ("ＳＡＯ", "sao"),  # full-width letters are letters
    ("\u0301\u0301", ""),  # accents alone fold to nothing
])
def test_search_key_folds_case_accents_and_spaces(text, key):
    assert search_key(text) == key
