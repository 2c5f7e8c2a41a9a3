"""The command line: init, seed-demo, token create, audit verify; errors are one line and non-zero."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text, update

from app.auth.tokens import find_credential
from app.cli import cli
from app.database import Database
from app.registry.models import AuditEvent, DirectoryEntry, Organisation
from tests.processes import EXECUTABLE


@pytest.fixture
def environment(instance_dir, database_url, monkeypatch):
    """The CLI reads its settings from the environment, like in production."""
    for key in list(os.environ):
        if key.startswith("SDK_") and not key.startswith("SDK_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("SDK_INSTANCE_DIR", str(instance_dir))
    monkeypatch.setenv("SDK_DATABASE_URL", database_url)
    monkeypatch.setenv("SDK_ENV_FILE", str(instance_dir / "none.env"))
    return dict(os.environ)


@pytest.fixture
def fresh_database_url(database_url, db):
    """The CLI tests run init themselves, on the emptied (but migrated) test database."""
    return database_url


def run(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


def test_init_and_seed_demo_are_idempotent(environment, fresh_database_url, instance_dir):
    first = run("init")
    assert first.exit_code == 0, first.output
    assert "development PKI" in first.output
    assert run("init").exit_code == 0
    seeded = run("seed-demo")
    assert seeded.exit_code == 0 and "demo federation loaded" in seeded.output
    again = run("seed-demo")
    assert again.exit_code == 0 and "nothing changed" in again.output
    database = Database(fresh_database_url)
    with database.reader() as session:
        assert session.scalar(select(func.count()).select_from(Organisation)) == 4
    database.dispose()
    assert (instance_dir / "pki" / "smp-signing.key").stat().st_mode & 0o077 == 0


def test_seed_demo_without_init_says_what_to_do(environment, fresh_database_url):
    result = subprocess.run([EXECUTABLE, "seed-demo"], env=environment, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    pki = f"{environment['SDK_INSTANCE_DIR']}/pki"
    assert result.stderr.strip().splitlines() == [
        f"sdk-addressbook: no development PKI in {pki}: run 'sdk-addressbook init' first"
    ]


def test_token_create_prints_the_token_once_and_stores_its_hash(environment, fresh_database_url):
    assert run("init").exit_code == 0
    result = CliRunner().invoke(cli, ["token", "create", "--role", "operator", "--name", "ci"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[0]
    assert re.fullmatch(r"sdkab_[A-Za-z0-9_\-]{43}", token)
    database = Database(fresh_database_url)
    with database.reader() as session:
        credential = find_credential(session, token)
        assert credential is not None and credential.role == "operator"
        assert credential.token_hash != token and token not in credential.token_prefix + credential.token_hash
    database.dispose()


def test_token_create_refuses_a_scope_that_does_not_exist(environment, fresh_database_url):
    assert run("init").exit_code == 0
    result = subprocess.run(
        [
            EXECUTABLE,
            "token",
            "create",
            "--role",
            "org_admin",
            "--scope",
            "5c9a5e0e-0000-0000-0000-000000000000",
            "--name",
            "admin",
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "sdk-addressbook: scope: no organisation of type o has this id"


def test_audit_verify_reports_the_first_broken_event(environment, fresh_database_url):
    assert run("init").exit_code == 0
    assert run("seed-demo").exit_code == 0
    ok = subprocess.run([EXECUTABLE, "audit", "verify"], env=environment, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and ok.stdout.startswith("audit chain intact: ")
    database = Database(fresh_database_url)
    with database.writer() as session:
        target = session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)).all()[4]
        session.execute(update(AuditEvent).where(AuditEvent.id == target).values(after={"name": "forged"}))
    database.dispose()
    broken = subprocess.run(
        [EXECUTABLE, "audit", "verify"], env=environment, capture_output=True, text=True, timeout=60
    )
    assert broken.returncode == 1
    assert broken.stderr.strip() == (
        f"sdk-addressbook: audit chain broken at event {target}: its content does not match its hash (it was changed)"
    )


def test_flask_cli_offers_the_same_commands(environment, fresh_database_url):
    flask = str(Path(sys.executable).with_name("flask"))
    result = subprocess.run(
        [flask, "--app", "app", "--help"], env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    for command in ("init", "seed-demo", "serve", "token", "audit"):
        assert re.search(rf"^\s+{command}\b", result.stdout, re.MULTILINE), command


def test_directory_rebuild_repairs_lost_entries_and_keeps_unchanged_ones(environment, fresh_database_url):
    assert run("init").exit_code == 0
    assert run("seed-demo").exit_code == 0
    unchanged = run("directory", "rebuild")
    assert unchanged.exit_code == 0 and "0 entries changed, 0 removed" in unchanged.output
    database = Database(fresh_database_url)
    with database.engine.begin() as connection:  # lose entries behind the service's back
        connection.execute(text("DELETE FROM directory_entries WHERE kind = 'addresses'"))
    repaired = run("directory", "rebuild")
    assert repaired.exit_code == 0 and "6 entries changed" in repaired.output
    with database.reader() as session:
        assert (
            session.scalar(select(func.count()).select_from(DirectoryEntry).where(DirectoryEntry.kind == "addresses"))
            == 6
        )
    database.dispose()


def test_account_create_with_a_password_or_for_oidc_only(environment, fresh_database_url):
    from app.operations.accounts import NO_PASSWORD
    from app.registry.models import Account

    assert run("init").exit_code == 0
    made = CliRunner().invoke(
        cli,
        ["account", "create", "--username", "anna", "--role", "operator", "--password-stdin"],
        input="x" * 12 + "\n",
    )
    assert made.exit_code == 0, made.output
    oidc = run("account", "create", "--username", "bo@example.se", "--role", "operator", "--no-password")
    assert oidc.exit_code == 0, oidc.output
    both = CliRunner().invoke(
        cli, ["account", "create", "--username", "c", "--role", "operator", "--no-password", "--totp"]
    )
    assert both.exit_code != 0 and "--no-password cannot be combined" in both.output
    short = CliRunner().invoke(
        cli, ["account", "create", "--username", "d", "--role", "operator", "--password-stdin"], input="kort\n"
    )
    assert short.exit_code != 0 and "password: must be at least 12" in short.output
    database = Database(fresh_database_url)
    with database.reader() as session:
        hashes = dict(session.execute(select(Account.username, Account.password_hash)).all())
    database.dispose()
    assert set(hashes) == {"anna", "bo@example.se"}
    assert hashes["bo@example.se"] == NO_PASSWORD and hashes["anna"].startswith("$argon2id$")


def test_account_password_role_disable_and_enable_are_audited_and_end_sessions(environment, fresh_database_url):
    from app.audit import verify
    from app.registry.models import Account

    def invoke(*args, stdin=None):
        return CliRunner().invoke(cli, ["account", *args], input=stdin)

    assert run("init").exit_code == 0 and run("seed-demo").exit_code == 0
    assert (
        invoke("create", "--username", "anna", "--role", "operator", "--password-stdin", stdin="x" * 12).exit_code == 0
    )
    database = Database(fresh_database_url)

    def anna() -> Account:
        with database.reader() as session:
            return session.scalar(select(Account).where(Account.username == "anna"))

    first_hash = anna().password_hash
    changed = invoke("password", "--username", "anna", "--password-stdin", stdin="y" * 12 + "\n")
    assert changed.exit_code == 0, changed.output
    assert anna().password_hash != first_hash and anna().sessions_valid_from is not None
    with database.reader() as session:
        kommun = session.scalar(
            select(Organisation.id).where(Organisation.participant_value == "0203:exempelkommun.se")
        )
    assert invoke("role", "--username", "anna", "--role", "org_admin", "--scope", str(kommun)).exit_code == 0
    assert (anna().role, anna().scope_id) == ("org_admin", kommun)
    assert invoke("disable", "--username", "anna").exit_code == 0 and anna().disabled_at is not None
    assert invoke("enable", "--username", "anna").exit_code == 0 and anna().disabled_at is None
    refused = {
        "unknown account": invoke("disable", "--username", "nobody"),
        "scope missing": invoke("role", "--username", "anna", "--role", "ap_operator"),
        "scope unknown": invoke("role", "--username", "anna", "--role", "ap_operator", "--scope", str(kommun)),
        "scope no id": invoke("role", "--username", "anna", "--role", "org_admin", "--scope", "kommun"),
        "short password": invoke("password", "--username", "anna", "--password-stdin", stdin="kort\n"),
    }
    for why, result in refused.items():
        assert result.exit_code != 0, why
        assert len(result.output.strip().splitlines()) == 1 and result.output.startswith("sdk-addressbook: "), why
    assert (anna().role, anna().scope_id, anna().disabled_at) == ("org_admin", kommun, None)  # nothing half-done
    with database.reader() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.entity_type == "account").order_by(AuditEvent.id)
        ).all()
        assert actions == [
            "account:create",
            "account:password",
            "account:role",
            "account:disable",
            "account:enable",
        ]
        for event in session.scalars(select(AuditEvent).where(AuditEvent.entity_type == "account")):
            assert "password_hash" not in str(event.before) + str(event.after)
        assert verify(session).intact
    database.dispose()


def test_dnssec_key_made_by_init_and_printed_for_the_parent(environment, fresh_database_url, instance_dir, monkeypatch):
    refused = subprocess.run([EXECUTABLE, "dnssec", "ds"], env=environment, capture_output=True, text=True)
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "sdk-addressbook: SDK_DNSSEC is off: the zone is not signed, so it has no DS or DNSKEY to publish"
    )
    environment = {**environment, "SDK_DNSSEC": "on"}
    missing = subprocess.run([EXECUTABLE, "dnssec", "dnskey"], env=environment, capture_output=True, text=True)
    assert missing.returncode == 2 and "no zone key (run 'sdk-addressbook init'" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    monkeypatch.setenv("SDK_DNSSEC", "on")
    made = run("init")
    assert made.exit_code == 0, made.output
    key = instance_dir / "dnssec" / "sml.sdk-addressbook.test.key"
    assert key.stat().st_mode & 0o777 == 0o600
    ds = subprocess.run([EXECUTABLE, "dnssec", "ds"], env=environment, capture_output=True, text=True, check=True)
    assert re.fullmatch(r"sml\.sdk-addressbook\.test\. IN DS \d+ 13 2 [0-9a-f]{64}\n", ds.stdout)
    assert ds.stdout.strip() in made.output  # init shows the same DS
    dnskey = subprocess.run([EXECUTABLE, "dnssec", "dnskey"], env=environment, capture_output=True, text=True)
    assert dnskey.stdout.startswith("sml.sdk-addressbook.test. IN DNSKEY 257 3 13 ")
    assert run("init").exit_code == 0 and key.read_bytes()  # a second init keeps the key
    assert (
        ds.stdout
        == subprocess.run([EXECUTABLE, "dnssec", "ds"], env=environment, capture_output=True, text=True).stdout
    )
    key.write_bytes(b"garbage")
    broken = subprocess.run([EXECUTABLE, "worker"], env=environment, capture_output=True, text=True, timeout=60)
    assert broken.returncode == 2
    assert broken.stderr.strip().startswith("sdk-addressbook: SDK_DNSSEC_KEY: ")
    assert "not a readable unencrypted PEM private key" in broken.stderr
    doctor = subprocess.run([EXECUTABLE, "doctor"], env=environment, capture_output=True, text=True, timeout=60)
    assert "SDK_DNSSEC is on but the zone cannot be signed" in doctor.stdout
    assert doctor.returncode != 0
