"""The schema: migrations equal the models, and invariants are enforced by the database itself."""

from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, text
from sqlalchemy.exc import DataError, IntegrityError, StatementError
from sqlalchemy.orm.exc import StaleDataError

from app import schema
from app.database import Database
from app.registry.columns import utcnow
from app.registry.models import AccessPointOperator, Base, FunctionAddress, Organisation


def test_models_and_migrations_agree(db):
    """Autogenerate finds nothing to do: the migrations build exactly what the models describe."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": schema.include_object}
        )
        assert compare_metadata(context, Base.metadata) == []
    assert schema.is_current(db)


def test_upgrade_is_idempotent(db):
    before = schema.current_revisions(db)
    schema.upgrade(db)
    assert schema.current_revisions(db) == before == schema.head_revisions()


def test_an_empty_database_is_not_current(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    assert not schema.is_current(database)
    schema.upgrade(database)
    assert schema.is_current(database)
    database.dispose()


def _organisation(**overrides) -> dict:
    now = utcnow()
    values = {
        "id": uuid.uuid4(),
        "type": "o",
        "participant_scheme": "iso6523-actorid-upis",
        "participant_value": f"0203:{uuid.uuid4().hex[:8]}.se",
        "organisation_number": "2021006883",
        "name": "Org",
        "country_code": "SE",
        "federation_status": "pending",
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }
    values.update(overrides)
    return values


def _insert(db, table, **values):
    with db.engine.begin() as connection:
        connection.execute(insert(table), values)


@pytest.mark.parametrize(
    "overrides",
    [
        {"type": "x"},
        {"federation_status": "maybe"},
        {"participant_value": None},  # an o needs a participant id
        {"federation_status": None},  # an o has a federation status
        {"type": "ou", "participant_value": None, "participant_scheme": None, "federation_status": None},  # no parent
        {"country_code": "SWE"},
    ],
)
def test_organisation_check_constraints(db, overrides):
    with pytest.raises((IntegrityError, DataError)):
        _insert(db, Organisation.__table__, **_organisation(**overrides))


def test_participant_identifier_is_unique(db):
    values = _organisation(participant_value="0203:same.se")
    _insert(db, Organisation.__table__, **values)
    with pytest.raises(IntegrityError):
        _insert(db, Organisation.__table__, **_organisation(participant_value="0203:same.se"))


def test_foreign_keys_are_enforced(db):
    with pytest.raises(IntegrityError):
        _insert(db, Organisation.__table__, **_organisation(ap_operator_id=uuid.uuid4()))


def test_function_address_identifier_unique_case_insensitively(db):
    organisation = _organisation()
    _insert(db, Organisation.__table__, **organisation)
    now = utcnow()
    row = {
        "organisation_id": organisation["id"],
        "name": "Registrator",
        "keywords": [],
        "status": "active",
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }
    _insert(
        db, FunctionAddress.__table__, id=uuid.uuid4(), identifier="sdk:Inkorg", identifier_folded="sdk:inkorg", **row
    )
    with pytest.raises(IntegrityError):
        _insert(
            db,
            FunctionAddress.__table__,
            id=uuid.uuid4(),
            identifier="SDK:INKORG",
            identifier_folded="sdk:inkorg",
            **row,
        )
    with pytest.raises(IntegrityError):
        _insert(
            db,
            FunctionAddress.__table__,
            id=uuid.uuid4(),
            identifier="x",
            identifier_folded="x",
            **{**row, "status": "gone"},
        )


def test_naive_timestamps_are_refused(db):
    with pytest.raises(StatementError, match="naive datetime"):
        _insert(
            db,
            AccessPointOperator.__table__,
            id=uuid.uuid4(),
            name="x",
            created_at=utcnow().replace(tzinfo=None),
            updated_at=utcnow(),
            version=1,
        )


def test_timestamps_come_back_in_utc(db):
    with db.writer() as session:
        operator = AccessPointOperator(name="Tidszon AB")
        session.add(operator)
    with db.reader() as session:
        stored = session.get(AccessPointOperator, operator.id)
        assert stored.created_at.utcoffset().total_seconds() == 0
        assert abs((stored.created_at - operator.created_at).total_seconds()) < 0.001


def test_a_stale_writer_cannot_overwrite_a_newer_version(db):
    """Two clients read version 1 in separate transactions; the second write must not win silently."""
    with db.writer() as session:
        operator = AccessPointOperator(name="Version AB")
        session.add(operator)
    first = db._write_sessions()
    second = db._write_sessions()
    try:
        mine = first.get(AccessPointOperator, operator.id)
        first.commit()
        theirs = second.get(AccessPointOperator, operator.id)
        second.commit()
        mine.name = "Version AB (first)"
        first.commit()
        theirs.name = "Version AB (second)"
        with pytest.raises(StaleDataError):
            second.commit()
    finally:
        first.close()
        second.close()
    with db.reader() as session:
        stored = session.get(AccessPointOperator, operator.id)
        assert (stored.name, stored.version) == ("Version AB (first)", 2)


def test_sqlite_runs_with_foreign_keys_and_wal(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'pragmas.sqlite3'}")
    with database.engine.connect() as connection:
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    database.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_0013_hands_the_records_of_published_participants_to_the_local_smp(backend, tmp_path):
    """Records owned by organisations (revision 0012) become registrations of the local SMP, unchanged;
    and the way back keeps them with their organisations."""
    from contextlib import nullcontext

    from tests.conftest import fresh_postgres_database

    context = nullcontext(f"sqlite:///{tmp_path / 'old.sqlite3'}") if backend == "sqlite" else fresh_postgres_database()
    with context as url:
        database = Database(url)
        schema.upgrade(database, "0012")
        organisation = _organisation(federation_status="approved", participant_value="0203:gammal.se")
        uuid_text = organisation["id"].hex if backend == "sqlite" else str(organisation["id"])
        with database.engine.begin() as connection:
            connection.execute(insert(Organisation.__table__), organisation)
            connection.execute(
                text(
                    "INSERT INTO dns_records (organisation_id, name, rtype, ttl, rdata)"
                    " VALUES (:organisation, 'x.iso6523-actorid-upis.sml.test', 'NAPTR', 60, 'rdata')"
                ),
                {"organisation": uuid_text},
            )
        schema.upgrade(database)
        with database.engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT p.value, s.local, r.rdata FROM dns_records r JOIN sml_participants p"
                    " ON p.id = r.participant_id JOIN smps s ON s.id = p.smp_id"
                )
            ).all()
        assert [(value, bool(local), rdata) for value, local, rdata in rows] == [("0203:gammal.se", True, "rdata")]
        schema.upgrade(database, "0013")
        from alembic import command

        config = schema.alembic_config()
        with database.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0012")
        with database.engine.connect() as connection:
            back = connection.execute(text("SELECT organisation_id, rdata FROM dns_records")).all()
        assert len(back) == 1 and back[0][1] == "rdata"
        database.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_0014_folds_stored_identifier_schemes_and_names_clashes(backend, tmp_path, pki_instance_dir):
    """Schemes stored as written (revision 0013) become lower case; two services that would then be one
    stop the upgrade with a message naming them, and nothing is changed."""
    from contextlib import nullcontext

    from app import demo
    from app.trust.devpki import ensure_development_pki
    from app.wiring import wire
    from tests.conftest import fresh_postgres_database, make_settings

    context = nullcontext(f"sqlite:///{tmp_path / 'old.sqlite3'}") if backend == "sqlite" else fresh_postgres_database()
    with context as url:
        database = Database(url)
        schema.upgrade(database, "0013")
        settings = make_settings(pki_instance_dir, url)
        pki = ensure_development_pki(
            settings.pki_dir, access_points=[demo.AP_ID], participants=demo.participants_of_demo()
        )
        with wire(database, settings).writer() as session:
            demo.seed(session, settings, pki)
        upper = (
            "UPDATE participant_services"
            " SET document_scheme = upper(document_scheme), process_scheme = upper(process_scheme)"
        )
        copy = (
            "INSERT INTO participant_services (id, organisation_id, document_scheme, document_value, process_scheme,"
            " process_value, endpoint_configuration_id, version, created_at, updated_at)"
            " SELECT :id, organisation_id, lower(document_scheme), document_value, process_scheme, process_value,"
            " endpoint_configuration_id, version, created_at, updated_at FROM participant_services"
            " WHERE id = (SELECT id FROM participant_services ORDER BY id LIMIT 1)"
        )
        new_id = uuid.uuid4()
        with database.engine.begin() as connection:
            connection.execute(text(upper))
            connection.execute(text(copy), {"id": new_id.hex if backend == "sqlite" else str(new_id)})
        with pytest.raises(RuntimeError, match="1 services differ only in the case of an identifier scheme"):
            schema.upgrade(database)
        with database.engine.connect() as connection:
            kept = connection.execute(
                text("SELECT count(*) FROM participant_services WHERE document_scheme = 'BUSDOX-DOCID-QNS'")
            ).scalar()
            assert kept == connection.execute(text("SELECT count(*) FROM participant_services")).scalar() - 1
        with database.engine.begin() as connection:
            connection.execute(text("DELETE FROM participant_services WHERE document_scheme = 'busdox-docid-qns'"))
        schema.upgrade(database)
        with database.engine.connect() as connection:
            schemes = connection.execute(
                text("SELECT DISTINCT document_scheme, process_scheme FROM participant_services")
            ).all()
        assert schemes == [("busdox-docid-qns", "urn:fdc:digg.se:edelivery:process")]
        database.dispose()


def test_every_column_of_every_table_can_be_copied_in_binary():
    """insert_rows writes binary COPY with the columns' types: a new column type must be named there."""
    from sqlalchemy.dialects import postgresql

    from app.registry.bulk import copy_types

    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    for table in Base.metadata.tables.values():
        assert len(copy_types(table, [c.name for c in table.columns], dialect)) == len(table.columns)
