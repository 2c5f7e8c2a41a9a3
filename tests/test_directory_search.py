"""Directory search conformance: the same cases against both engines (SQLite FTS5 and PostgreSQL).

The ``db`` fixture runs every test once on SQLite and once on PostgreSQL, so a behaviour that one engine
has and the other lacks fails here. Cases cover Swedish letters and stems, typo correction, prefixes,
ranking by where the words occur, filters, visibility, and the query rules.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.directory import queries, search
from app.directory.text import QueryError
from app.operations import function_addresses, organisations
from app.registry.models import Code, DirectoryEntry
from tests.factories import ADMIN, create_function_address, create_organisation

KOMMUN = "0203:exempelkommun.se"
REGION = "0203:regionexempel.se"


@pytest.fixture
def corpus(api, db):
    """The demo federation plus addresses chosen for the cases below, all in Exempelkommun."""
    kommun = api.ids[KOMMUN]
    with db.writer() as session:
        owner = session.get(organisations.Organisation, kommun)
        ekonomi = session.scalar(select(Code).where(Code.code == "ekonomi"))
        made = {
            "fakturor": create_function_address(
                session,
                owner,
                identifier="sdk:fakturor:0203:exempelkommun.se",
                name="Fakturor",
                description="Leverantörer skickar hit",
                keywords=["betalning"],
                categories=[ekonomi.id],
            ),
            "aldre": create_function_address(
                session, owner, identifier="sdk:aldre:0203:exempelkommun.se", name="Äldreomsorg"
            ),
            "formyndare": create_function_address(
                session, owner, identifier="sdk:ofn:0203:exempelkommun.se", name="Överförmyndarnämnden"
            ),
            "skolor": create_function_address(
                session, owner, identifier="sdk:skolor:0203:exempelkommun.se", name="Skolor", keywords=["utbildning"]
            ),
            "bygglov": create_function_address(
                session,
                owner,
                identifier="sdk:bygglov:0203:exempelkommun.se",
                name="Bygglov",
                description="Ansökningar diarieförs av registrator",
            ),
            "hidden": create_function_address(
                session, owner, identifier="sdk:hemlig:0203:exempelkommun.se", name="Hemlig registrator"
            ),
        }
        function_addresses.set_active(session, ADMIN, made["hidden"].id, False)
        pending = create_organisation(session, name="Ogodkänd registratorkommun")
        create_function_address(session, pending, name="Registrator ogodkänd")
    return {key: address.id for key, address in made.items()}


def names(db, query, kind="addresses", **filters):
    with db.reader() as session:
        conditions = queries.conditions(kind, {name: str(value) for name, value in filters.items()})
        found = search.search(session, kind, query, conditions, offset=0, size=50)
    return [entry.attributes["name"] for entry in found.entries]


def test_swedish_letters_and_case(db, corpus):
    assert names(db, "äldreomsorg") == ["Äldreomsorg"]
    assert names(db, "ÄLDREOMSORG") == ["Äldreomsorg"]
    assert names(db, "överförmyndarnämnden") == ["Överförmyndarnämnden"]


def test_swedish_stems_match_other_forms_of_a_word(db, corpus):
    assert names(db, "faktura") == ["Fakturor"]  # faktura / fakturor: stem faktur
    assert names(db, "skola") == ["Skolor"]
    assert "Bygglov" in names(db, "ansökning")  # ansökningar: stem ansökning


def test_misspelt_words_are_corrected_towards_words_in_the_directory(db, corpus):
    assert set(names(db, "registartor")) == {"Registrator", "Bygglov"}
    assert names(db, "överförmyndarnämden") == ["Överförmyndarnämnden"]
    assert names(db, "aldreomsorg") == ["Äldreomsorg"]  # typed without the dots
    with db.reader() as session:
        found = search.search(session, "addresses", "registartor", [], offset=0, size=5)
    assert found.terms[0].alternatives == ("registrator",)


def test_last_word_matches_as_a_prefix_while_typing(db, corpus):
    assert set(names(db, "regist")) >= {"Registrator"}
    assert names(db, "överförm") == ["Överförmyndarnämnden"]
    assert names(db, "skol") == ["Skolor"]


def test_every_word_must_match_somewhere(db, corpus):
    both = names(db, "registrator exempelkommun")
    assert both and all(name in ("Registrator", "Bygglov") for name in both)
    assert len(names(db, "registrator")) > len([n for n in both if n == "Registrator"])


def test_names_outrank_descriptions(db, corpus):
    found = names(db, "registrator")
    assert found[-1] == "Bygglov"  # only its description says registrator
    assert set(found[:-1]) == {"Registrator"}


def test_keywords_categories_and_organisation_names_are_searched(db, corpus):
    assert names(db, "betalning") == ["Fakturor"]  # keyword
    assert "Fakturor" in names(db, "ekonomi")  # category display name
    assert "Socialtjänst, vård och omsorg" in names(db, "socialförvaltningen")  # its organisation's name


def test_filters_narrow_the_search(api, db, corpus):
    kommun, region = api.ids[KOMMUN], api.ids[REGION]
    assert set(names(db, "registrator", organization=region)) == {"Registrator"}
    assert names(db, "registrator", organization=kommun) == ["Registrator", "Bygglov"]
    assert names(db, "fakturor", category="ekonomi") == ["Fakturor"]
    assert names(db, "fakturor", category="registrator") == []
    assert names(db, "socialtjänst", organizationType="ou")
    assert names(db, "fakturor", organizationType="ou") == []


def test_only_what_the_directory_shows_is_found(api, db, corpus):
    assert "Hemlig registrator" not in names(db, "hemlig registrator")
    assert "Registrator ogodkänd" not in names(db, "ogodkänd")
    with db.writer() as session:
        organisations.change_status(session, ADMIN, api.ids[KOMMUN], "suspend", reason="test")
    assert names(db, "fakturor") == []
    with db.writer() as session:
        organisations.change_status(session, ADMIN, api.ids[KOMMUN], "reinstate")
    assert names(db, "fakturor") == ["Fakturor"]


def test_edits_are_searchable_at_once(db, corpus):
    with db.writer() as session:
        function_addresses.update_function_address(session, ADMIN, corpus["skolor"], {"name": "Gymnasieskolor"})
    assert names(db, "skola") == []
    assert names(db, "gymnasieskola") == ["Gymnasieskolor"]


def test_organisations_are_searched_by_name_and_alternate_name(db, corpus):
    assert names(db, "exempelmyndigheten", kind="organizations") == ["Exempelmyndigheten"]
    assert names(db, "exm", kind="organizations") == ["Exempelmyndigheten"]  # its alternate name
    assert "Exempelkommun" in names(db, "exempelkom", kind="organizations")


@pytest.mark.parametrize(
    ("query", "reason"),
    [("och i på", "stop words"), ("-- !!", "punctuation"), ("a " * 120, "at most"), ("x " * 9, "more than")],
)
def test_queries_without_anything_to_search_are_refused(db, corpus, query, reason):
    with db.reader() as session, pytest.raises(QueryError, match=reason):
        search.search(session, "addresses", query, [], offset=0, size=5)


def test_hostile_query_text_is_only_ever_words(db, corpus):
    for query in ["registrator' | 'x", 'registrator" OR "x', "registrator:* & !x", "NEAR(registrator x)"]:
        assert set(names(db, query)) <= {"Registrator", "Bygglov"}


def test_the_index_follows_a_rebuild_without_changes(db, corpus):
    from app.directory import sync

    with db.reader() as session:
        before = {e.id: e.seq for e in session.scalars(select(DirectoryEntry))}
    with db.writer() as session:
        result = sync.rebuild(session)
    assert (result.changed, result.removed) == (0, 0)
    with db.reader() as session:
        assert {e.id: e.seq for e in session.scalars(select(DirectoryEntry))} == before
    assert set(names(db, "registrator")) == {"Registrator", "Bygglov"}
