"""``/api/v1/status``, its metrics, and ``sdk-addressbook doctor``: each check provoked for real."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select

from app import create_app, schema, status
from app.cli import cli
from app.database import Database
from app.doctor import SERIOUS, WARNING, Context, check_development_keys, diagnose
from app.operations.access_points import create_access_point
from app.operations.participants import add_certificate
from app.registry.models import AccessPointOperator, Organisation, Publication
from app.trust.devpki import DevelopmentPki, KeyPair, issue_leaf
from tests.api_support import SYSTEM
from tests.conftest import make_settings

KOMMUN = "0203:exempelkommun.se"


def _pem(pair: KeyPair) -> str:
    return pair.certificate.read_text()


@pytest.fixture
def soon(api, db, settings, tmp_path):
    """An access point and a participant encryption certificate, both expiring in ten days."""
    pki = DevelopmentPki(settings.pki_dir)
    ap = issue_leaf(
        pki.ap_ca, KeyPair(tmp_path / "ap.key", tmp_path / "ap.crt"), "AP0009-SOON", usage="access-point", days=10
    )
    o2o = issue_leaf(
        pki.o2o_ca, KeyPair(tmp_path / "o.key", tmp_path / "o.crt"), "kommun-enc-soon", usage="encryption", days=10
    )
    with db.writer() as session:
        operator = session.scalar(select(AccessPointOperator.id).where(AccessPointOperator.name != "Annan AP AB"))
        create_access_point(session, SYSTEM, ap_operator_id=operator, certificate=_pem(ap))
        add_certificate(session, SYSTEM, api.ids[KOMMUN], usage="encryption", certificate=_pem(o2o))
    return api


def _findings(app, **kwargs):
    return [(f.severity, f.problem) for f in diagnose(*_of(app), **kwargs)]


def test_status_lists_certificates_expiring_within_the_warning_window(soon):
    response = soon("GET", "/api/v1/status")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["warnDays"] == 30
    assert body["signingKey"] == "ok"
    expiring = {(c["kind"], c["owner"]): c for c in body["certificates"]}
    assert set(expiring) == {
        ("access-point", "AP0009-SOON"),
        ("participant-encryption", f"iso6523-actorid-upis::{KOMMUN}"),
    }
    assert all(c["daysLeft"] in (9, 10) and not c["expired"] for c in expiring.values())
    assert body["publication"]["approvedWithoutDocuments"] == 0
    assert body["publication"]["withdrawnStillPublished"] == 0
    assert body["dns"]["mode"] == "embedded"
    assert body["dns"]["outboxPending"] >= 1  # the demo seed, not yet applied: no DNS server runs in this test


@pytest.mark.parametrize("who", ["ap", "kommun", None])
def test_status_is_for_the_operator(soon, who):
    assert soon("GET", "/api/v1/status", who).status_code == (401 if who is None else 403)


def test_expired_certificates_are_flagged_and_everything_expires_eventually(soon, db, settings):
    later = datetime.now(UTC) + timedelta(days=365 * 30)
    with db.reader() as session:
        found = status.expiring_certificates(session, settings, None, later)
    assert found and all(c.expired for c in found)
    assert {c.kind for c in found} >= {"access-point", "participant-signing", "participant-encryption"}


def test_metrics_carry_the_same_figures(soon):
    text = soon.client.get("/metrics").get_data(as_text=True)
    assert 'sdk_certificates_expiring{kind="access-point"} 1' in text
    assert 'sdk_certificates_expiring{kind="participant-encryption"} 1' in text
    assert 'sdk_certificates_expired{kind="access-point"} 0' in text
    assert "sdk_smp_approved_without_documents 0" in text


# --- doctor -------------------------------------------------------------------------------------------


def test_a_healthy_development_installation_only_hears_about_the_public_url(api, app):
    assert _findings(app) == [
        (WARNING, "SDK_PUBLIC_URL is not set: NAPTR records and ServiceGroup references point at http://127.0.0.1:8080")
    ]


def test_public_url_set_silences_it(api, db, pki_instance_dir):
    app = create_app(make_settings(pki_instance_dir, db.url, SDK_PUBLIC_URL="https://smp.example.se"), database=db)
    assert _findings(app) == []


def test_production_with_development_keys_and_anchors_is_serious(settings, db):
    production = dataclasses.replace(settings, mode="production", public_url_configured=True)
    found = list(check_development_keys(Context(production, db, datetime.now(UTC))))
    assert [f.severity for f in found] == [SERIOUS, SERIOUS]
    assert "development key" in found[0].problem
    assert "SDK_TRUST_AP_CA, SDK_TRUST_O2O_CA, SDK_TRUST_SMP_CA" in found[1].problem


def test_a_rate_limit_counted_per_worker_is_named_until_redis_is_set(settings, db):
    from app.doctor import check_rate_limit

    several = dataclasses.replace(settings, mode="production", http_workers=4)
    [found] = check_rate_limit(Context(several, db, datetime.now(UTC)))
    assert found.severity == WARNING and "with 4 workers per replica" in found.problem
    shared = dataclasses.replace(several, redis_url="redis://127.0.0.1:6379/0")
    assert list(check_rate_limit(Context(shared, db, datetime.now(UTC)))) == []
    assert list(check_rate_limit(Context(settings, db, datetime.now(UTC)))) == []  # development: documented


def test_expiring_and_expired_certificates(soon, app):
    warnings = [p for s, p in _findings(app) if s == WARNING and "expires on" in p]
    assert len(warnings) == 2
    assert any("access-point certificate of AP0009-SOON" in p for p in warnings)
    expired = [p for s, p in _findings(app, now=datetime.now(UTC) + timedelta(days=20)) if s == SERIOUS]
    assert any("AP0009-SOON" in p and "expired on" in p for p in expired)


def test_dns_not_converged_when_changes_wait_too_long(api, app):
    assert not [p for _, p in _findings(app) if "DNS" in p]
    later = datetime.now(UTC) + timedelta(minutes=5)
    found = [(s, p) for s, p in _findings(app, now=later) if "DNS not converged" in p]
    assert len(found) == 1
    assert found[0][0] == SERIOUS


def test_dns_primary_unreachable(api, db, pki_instance_dir):
    settings = make_settings(
        pki_instance_dir,
        db.url,
        SDK_DNS_MODE="rfc2136",
        SDK_DNS_PRIMARY="127.0.0.1:9",
        SDK_DNS_TSIG_KEY_NAME="sdk-key",
        SDK_DNS_TSIG_SECRET="c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=",
    )
    found = _findings(create_app(settings, database=db))
    assert any(s == SERIOUS and p.startswith("the DNS primary cannot be compared") for s, p in found)


def test_publication_disagreeing_with_the_registry(api, app, db):
    with db.writer() as session:
        session.execute(delete(Publication).where(Publication.organisation_id == api.ids[KOMMUN]))
    found = [(s, p) for s, p in _findings(app) if "SMP publication" in p]
    assert found == [
        (
            SERIOUS,
            "SMP publication disagrees with the registry: 1 approved participants without documents, "
            "0 withdrawn participants still served",
        )
    ]


def test_signing_key_not_matching_its_certificate(api, db, pki_instance_dir):
    pki = DevelopmentPki(pki_instance_dir / "pki")
    settings = make_settings(
        pki_instance_dir,
        db.url,
        SDK_SIGNING_KEY=str(pki.ap_ca.key),
        SDK_SIGNING_CERT=str(pki.smp_signing.certificate),
    )
    found = _findings(create_app(settings, database=db))
    assert any(s == SERIOUS and "does not match the certificate" in p for s, p in found)


def test_pending_migrations(tmp_path, pki_instance_dir):
    database = Database(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    try:
        app = create_app(make_settings(pki_instance_dir, database.url), database=database)
        found = _findings(app)
    finally:
        database.dispose()
    heads = ", ".join(sorted(schema.head_revisions()))
    assert found[-1] == (SERIOUS, f"migrations pending: database at nothing, code needs {heads}")


def test_doctor_command_exit_code_follows_the_worst_finding(api, app, db):
    with app.app_context():
        result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "WARNING  SDK_PUBLIC_URL is not set" in result.output
    assert "1 problem, 0 serious" in result.output
    with db.writer() as session:
        kommun = session.get(Organisation, api.ids[KOMMUN])
        session.execute(delete(Publication).where(Publication.organisation_id == kommun.id))
    with app.app_context():
        result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 1
    assert "SERIOUS  SMP publication disagrees" in result.output
    assert "fix: run 'sdk-addressbook smp resign'" in result.output


def _of(app):
    """What doctor looks at: the app's settings and database."""
    from app.extensions import database_of, settings_of

    return settings_of(app), database_of(app)
