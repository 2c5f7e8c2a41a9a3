"""Use cases for function addresses."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.operations import function_addresses
from app.registry.errors import Conflict, ValidationFailed, VersionMismatch
from app.registry.models import AuditEvent, FunctionAddress
from tests.factories import ADMIN, create_code, create_function_address, create_organisation


def test_create_with_categories_and_keywords(db):
    with db.writer() as session:
        organisation = create_organisation(session)
        code = create_code(session, "registrator")
        address = create_function_address(
            session,
            organisation,
            identifier="sdk:Inkorg:0203:exempel.se",
            name="Registrator",
            categories=[str(code.id), code.id],
            keywords=["diarium", "Diarium", "allmän handling"],
        )
    with db.reader() as session:
        stored = session.get(FunctionAddress, address.id)
        assert stored.identifier == "sdk:Inkorg:0203:exempel.se"
        assert stored.identifier_folded == "sdk:inkorg:0203:exempel.se"
        assert [c.code for c in stored.categories] == ["registrator"]
        assert stored.keywords == ["diarium", "allmän handling"]
        assert stored.status == "active"
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "function_address:create"))
        assert event.after["categories"] == [str(code.id)]
        assert event.organisation_id == organisation.id


def test_identifier_is_unique_case_insensitively(db):
    with db.writer() as session:
        organisation = create_organisation(session)
        create_function_address(session, organisation, identifier="sdk:inkorg:0203:x.se")
    with pytest.raises(Conflict) as caught, db.writer() as session:
        organisation = create_organisation(session)
        create_function_address(session, organisation, identifier="SDK:INKORG:0203:X.SE")
    assert caught.value.field == "identifier"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"identifier": "has space"}, "identifier"),
        ({"identifier": ""}, "identifier"),
        ({"name": "<script>"}, "name"),
        ({"name": "x" * 257}, "name"),
        ({"keywords": "not-a-list"}, "keywords"),
        ({"keywords": ["ok", "<bad>"]}, "keywords[1]"),
        ({"keywords": ["x"] * 51}, "keywords"),
        ({"categories": ["not-a-uuid"]}, "categories[0]"),
        ({"categories": ["00000000-0000-0000-0000-000000000001"]}, "categories[0]"),
    ],
)
def test_invalid_function_addresses(db, overrides, field):
    with db.writer() as session:
        organisation = create_organisation(session)
    with pytest.raises(ValidationFailed) as caught, db.writer() as session:
        create_function_address(session, organisation, **overrides)
    assert field in {error.field for error in caught.value.errors}


def test_update_deactivate_and_reactivate(db):
    with db.writer() as session:
        organisation = create_organisation(session)
        code = create_code(session)
        address = create_function_address(session, organisation, name="Gammalt")
    with db.writer() as session:
        updated = function_addresses.update_function_address(
            session, ADMIN, address.id, {"name": "Nytt", "categories": [str(code.id)]}, expected_version=1
        )
        assert updated.version == 2
    with db.writer() as session:
        assert function_addresses.set_active(session, ADMIN, address.id, False).status == "inactive"
        assert function_addresses.set_active(session, ADMIN, address.id, False).status == "inactive"
    with db.writer() as session:
        assert function_addresses.set_active(session, ADMIN, address.id, True, expected_version=3).status == "active"
    with db.reader() as session:
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        assert actions[-3:] == ["function_address:update", "function_address:deactivate", "function_address:reactivate"]


def test_a_change_of_categories_alone_moves_the_version(db):
    with db.writer() as session:
        organisation = create_organisation(session)
        code = create_code(session)
        address = create_function_address(session, organisation)
    with db.writer() as session:
        changed = function_addresses.update_function_address(session, ADMIN, address.id, {"categories": [code.id]})
        assert changed.version == 2
    with pytest.raises(VersionMismatch), db.writer() as session:
        function_addresses.update_function_address(session, ADMIN, address.id, {"name": "x"}, expected_version=1)


def test_renaming_to_an_existing_identifier_is_a_conflict(db):
    with db.writer() as session:
        organisation = create_organisation(session)
        first = create_function_address(session, organisation, identifier="sdk:a")
        create_function_address(session, organisation, identifier="sdk:b")
    with pytest.raises(Conflict), db.writer() as session:
        function_addresses.update_function_address(session, ADMIN, first.id, {"identifier": "SDK:B"})
    with db.writer() as session:  # a case change of its own identifier is fine
        assert (
            function_addresses.update_function_address(session, ADMIN, first.id, {"identifier": "SDK:A"}).identifier
            == "SDK:A"
        )


def test_a_function_address_cannot_move_to_another_participant(db):
    with db.writer() as session:
        one = create_organisation(session)
        other = create_organisation(session)
        address = create_function_address(session, one)
    with pytest.raises(ValidationFailed, match="own participant organisation"), db.writer() as session:
        function_addresses.update_function_address(session, ADMIN, address.id, {"organisation": str(other.id)})
