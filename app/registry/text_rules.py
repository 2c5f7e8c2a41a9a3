"""What a human-readable text may hold: one rule for the API, the console and imports, and the same rule
as the regular expression the OpenAPI document declares.

A text is stripped of surrounding whitespace; what remains may not hold ``<`` or ``>`` (the SDK
directory's rule), control characters (Unicode Cc: C0, DEL, C1; a multi-line text keeps tab, line
feed and carriage return), format characters (Cf: bidirectional overrides and isolates, zero-width
characters, the BOM, invisible operators: they make one name look like another), line and paragraph
separators, or lone surrogates (which no database stores). The length limit counts what was sent,
surrounding whitespace included, so it means the same in the schema and here.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from functools import cache

import pycountry

#: Code points a text may never hold, as inclusive ranges: C0 and C1 controls with DEL (Cc, fixed by
#: Unicode's stability policy), the format characters (Cf, as of Unicode 14, Python 3.11's tables;
#: a test checks every range is still Cf in the running Python), line and paragraph separators
#: (Zl, Zp) and surrogates (Cs).
_INVISIBLE = (
    (0x0000, 0x001F),
    (0x007F, 0x009F),
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x2028, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xD800, 0xDFFF),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x13438),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
)
_STARTS = [low for low, _high in _INVISIBLE]
_MULTILINE_CONTROLS = frozenset(map(ord, "\t\n\r"))
#: The Swedish directory refuses these in any text (sdk-domain.md §4.1); so do we, in values and searches.
_MARKUP = frozenset("<>")
_KINDS = {"Cc": "a control character", "Cf": "a format character", "Cs": "a lone surrogate"}

#: ISO 3166-1 alpha-2, officially assigned (from the iso-codes data pycountry carries).
COUNTRY_CODES = tuple(sorted(country.alpha_2 for country in pycountry.countries))
_COUNTRY_CODE_SET = frozenset(COUNTRY_CODES)


def _invisible(code: int) -> bool:
    index = bisect_right(_STARTS, code) - 1
    return index >= 0 and code <= _INVISIBLE[index][1]


def has_markup(value: str) -> bool:
    """Whether ``value`` holds ``<`` or ``>`` (refused in every text and every search, also as a parameter)."""
    return "<" in value or ">" in value  # two scans in C: this runs on every directory parameter


def forbidden(character: str, *, multiline: bool = False) -> bool:
    if character in _MARKUP:
        return True
    code = ord(character)
    if multiline and code in _MULTILINE_CONTROLS:
        return False
    return _invisible(code)


def first_forbidden(value: str, *, multiline: bool = False) -> str | None:
    """How to name the first character ``value`` may not hold (``'<'``, ``U+202E (RIGHT-TO-LEFT OVERRIDE)``)."""
    character = first_forbidden_character(value, multiline=multiline)
    return None if character is None else describe(character)


def declared(character: str) -> bool:
    """Whether the OpenAPI pattern names this forbidden character (surrogates and astral ones it cannot)."""
    code = ord(character)
    return code <= 0xFFFF and not 0xD800 <= code <= 0xDFFF


def _pattern(*, multiline: bool) -> re.Pattern[str]:
    """One character class of every forbidden character (a search in C: imports check 100,000s of texts)."""
    ranges = []
    for low, high in _INVISIBLE:
        codes = [c for c in range(low, high + 1) if not (multiline and c in _MULTILINE_CONTROLS)]
        start = None
        for index, code in enumerate(codes):  # split where the allowed controls leave gaps
            start = code if start is None else start
            if index + 1 == len(codes) or codes[index + 1] != code + 1:
                ranges.append(f"\\U{start:08x}-\\U{code:08x}")
                start = None
    return re.compile("[<>" + "".join(ranges) + "]")


_FORBIDDEN = {False: _pattern(multiline=False), True: _pattern(multiline=True)}


def first_forbidden_character(value: str, *, multiline: bool = False) -> str | None:
    found = _FORBIDDEN[multiline].search(value)
    return None if found is None else found.group()


def describe(character: str) -> str:
    """``'<'`` or ``U+202E (RIGHT-TO-LEFT OVERRIDE)``."""
    if character in _MARKUP:
        return repr(character)
    name = unicodedata.name(character, "") or _KINDS.get(unicodedata.category(character), "invisible")
    return f"U+{ord(character):04X} ({name})"


def is_country_code(value: str) -> bool:
    return value in _COUNTRY_CODE_SET


def _forbidden_class(multiline: bool) -> str:
    """The forbidden characters as the body of a regular-expression class.

    Surrogates and characters beyond the BMP are left out (:func:`declared`): regex engines and tools
    disagree on how to name them; the check above still refuses them.
    """
    ranges: list[tuple[int, int]] = [(ord("<"), ord("<")), (ord(">"), ord(">"))]
    for low, high in _INVISIBLE:
        if not declared(chr(low)):
            continue
        if multiline and low == 0:
            ranges += [(0x00, 0x08), (0x0B, 0x0C), (0x0E, 0x1F)]
        else:
            ranges.append((low, high))
    return "".join(_escape(low) if low == high else f"{_escape(low)}-{_escape(high)}" for low, high in ranges)


def _escape(code: int) -> str:
    return f"\\u{code:04x}"


@cache
def pattern(*, required: bool, multiline: bool = False) -> str:
    """The regular expression (Python and ECMA-262 syntax alike) a text field's value matches.

    Surrounding whitespace, then a core that starts and ends with a visible character and holds
    nothing forbidden, then whitespace; an optional text may be only whitespace (it counts as absent).
    """
    bad = _forbidden_class(multiline)
    core = f"[^\\s{bad}](?:[^{bad}]*[^\\s{bad}])?"
    return f"^\\s*{core}\\s*$" if required else f"^\\s*(?:{core})?\\s*$"
