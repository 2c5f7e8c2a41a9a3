"""Use cases for organisations: validation, uniqueness, updates, lifecycle, audit."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.audit import Actor
from app.operations import organisations
from app.registry.errors import Conflict, InUse, InvalidTransition, NotFound, ValidationFailed, VersionMismatch
from app.registry.models import AuditEvent, Organisation
from tests.factories import ADMIN, create_function_address, create_organisation


def events(session, action=None):
    query = select(AuditEvent).order_by(AuditEvent.id)
    if action:
        query = query.where(AuditEvent.action == action)
    return session.scalars(query).all()


def field_errors(caught) -> dict[str, str]:
    return {error.field: error.reason for error in caught.value.errors}


def test_register_a_participant_organisation(db):
    with db.writer() as session:
        organisation = create_organisation(
            session,
            participant_identifier="ISO6523-ACTORID-UPIS::0203:Exempel.SE",
            organisation_number="212000-0142",
            name="  Exempelkommun  ",
            description="Rad ett\nRad två",
        )
    with db.reader() as session:
        stored = session.get(Organisation, organisation.id)
        assert stored.participant_identifier == "iso6523-actorid-upis::0203:exempel.se"
        assert stored.organisation_number == "2120000142"
        assert stored.name == "Exempelkommun"
        assert stored.federation_status == "pending"
        assert stored.version == 1
        [event] = events(session)
        assert (event.action, event.actor, event.role, event.request_id) == (
            "organisation:create",
            "tester",
            "operator",
            "req-test",
        )
        assert event.after["participant_value"] == "0203:exempel.se"
        assert event.before is None
        assert event.organisation_id == organisation.id


def test_sub_organisation_belongs_to_a_participant(db):
    with db.writer() as session:
        parent = create_organisation(session)
        child = create_organisation(
            session,
            type="ou",
            participant_identifier=None,
            organisation_number=None,
            name="Socialförvaltningen",
            parent=str(parent.id),
        )
        assert child.participant_identifier is None
        assert child.federation_status is None
        assert child.participant_organisation is parent
        with pytest.raises(ValidationFailed) as caught:
            create_organisation(session, type="ou", participant_identifier=None, name="Ou av ou", parent=child.id)
        assert "parent" in field_errors(caught)


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"name": ""}, "name", "required"),
        ({"name": "x" * 257}, "name", "at most 256"),
        ({"name": "<b>Kommun</b>"}, "name", "'<', '>'"),
        ({"description": "a > b"}, "description", "'<', '>'"),
        ({"description": "x" * 1025}, "description", "at most 1024"),
        ({"alternate_name": "tab\there"}, "alternateName", "control"),
        ({"participant_identifier": None}, "participantIdentifier", "required"),
        ({"participant_identifier": "iso6523-actorid-upis::0203:http://x.se"}, "participantIdentifier", "letters"),
        (
            {"participant_identifier": "iso6523-actorid-upis::0088:5798000000001"},
            "participantIdentifier",
            "not allowed",
        ),
        ({"organisation_number": "2120000143"}, "organisationNumber", "check digit"),
        ({"organisation_number": None}, "organisationNumber", "required"),
        ({"country_code": "Sverige"}, "countryCode", "ISO 3166"),
        ({"country_code": "XX"}, "countryCode", "ISO 3166"),  # shaped like one, but not assigned
        ({"country_code": "se"}, "countryCode", "in capitals"),
        ({"name": "Kommun\u202e"}, "name", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
        ({"name": "Kom\u200bmun"}, "name", "ZERO WIDTH SPACE"),
        ({"name": "Kommun \udcff"}, "name", "lone surrogate"),
        ({"description": "a\x9bb"}, "description", "control character"),
        ({"type": "x"}, "type", "'o'"),
        ({"parent": "not-a-uuid"}, "parent", "no parent"),
        ({"ap_operator": "00000000-0000-0000-0000-000000000000"}, "apOperator", "no such"),
    ],
)
def test_invalid_input_names_the_field_and_stores_nothing(db, overrides, field, reason):
    with pytest.raises(ValidationFailed) as caught, db.writer() as session:
        create_organisation(session, **overrides)
    errors = field_errors(caught)
    assert field in errors, errors
    assert reason in errors[field]
    with db.reader() as session:
        assert session.scalar(select(func.count()).select_from(Organisation)) == 0
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_all_field_errors_are_reported_together(db):
    with pytest.raises(ValidationFailed) as caught, db.writer() as session:
        create_organisation(session, name="", organisation_number="1", participant_identifier="nope")
    assert set(field_errors(caught)) == {"name", "organisationNumber", "participantIdentifier"}


def test_a_participant_is_registered_once_whatever_the_case(db):
    with db.writer() as session:
        create_organisation(session, participant_identifier="iso6523-actorid-upis::0203:dubbel.se")
    with pytest.raises(Conflict) as caught, db.writer() as session:
        create_organisation(session, participant_identifier="iso6523-actorid-upis::0203:DUBBEL.se")
    assert caught.value.field == "participantIdentifier"


def test_update_changes_directory_data_and_audits_before_and_after(db):
    with db.writer() as session:
        organisation = create_organisation(session, name="Gammalt namn")
    with db.writer() as session:
        updated = organisations.update_organisation(
            session, ADMIN, organisation.id, {"name": "Nytt namn", "countryCode": "NO"}, expected_version=1
        )
        assert updated.version == 2
    with db.reader() as session:
        [event] = events(session, "organisation:update")
        assert event.before["name"] == "Gammalt namn"
        assert event.after["name"] == "Nytt namn"
        assert event.after["version"] == 2


def test_update_without_a_change_writes_nothing(db):
    with db.writer() as session:
        organisation = create_organisation(session, name="Samma")
    with db.writer() as session:
        assert organisations.update_organisation(session, ADMIN, organisation.id, {"name": "Samma"}).version == 1
    with db.reader() as session:
        assert events(session, "organisation:update") == []


@pytest.mark.parametrize("field", ["participantIdentifier", "type"])
def test_participant_identifier_and_type_are_immutable(db, field):
    with db.writer() as session:
        organisation = create_organisation(session)
    with pytest.raises(ValidationFailed, match="cannot be changed"), db.writer() as session:
        organisations.update_organisation(session, ADMIN, organisation.id, {field: "x"})


def test_unknown_fields_are_refused(db):
    with db.writer() as session:
        organisation = create_organisation(session)
    with pytest.raises(ValidationFailed, match="federationStatus: cannot be changed here"), db.writer() as session:
        organisations.update_organisation(session, ADMIN, organisation.id, {"federationStatus": "approved"})


def test_update_with_a_stale_version_is_refused(db):
    with db.writer() as session:
        organisation = create_organisation(session)
    with db.writer() as session:
        organisations.update_organisation(session, ADMIN, organisation.id, {"name": "Första"}, expected_version=1)
    with pytest.raises(VersionMismatch), db.writer() as session:
        organisations.update_organisation(session, ADMIN, organisation.id, {"name": "Andra"}, expected_version=1)
    with db.reader() as session:
        assert session.get(Organisation, organisation.id).name == "Första"


def test_unknown_organisation(db):
    with pytest.raises(NotFound), db.writer() as session:
        organisations.update_organisation(session, ADMIN, "7b1f1b9e-0000-0000-0000-000000000000", {"name": "x"})
    with pytest.raises(NotFound), db.writer() as session:
        organisations.update_organisation(session, ADMIN, "garbage", {"name": "x"})


def test_lifecycle_transitions_and_their_audit_trail(db):
    operator = Actor(name="federationsoperatör", role="operator")
    with db.writer() as session:
        organisation = create_organisation(session)
    for transition, status in [
        ("approve", "approved"),
        ("suspend", "suspended"),
        ("reinstate", "approved"),
        ("deregister", "deregistered"),
    ]:
        with db.writer() as session:
            assert (
                organisations.change_status(session, operator, organisation.id, transition).federation_status == status
            )
    with (
        pytest.raises(InvalidTransition, match="cannot approve an organisation that is deregistered"),
        db.writer() as s,
    ):
        organisations.change_status(s, operator, organisation.id, "approve")
    with db.reader() as session:
        actions = [e.action for e in events(session)]
        assert actions == [
            "organisation:create",
            "organisation:approve",
            "organisation:suspend",
            "organisation:reinstate",
            "organisation:deregister",
        ]


def test_reject_needs_a_reason_and_can_be_resubmitted(db):
    with db.writer() as session:
        organisation = create_organisation(session)
    with pytest.raises(ValidationFailed, match="reason: is required"), db.writer() as session:
        organisations.change_status(session, ADMIN, organisation.id, "reject")
    with db.writer() as session:
        rejected = organisations.change_status(session, ADMIN, organisation.id, "reject", reason="Fel domän")
        assert (rejected.federation_status, rejected.status_reason) == ("rejected", "Fel domän")
    with db.writer() as session:
        assert organisations.change_status(session, ADMIN, organisation.id, "resubmit").federation_status == "pending"


def test_sub_organisations_have_no_lifecycle_and_are_deleted_only_when_empty(db):
    with db.writer() as session:
        parent = create_organisation(session)
        child = create_organisation(session, type="ou", participant_identifier=None, parent=parent.id)
        address = create_function_address(session, child)
    with pytest.raises(ValidationFailed, match="only organisations of type o"), db.writer() as session:
        organisations.change_status(session, ADMIN, child.id, "approve")
    with pytest.raises(InUse), db.writer() as session:
        organisations.delete_sub_organisation(session, ADMIN, child.id)
    with pytest.raises(InUse), db.writer() as session:
        organisations.delete_sub_organisation(session, ADMIN, parent.id)
    with db.writer() as session:
        from app.operations import function_addresses

        function_addresses.update_function_address(session, ADMIN, address.id, {"organisation": str(parent.id)})
        organisations.delete_sub_organisation(session, ADMIN, child.id)
    with db.reader() as session:
        assert session.get(Organisation, child.id) is None
        [deleted] = events(session, "organisation:delete")
        assert deleted.before["name"] == child.name and deleted.after is None
