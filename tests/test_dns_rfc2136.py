"""RFC 2136 mode against a real named: batches, back-off, crashes of either side, reconciliation, zone files."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid

import dns.name
import dns.query
import dns.rcode
import dns.tsigkeyring
import dns.update
import pytest
from sqlalchemy import func, insert, select

from app.dns.naming import naptr_name
from app.dns.reconcile import reconcile
from app.dns.rfc2136 import OutboxPublisher
from app.registry.columns import utcnow
from app.registry.models import DnsChange, DnsRecord, DnsState, Organisation
from app.sml.registrations import sync_local
from app.wiring import wire
from tests.conftest import make_settings, require_program
from tests.named import KEY_NAME, start_named
from tests.processes import EXECUTABLE, service_environ, wait_until

ZONE = "sml.rfc2136.test"


@pytest.fixture
def named(tmp_path):
    server = start_named(tmp_path / "named", ZONE)
    yield server
    server.stop()


@pytest.fixture
def settings(db, pki_instance_dir, named):
    settings = make_settings(pki_instance_dir, db.url, **named.environ)
    wire(db, settings)
    return settings


def add_participants(db, count: int, start: int = 0) -> list[str]:
    """Approved participants with DNS records through the real outbox code (no SMP signing needed)."""
    values = [f"0203:deltagare{n}.test.se" for n in range(start, start + count)]
    now = utcnow()
    with db.writer() as session:
        rows = [
            {
                "id": uuid.uuid4(),
                "type": "o",
                "participant_scheme": "iso6523-actorid-upis",
                "participant_value": value,
                "organisation_number": "2021006883",
                "name": value,
                "federation_status": "approved",
                "created_at": now,
                "updated_at": now,
                "version": 1,
            }
            for value in values
        ]
        session.execute(insert(Organisation), rows)
        added = session.scalars(select(Organisation).where(Organisation.participant_value.in_(values)))
        sync_local(session, [(organisation, True) for organisation in added])
    return values


def pending(db) -> int:
    with db.reader() as session:
        return session.scalar(select(func.count()).select_from(DnsChange).where(DnsChange.applied_at.is_(None)))


def resolves(named, value: str) -> bool:
    return named.query(naptr_name("iso6523-actorid-upis", value, ZONE)).rcode() == dns.rcode.NOERROR


def test_changes_reach_named_in_batches(db, settings, named, monkeypatch):
    from app.dns.rfc2136 import Primary

    values = add_participants(db, 450)
    publisher = OutboxPublisher(settings, db)
    sent = []
    original = Primary.send
    monkeypatch.setattr(Primary, "send", lambda self, message: (sent.append(message), original(self, message))[1])
    assert publisher.drain() == 450
    assert len(sent) == 3  # 200 + 200 + 50 RRsets, in one round (one transaction)
    assert all(resolves(named, value) for value in values[::45])
    answer = named.query(naptr_name("iso6523-actorid-upis", values[0], ZONE)).answer[0]
    assert answer.ttl == settings.dns_ttl
    assert answer[0].to_text() == f'100 10 "U" "Meta:SMP" "!^.*$!{settings.smp_base_url}!" .'
    assert pending(db) == 0
    with db.reader() as session:
        assert session.scalar(select(DnsState.last_published_at)) is not None


def test_deletions_and_idempotent_resending(db, settings, named):
    values = add_participants(db, 5)
    publisher = OutboxPublisher(settings, db)
    publisher.drain()
    with db.writer() as session:
        organisation = session.scalar(select(Organisation).where(Organisation.participant_value == values[0]))
        sync_local(session, [(organisation, False)])
    publisher.drain()
    assert not resolves(named, values[0])
    assert publisher.unconfirmed is not None and publisher.unconfirmed.operation == "delete"
    assert not publisher.confirm()  # too soon: the primary is asked only after a quiet second
    assert publisher.confirm(now=time.monotonic() + 2) and publisher.nudges == 0  # a plain primary serves at once
    assert publisher.unconfirmed is None
    # sending everything again changes nothing: replace and delete are idempotent
    with db.writer() as session:
        for change in session.scalars(select(DnsChange)):
            change.applied_at = None
    assert publisher.drain() == 6
    assert not resolves(named, values[0])
    assert resolves(named, values[1])


def test_named_down_means_back_off_and_nothing_lost(db, settings, named):
    values = add_participants(db, 20)
    named.stop()
    publisher = OutboxPublisher(settings, db)
    assert publisher.publish_once() == 0
    with db.reader() as session:
        head = session.scalars(select(DnsChange).order_by(DnsChange.id)).first()
        errors = session.scalar(select(DnsState.publish_errors))
    assert head.attempts == 1
    assert head.next_attempt_at > utcnow()
    assert errors == 1
    assert publisher.publish_once() == 0  # still backing off: not even tried
    named.start()
    with db.writer() as session:
        session.execute(DnsChange.__table__.update().values(next_attempt_at=None))  # skip the wait
    assert publisher.drain() == 20
    assert all(resolves(named, value) for value in values)


def test_a_wrong_tsig_key_is_an_error_not_a_success(db, settings, named, pki_instance_dir):
    add_participants(db, 1)
    wrong = make_settings(
        pki_instance_dir, db.url, **{**named.environ, "SDK_DNS_TSIG_SECRET": "d3JvbmctLXdyb25nLS13cm9uZy0tMTIzNDU2Nzg="}
    )
    assert OutboxPublisher(wrong, db).publish_once() == 0
    assert pending(db) == 1


def _worker(db, named, pki_instance_dir, **extra: str) -> subprocess.Popen:
    environ = service_environ()
    environ.update(
        named.environ,
        SDK_DATABASE_URL=db.url,
        SDK_INSTANCE_DIR=str(pki_instance_dir),
        SDK_ENV_FILE=str(pki_instance_dir / "none.env"),
        SDK_LOG_LEVEL="WARNING",
        **extra,
    )
    return subprocess.Popen([EXECUTABLE, "worker"], env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _converged(db, settings) -> bool:
    with db.reader() as session:
        drift, _ = reconcile(session, settings, dry_run=True)
    return drift.clean


def test_killing_the_worker_or_named_mid_way_loses_nothing(db, settings, named, pki_instance_dir):
    add_participants(db, 3000)
    total = pending(db)
    worker = _worker(db, named, pki_instance_dir)
    try:
        assert wait_until(lambda: pending(db) < total, 30), "the worker applied nothing"
        worker.send_signal(signal.SIGKILL)  # in the middle of the run (and quite possibly of a batch)
        worker.wait(timeout=10)
        left = pending(db)
        assert 0 < left < total, "kill the worker while work remains"
        worker = _worker(db, named, pki_instance_dir)
        assert wait_until(lambda: pending(db) < left, 30), "the restarted worker applied nothing"
        named.stop(kill=True)  # the primary dies too, with updates in flight
        time.sleep(0.5)
        named.start()
        assert wait_until(lambda: pending(db) == 0, 60), "the outbox never drained after named came back"
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=20)
    assert _converged(db, settings)
    with db.reader() as session:
        assert session.scalar(select(func.count()).select_from(DnsRecord)) == 3000


def test_the_reconciler_finds_and_repairs_drift(db, settings, named):
    values = add_participants(db, 10)
    OutboxPublisher(settings, db).drain()
    keyring = dns.tsigkeyring.from_text({KEY_NAME: named.secret})
    behind_our_back = dns.update.UpdateMessage(ZONE, keyring=keyring, keyname=KEY_NAME, keyalgorithm="hmac-sha256")
    stranger = naptr_name("iso6523-actorid-upis", "0203:okand.se", ZONE)
    behind_our_back.add(
        dns.name.from_text(stranger + "."), 60, "NAPTR", '100 10 "U" "Meta:SMP" "!^.*$!https://evil.example!" .'
    )
    behind_our_back.delete(dns.name.from_text(naptr_name("iso6523-actorid-upis", values[0], ZONE) + "."))
    changed = dns.name.from_text(naptr_name("iso6523-actorid-upis", values[1], ZONE) + ".")
    behind_our_back.replace(changed, 60, "NAPTR", '100 10 "U" "Meta:SMP" "!^.*$!https://other.example!" .')
    assert dns.query.tcp(behind_our_back, "127.0.0.1", port=named.port, timeout=5).rcode() == dns.rcode.NOERROR

    with db.reader() as session:
        drift, repaired = reconcile(session, settings, dry_run=True)
    assert repaired == 0
    assert drift.missing == [(naptr_name("iso6523-actorid-upis", values[0], ZONE), "NAPTR")]
    assert drift.different == [(changed.to_text(omit_final_dot=True), "NAPTR")]
    assert drift.unexpected == [(stranger, "NAPTR")]
    assert not resolves(named, values[0])

    with db.reader() as session:
        _, repaired = reconcile(session, settings, dry_run=False)
    assert repaired == 3
    assert _converged(db, settings)
    assert resolves(named, values[0])
    assert named.query(stranger).rcode() == dns.rcode.NXDOMAIN
    assert named.query(f"other.{ZONE}", "A").answer[0][0].address == "127.0.0.2"  # outside our namespace: untouched


def test_reconcile_command(db, settings, named, pki_instance_dir):
    add_participants(db, 3)
    environ = service_environ()
    environ.update(
        named.environ,
        SDK_DATABASE_URL=db.url,
        SDK_INSTANCE_DIR=str(pki_instance_dir),
        SDK_ENV_FILE=str(pki_instance_dir / "none.env"),
    )
    dry = subprocess.run(
        [EXECUTABLE, "reconcile", "--dry-run"], env=environ, capture_output=True, text=True, timeout=60
    )
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.count("(missing from the zone)") == 3
    assert "dry run: nothing changed" in dry.stdout
    fixed = subprocess.run([EXECUTABLE, "reconcile"], env=environ, capture_output=True, text=True, timeout=60)
    assert "3 record sets repaired" in fixed.stdout
    again = subprocess.run([EXECUTABLE, "reconcile"], env=environ, capture_output=True, text=True, timeout=60)
    assert again.stdout.strip() == "zone and database agree"


def test_zone_export_passes_named_checkzone(db, settings, pki_instance_dir, tmp_path):
    checkzone = require_program("named-checkzone")
    add_participants(db, 25)
    environ = service_environ()
    environ.update(
        SDK_DATABASE_URL=db.url,
        SDK_INSTANCE_DIR=str(pki_instance_dir),
        SDK_SML_ZONE=ZONE,
        SDK_ENV_FILE=str(pki_instance_dir / "none.env"),
        SDK_DNS_RECORD_TYPES="naptr",
    )
    zone_file = tmp_path / "sml.zone"
    result = subprocess.run(
        [EXECUTABLE, "zone", "export", str(zone_file)], env=environ, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    check = subprocess.run([checkzone, ZONE, str(zone_file)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "OK" in check.stdout
    assert zone_file.read_text().count(" IN NAPTR ") == 25


def test_doctor_reports_a_primary_that_differs_until_reconciled(db, settings):
    from app import create_app
    from app.doctor import SERIOUS, diagnose

    add_participants(db, 2)
    app = create_app(settings, database=db)
    drift = [(f.severity, f.problem) for f in diagnose(*_of(app)) if "on the primary differ" in f.problem]
    assert drift == [(SERIOUS, "DNS not converged: 2 record sets on the primary differ from the database")]
    with db.reader() as session:
        reconcile(session, settings, dry_run=False)
    assert not [f for f in diagnose(*_of(app)) if "DNS" in f.problem]


def test_the_worker_reports_its_health_and_stops_cleanly_on_sigterm(db, settings, named, pki_instance_dir):
    import urllib.request

    from tests.named import free_port

    port = free_port()
    add_participants(db, 5)
    worker = _worker(db, named, pki_instance_dir, SDK_WORKER_HEALTH_LISTEN=f"127.0.0.1:{port}")
    try:

        def answers() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        assert wait_until(answers, 30), "the worker's /healthz never answered"
        assert wait_until(lambda: pending(db) == 0, 30), "the worker applied nothing"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            metrics = response.read().decode()
        rounds = next(line for line in metrics.splitlines() if line.startswith("sdk_worker_rounds_total "))
        assert int(rounds.split()[1]) >= 1
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=10) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def test_a_secondary_follows_the_primary_through_notify_and_ixfr(db, pki_instance_dir, tmp_path):
    """The production layout of docs/OPERATIONS.md: updates go to the primary, secondaries transfer the zone."""
    from tests.named import free_port, start_secondary

    secondary_port = free_port()
    primary = start_named(tmp_path / "primary", ZONE, notify_ports=(secondary_port,))
    secondary = None
    try:
        secondary = start_secondary(tmp_path / "secondary", primary, secondary_port)
        settings = make_settings(pki_instance_dir, db.url, **primary.environ)
        wire(db, settings)
        values = add_participants(db, 50)
        assert OutboxPublisher(settings, db).drain() == 50
        assert wait_until(lambda: all(resolves(secondary, value) for value in values), 30), (
            "the secondary did not follow"
        )
        at_secondary = make_settings(
            pki_instance_dir, db.url, **{**primary.environ, "SDK_DNS_PRIMARY": f"127.0.0.1:{secondary_port}"}
        )
        assert _converged(db, at_secondary)  # the secondary's AXFR equals the database
        with db.writer() as session:
            gone = session.scalar(select(Organisation).where(Organisation.participant_value == values[0]))
            sync_local(session, [(gone, False)])
        assert OutboxPublisher(settings, db).drain() == 1
        assert wait_until(lambda: not resolves(secondary, values[0]), 30), "the secondary kept a withdrawn participant"
        assert resolves(secondary, values[1])
        log = (tmp_path / "secondary" / "named.log").read_text()
        assert "Transfer status: success" in log
    finally:
        if secondary is not None:
            secondary.stop()
        primary.stop()


def _of(app):
    """What doctor looks at: the app's settings and database."""
    from app.extensions import database_of, settings_of

    return settings_of(app), database_of(app)


