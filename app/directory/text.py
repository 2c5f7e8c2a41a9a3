"""Words of the directory's search: how text is split, which words are dropped, stems and trigram likeness.

Both search engines see the same words. PostgreSQL stems them with its ``swedish`` text-search
configuration; SQLite gets the same Snowball stems from Python (the PostgreSQL dictionary *is* the
Snowball Swedish stemmer, and the stop words below are its ``swedish.stop``). Trigram likeness follows
``pg_trgm``'s definition (a word padded with two blanks before and one after; shared / all trigrams), so
the typo tolerance agrees too.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer

#: PostgreSQL's tsearch_data/swedish.stop (the Snowball list): words too common to search for.
STOP_WORDS = frozenset(
    [
        "och",
        "det",
        "att",
        "i",
        "en",
        "jag",
        "hon",
        "som",
        "han",
        "på",
        "den",
        "med",
        "var",
        "sig",
        "för",
        "så",
        "till",
        "är",
        "men",
        "ett",
        "om",
        "hade",
        "de",
        "av",
        "icke",
        "mig",
        "du",
        "henne",
        "då",
        "sin",
        "nu",
        "har",
        "inte",
        "hans",
        "honom",
        "skulle",
        "hennes",
        "där",
        "min",
        "man",
        "ej",
        "vid",
        "kunde",
        "något",
        "från",
        "ut",
        "när",
        "efter",
        "upp",
        "vi",
        "dem",
        "vara",
        "vad",
        "över",
        "än",
        "dig",
        "kan",
        "sina",
        "här",
        "ha",
        "mot",
        "alla",
        "under",
        "någon",
        "eller",
        "allt",
        "mycket",
        "sedan",
        "ju",
        "denna",
        "själv",
        "detta",
        "åt",
        "utan",
        "varit",
        "hur",
        "ingen",
        "mitt",
        "ni",
        "bli",
        "blev",
        "oss",
        "din",
        "dessa",
        "några",
        "deras",
        "blir",
        "mina",
        "samma",
        "vilken",
        "er",
        "sådan",
        "vår",
        "blivit",
        "dess",
        "inom",
        "mellan",
        "sådant",
        "varför",
        "varje",
        "vilka",
        "ditt",
        "vem",
        "vilket",
        "sitta",
        "sådana",
        "vart",
        "dina",
        "vars",
        "vårt",
        "våra",
        "ert",
        "era",
        "vilkas",
    ]
)
#: Words shorter than this are never corrected (too many near neighbours), nor kept as vocabulary.
MIN_FUZZY_LENGTH = 4
#: pg_trgm's similarity a vocabulary word needs to stand in for a misspelt query word.
SIMILARITY_THRESHOLD = 0.4
#: How many corrections one misspelt word may bring in.
MAX_CORRECTIONS = 3
MAX_QUERY_WORDS = 8
MAX_QUERY_LENGTH = 200

_WORD = re.compile(r"\w+", re.UNICODE)
_stemmer = snowballstemmer.stemmer("swedish")


def words(text: str | None) -> list[str]:
    """Lower-cased words of ``text`` (letters and digits; å, ä, ö kept as they are)."""
    if not text:
        return []
    return [w.replace("_", "") for w in _WORD.findall(unicodedata.normalize("NFC", text).lower()) if w.strip("_")]


def content_words(text: str | None) -> list[str]:
    return [w for w in words(text) if w not in STOP_WORDS]


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return str(_stemmer.stemWord(word))


def stemmed(text: str | None) -> str:
    """``text`` as the space-separated stems of its content words (what SQLite's full-text index holds)."""
    return " ".join(stem(w) for w in content_words(text))


def trigrams(word: str) -> frozenset[str]:
    padded = f"  {word} "
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))


def similarity(a: str, b: str) -> float:
    ta, tb = trigrams(a), trigrams(b)
    return len(ta & tb) / len(ta | tb) if ta or tb else 0.0


@dataclass(frozen=True)
class Term:
    """One query word and the vocabulary words that may stand in for it when it is misspelt."""

    word: str
    alternatives: tuple[str, ...] = ()
    prefix: bool = False

    @property
    def variants(self) -> tuple[str, ...]:
        return (self.word, *self.alternatives)


class QueryError(ValueError):
    pass


def parse(query: str) -> list[Term]:
    """The searchable words of a free-text query; the last one also matches as a prefix (search as you type)."""
    if len(query) > MAX_QUERY_LENGTH:
        raise QueryError(f"must be at most {MAX_QUERY_LENGTH} characters")
    found = content_words(query)
    if not found:
        raise QueryError("has no word to search for (only stop words or punctuation)")
    if len(found) > MAX_QUERY_WORDS:
        raise QueryError(f"has more than {MAX_QUERY_WORDS} words")
    unique = list(dict.fromkeys(found))
    ends_in_word = bool(_WORD.search(query[-1:]))
    return [Term(w, prefix=ends_in_word and i == len(unique) - 1) for i, w in enumerate(unique)]


def vocabulary(*texts: str | None) -> set[str]:
    """The words worth remembering for typo correction."""
    found: set[str] = set()
    for text in texts:
        if text:
            found |= _vocabulary_of(text)
    return found


@lru_cache(maxsize=100_000)
def _vocabulary_of(text: str) -> frozenset[str]:
    return frozenset(w for w in content_words(text) if len(w) >= MIN_FUZZY_LENGTH and not w.isdigit())
