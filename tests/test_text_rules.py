"""The text rule: the search imports and the API use (a regular expression) finds exactly the characters the
per-character rule names, over every code point, and the ranges are what their comment says they are."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from app.registry import text_rules


@pytest.mark.parametrize("multiline", [False, True])
def test_the_search_and_the_rule_agree_on_every_code_point(multiline):
    everything = "".join(chr(code) for code in range(sys.maxunicode + 1))
    by_rule = [c for c in everything if text_rules.forbidden(c, multiline=multiline)]
    by_search = text_rules._FORBIDDEN[multiline].findall(everything)
    assert by_search == by_rule
    assert text_rules.first_forbidden_character("Kommun\u202eabc", multiline=multiline) == "\u202e"
    assert text_rules.first_forbidden_character("rad\tett\nrad", multiline=multiline) == (None if multiline else "\t")
    assert text_rules.first_forbidden_character("Östra Göinge kommun") is None


def test_the_ranges_are_controls_format_characters_separators_and_surrogates():
    for low, high in text_rules._INVISIBLE:
        for code in range(low, high + 1):
            assert unicodedata.category(chr(code)) in {"Cc", "Cf", "Cs", "Zl", "Zp"}, hex(code)