def test_a_primary_that_signs_inline_serves_signed_records_and_the_reconciler_still_agrees(
    db, pki_instance_dir, tmp_path
):
    """BIND with ``dnssec-policy`` signs what the outbox sends; the reconciler compares the unsigned content."""
    import warnings

    import dns.message
    import dns.rdatatype
    from cryptography.utils import CryptographyDeprecationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        import dns.dnssec

    signing = start_named(tmp_path / "signing", ZONE, signed=True)
    try:
        settings = make_settings(pki_instance_dir, db.url, **signing.environ)
        wire(db, settings)
        values = add_participants(db, 2000)
        publisher = OutboxPublisher(settings, db)
        assert publisher.drain() == 2000  # ten UPDATE messages in a burst
        # BIND may leave the last of a burst out of the signed zone: the publisher checks and nudges it
        assert wait_until(publisher.confirm, 30)
        assert all(resolves(signing, value) for value in values), publisher.nudges
        origin = dns.name.from_text(ZONE + ".")

        def signed_answer(name: str, rdtype: str) -> dns.message.Message | None:
            query = dns.message.make_query(name, rdtype, want_dnssec=True)
            response = dns.query.tcp(query, "127.0.0.1", port=signing.port, timeout=5)
            covered = {r.covers for r in response.answer if r.rdtype == dns.rdatatype.RRSIG}
            return response if dns.rdatatype.from_text(rdtype) in covered else None

        name = naptr_name("iso6523-actorid-upis", values[0], ZONE)
        assert wait_until(lambda: signed_answer(name, "NAPTR") is not None, 20), tmp_path / "signing" / "named.log"
        keys = signed_answer(ZONE, "DNSKEY")
        assert keys is not None
        dnskeys = next(r for r in keys.answer if r.rdtype == dns.rdatatype.DNSKEY)
        answer = signed_answer(name, "NAPTR")
        assert answer is not None
        naptr = next(r for r in answer.answer if r.rdtype == dns.rdatatype.NAPTR)
        rrsig = next(r for r in answer.answer if r.rdtype == dns.rdatatype.RRSIG)
        dns.dnssec.validate(naptr, rrsig, {origin: dnskeys})
        with db.reader() as session:
            drift, repaired = reconcile(session, settings, dry_run=True)
        assert drift.clean and repaired == 0, drift.lines()
        # a deletion through the outbox is signed away too: an authenticated NXDOMAIN
        with db.writer() as session:
            organisation = session.scalar(select(Organisation).where(Organisation.participant_value == values[1]))
            sync_local(session, [(organisation, False)])
        assert publisher.drain() == 1
        gone = naptr_name("iso6523-actorid-upis", values[1], ZONE)

        def proven_gone() -> bool:
            query = dns.message.make_query(gone, "NAPTR", want_dnssec=True)
            response = dns.query.tcp(query, "127.0.0.1", port=signing.port, timeout=5)
            kinds = {r.rdtype for r in response.authority}
            return response.rcode() == dns.rcode.NXDOMAIN and bool(kinds & {dns.rdatatype.NSEC, dns.rdatatype.NSEC3})

        assert wait_until(proven_gone, 20)
        with db.reader() as session:
            drift, _ = reconcile(session, settings, dry_run=True)
        assert drift.clean, drift.lines()
    finally:
        signing.stop()
