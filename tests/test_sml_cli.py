"""``sdk-addressbook sml …``: SMPs, their participants and migration keys from the command line."""

from __future__ import annotations

import json
import os
import uuid

import pytest
from sqlalchemy import select

from app import demo
from app.cli import main
from app.registry.models import AuditEvent, SmlMigration
from app.trust.devpki import DevelopmentPki
from tests.sml_support import SmlClients, identifier, serving, smp_identity


@pytest.fixture
def run(pki_instance_dir, db, monkeypatch, settings, capsys):
    for key in list(os.environ):
        if key.startswith("SDK_") and not key.startswith("SDK_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("SDK_INSTANCE_DIR", str(pki_instance_dir))
    monkeypatch.setenv("SDK_DATABASE_URL", db.url)
    monkeypatch.setenv("SDK_ENV_FILE", str(pki_instance_dir / "none.env"))
    with db.writer() as session:
        demo.seed(session, settings, DevelopmentPki(settings.pki_dir))

    def invoke(*arguments: str) -> tuple[int, str, str]:
        try:
            main(list(arguments))
            code = 0
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


@pytest.fixture(scope="session")
def remote(pki_instance_dir, tmp_path_factory):
    return smp_identity(DevelopmentPki(pki_instance_dir / "pki"), tmp_path_factory.mktemp("smp-cli"), "SMP-CLI")


def add(run, remote):
    return run(
        "sml", "smp", "add", "--smp-id", "SMP-CLI", "--logical-address", "https://smp-cli.example.se/smp",
        "--physical-address", "192.0.2.30", "--certificate", str(remote.pair.certificate),
    )  # fmt: skip


def test_smps_are_added_listed_and_removed(run, remote):
    code, out, err = add(run, remote)
    assert code == 0, err
    assert "SMP SMP-CLI registered" in out and "CN=SMP-CLI" in out
    code, out, _ = run("sml", "smp", "list", "--json")
    listed = json.loads(out)
    assert [(s["smpId"], s["local"], s["participants"]) for s in listed] == [
        ("sdk-addressbook", True, 3),
        ("SMP-CLI", False, 0),
    ]
    code, out, _ = run("sml", "smp", "list")
    assert "SMP-CLI" in out and "https://smp-cli.example.se/smp" in out
    code, _, err = run("sml", "smp", "update", "SMP-CLI", "--logical-address", "https://ny.example.se")
    assert code == 0, err
    code, _, err = run("sml", "smp", "update", "smp-cli", "--physical-address", "nowhere")
    assert code == 1 and err.strip() == "sdk-addressbook: physicalAddress: must be an IPv4 or IPv6 address"
    code, out, _ = run("sml", "smp", "remove", "SMP-CLI")
    assert code == 0 and "removed with its 0 participants" in out
    code, _, err = run("sml", "smp", "remove", "SMP-CLI")
    assert code == 1 and err.strip() == "sdk-addressbook: [ERR-100] The SMP 'SMP-CLI' doesn't exist"


def test_refusals_are_one_line(run, remote, tmp_path):
    def add_bad(certificate):
        return run(
            "sml", "smp", "add", "--smp-id", "bad id!", "--logical-address", "ftp://x",
            "--physical-address", "1.2.3.4", "--certificate", str(certificate),
        )  # fmt: skip

    code, _, err = add_bad(tmp_path / "missing.pem")
    assert code == 1 and err.count("\n") == 1 and "missing.pem" in err
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    code, _, err = add_bad(garbage)
    assert code == 1 and err.count("\n") == 1
    assert "smpId:" in err and "logicalAddress:" in err and "certificate:" in err
    code, _, err = run("sml", "participants", "SMP-NOPE")
    assert code == 1 and err.strip() == "sdk-addressbook: [ERR-100] The SMP 'SMP-NOPE' doesn't exist"
    code, _, err = run("sml", "migration", "prepare", "iso6523-actorid-upis::0203:saknas.se")
    assert code == 1 and "doesn't exist" in err
    code, _, err = run("sml", "migration", "prepare", "0203:exempelkommun.se", "--key", "weak")
    assert code == 1 and "MigrationKey: migration key must be 8 to 24 characters long" in err


def test_a_local_participant_migrates_out_and_back(run, remote, app, db):
    add(run, remote)
    code, out, err = run("sml", "participants", "sdk-addressbook")
    assert out.splitlines()[0] == "iso6523-actorid-upis::0203:exempelkommun.se" and "3 participants" in err
    code, out, err = run("sml", "migration", "prepare", "0203:exempelkommun.se")
    key = out.strip()
    assert code == 0 and len(key) == 24 and "valid until" in err
    code, out, _ = run("sml", "migration", "list")
    [line] = out.splitlines()
    migration_id = line.split()[0]
    assert "iso6523-actorid-upis::0203:exempelkommun.se  from sdk-addressbook  until" in line
    with serving(app) as base:
        SmlClients(base, remote.header).participants.Migrate(
            ServiceMetadataPublisherID="SMP-CLI",
            ParticipantIdentifier=identifier("0203:exempelkommun.se"),
            MigrationKey=key,
        )
        code, out, _ = run("sml", "participants", "SMP-CLI", "--json")
        assert json.loads(out) == ["iso6523-actorid-upis::0203:exempelkommun.se"]
        SmlClients(base, remote.header).participants.PrepareToMigrate(
            ServiceMetadataPublisherID="SMP-CLI",
            ParticipantIdentifier=identifier("0203:exempelkommun.se"),
            MigrationKey="Ab1@cd2#Ef3$",
        )
    code, _, err = run("sml", "migrate", "0203:exempelkommun.se", "--key", "Zz9@zz9#Zz9$")
    assert code == 1 and "not valid" in err
    code, _, err = run("sml", "migrate", "0203:exempelkommun.se", "--key", "Ab1@cd2#Ef3$")
    assert code == 0 and "now registered by SMP sdk-addressbook" in err
    with db.reader() as session:
        assert session.get(SmlMigration, uuid.UUID(migration_id)) is None
        actors = set(session.scalars(select(AuditEvent.actor).where(AuditEvent.entity_type == "sml_migration")))
    assert actors == {"system", "smp:SMP-CLI"}
    code, _, _ = run("sml", "migration", "prepare", "0203:exempelkommun.se", "--key", "Ab1@cd2#Ef3$")
    code, out, _ = run("sml", "migration", "list", "--smp", "sdk-addressbook")
    migration_id = out.split()[0]
    code, _, err = run("sml", "migration", "cancel", migration_id)
    assert code == 0 and run("sml", "migration", "list")[1] == ""


def test_resync_recomputes_every_record(run):
    code, _, err = run("sml", "resync")
    assert code == 0 and err.strip() == "0 record sets changed; 0 registrations queued for the external SML"
