"""Certificate trust: each purpose's anchor, validity, key usage; each failure with its own reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509

from app.operations.trust_anchors import anchors_for
from app.trust.certificates import CertificateError
from app.trust.devpki import DevelopmentPki, KeyPair, issue_leaf
from app.trust.validation import validate


@pytest.fixture
def pki(settings) -> DevelopmentPki:
    return DevelopmentPki(settings.pki_dir)


def _certificate(pair: KeyPair) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pair.certificate.read_bytes())


def test_each_purpose_trusts_its_own_anchor_only(settings, pki):
    anchors = anchors_for(settings)
    validate(_certificate(pki.access_point("AP0001-DEMO")), "access-point", anchors)
    validate(_certificate(pki.participant("0203:exempelkommun.se", "signing")), "signing", anchors)
    validate(_certificate(pki.participant("0203:exempelkommun.se", "encryption")), "encryption", anchors)
    validate(_certificate(pki.smp_signing), "smp", anchors)
    with pytest.raises(CertificateError, match="not issued by a trusted access point CA"):
        validate(_certificate(pki.participant("0203:exempelkommun.se", "signing")), "access-point", anchors)
    with pytest.raises(CertificateError, match="not issued by a trusted O2O CA"):
        validate(_certificate(pki.access_point("AP0001-DEMO")), "signing", anchors)


def test_expired_and_not_yet_valid(settings, pki, tmp_path):
    old = issue_leaf(
        pki.ap_ca,
        KeyPair(tmp_path / "o.key", tmp_path / "o.crt"),
        "AP0002-DEMO",
        usage="access-point",
        days=10,
        not_before=datetime.now(UTC) - timedelta(days=20),
    )
    with pytest.raises(CertificateError, match="expired on"):
        validate(_certificate(old), "access-point", anchors_for(settings))
    future = issue_leaf(
        pki.ap_ca,
        KeyPair(tmp_path / "f.key", tmp_path / "f.crt"),
        "AP0003-DEMO",
        usage="access-point",
        not_before=datetime.now(UTC) + timedelta(days=5),
    )
    with pytest.raises(CertificateError, match="not valid before"):
        validate(_certificate(future), "access-point", anchors_for(settings))


def test_key_usage_must_fit_the_purpose(settings, pki):
    with pytest.raises(CertificateError, match="does not allow signing"):
        validate(_certificate(pki.participant("0203:exempelkommun.se", "encryption")), "signing", anchors_for(settings))
    with pytest.raises(CertificateError, match="does not allow encryption"):
        validate(_certificate(pki.participant("0203:exempelkommun.se", "signing")), "encryption", anchors_for(settings))
    with pytest.raises(CertificateError, match="CA certificate"):
        validate(_certificate(pki.o2o_ca), "signing", anchors_for(settings))


def test_configured_anchors_replace_the_development_ones(settings, pki, tmp_path, pki_instance_dir, db):
    from tests.conftest import make_settings

    configured = make_settings(pki_instance_dir, db.url, SDK_TRUST_AP_CA=str(pki.o2o_ca.certificate))
    with pytest.raises(CertificateError, match="not issued by a trusted access point CA"):
        validate(_certificate(pki.access_point("AP0001-DEMO")), "access-point", anchors_for(configured))


def _crl(pki: DevelopmentPki, path, *, revoked_serials=(), next_update_days: int = 7):
    from cryptography.hazmat.primitives import hashes, serialization

    ca = _certificate(pki.ap_ca)
    key = serialization.load_pem_private_key(pki.ap_ca.key.read_bytes(), password=None)
    now = datetime.now(UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.subject)
        .last_update(now - timedelta(days=1))
        .next_update(now + timedelta(days=next_update_days))
    )
    for serial in revoked_serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now - timedelta(hours=1)).build()
        )
    path.write_bytes(builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    return path


def test_revoked_certificates_are_refused_when_a_crl_is_configured(pki, tmp_path, pki_instance_dir, db):
    from tests.conftest import make_settings

    access_point = _certificate(pki.access_point("AP0001-DEMO"))
    other = _certificate(
        issue_leaf(pki.ap_ca, KeyPair(tmp_path / "x.key", tmp_path / "x.crt"), "AP0004-DEMO", usage="access-point")
    )
    crl = _crl(pki, tmp_path / "ap.crl", revoked_serials=[access_point.serial_number])
    configured = anchors_for(make_settings(pki_instance_dir, db.url, SDK_TRUST_CRLS=str(crl)))
    with pytest.raises(CertificateError, match=r"revoked by CN=.* on \d{4}-\d\d-\d\d"):
        validate(access_point, "access-point", configured)
    validate(other, "access-point", configured)  # not on the list
    validate(_certificate(pki.participant("0203:exempelkommun.se", "signing")), "signing", configured)  # no O2O CRL


def test_an_out_of_date_crl_fails_closed(pki, tmp_path, pki_instance_dir, db):
    from tests.conftest import make_settings

    crl = _crl(pki, tmp_path / "old.crl", next_update_days=-1)
    configured = anchors_for(make_settings(pki_instance_dir, db.url, SDK_TRUST_CRLS=str(crl)))
    with pytest.raises(CertificateError, match=r"CRL of CN=.* is out of date"):
        validate(_certificate(pki.access_point("AP0001-DEMO")), "access-point", configured)


def test_a_crl_setting_that_is_not_a_crl_stops_start_up(pki, pki_instance_dir, db):
    from app.settings import SettingsError
    from tests.conftest import make_settings

    with pytest.raises(SettingsError, match=r"SDK_TRUST_CRLS.*not a certificate revocation list"):
        make_settings(pki_instance_dir, db.url, SDK_TRUST_CRLS=str(pki.ap_ca.certificate))


def test_the_operator_manages_trust_anchors_through_the_api(api, tmp_path):
    from app.trust.devpki import ensure_development_pki
    from tests.api_support import problem

    other = ensure_development_pki(tmp_path / "other", access_points=["AP0007-OTHER"], participants=[])
    body = {"apOperator": str(api.ids["ap"]), "certificate": other.access_point("AP0007-OTHER").certificate.read_text()}
    refused = problem(api("POST", "/api/v1/access-points", json=body), 422)
    assert "not issued by a trusted access point CA" in refused["errors"][0]["reason"]

    ca = other.ap_ca.certificate.read_text()
    added = api("POST", "/api/v1/trust-anchors", json={"purpose": "access-point", "certificate": ca})
    assert added.status_code == 201, added.get_data(as_text=True)
    anchor = added.get_json()
    assert anchor["subject"] == _certificate(other.ap_ca).subject.rfc4514_string()
    assert [a["id"] for a in api("GET", "/api/v1/trust-anchors?purpose=access-point", "kommun").get_json()] == [
        anchor["id"]
    ]
    problem(api("POST", "/api/v1/trust-anchors", json={"purpose": "access-point", "certificate": ca}), 409)

    registered = api("POST", "/api/v1/access-points", json=body)
    assert registered.status_code == 201, registered.get_data(as_text=True)

    location = added.headers["Location"]
    problem(api("DELETE", location), 428)
    assert api("DELETE", location, headers={"If-Match": added.headers["ETag"]}).status_code == 204
    renewal = {"certificate": body["certificate"]}
    again = api("PATCH", registered.headers["Location"], json=renewal, headers={"If-Match": "*"})
    assert "not issued by a trusted access point CA" in problem(again, 422)["errors"][0]["reason"]


@pytest.mark.parametrize(
    ("purpose", "which", "reason"),
    [
        ("o2o", "leaf", "is not a CA certificate"),
        ("o2o", "garbage", "not a valid X.509 certificate"),
        ("everything", "ca", "Must be one of: access-point, o2o, smp"),
    ],
)
def test_trust_anchor_input_is_checked(api, settings, purpose, which, reason):
    from tests.api_support import problem

    pki = DevelopmentPki(settings.pki_dir)
    certificate = {
        "leaf": pki.access_point("AP0001-DEMO").certificate.read_text(),
        "garbage": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n",
        "ca": pki.ap_ca.certificate.read_text(),
    }[which]
    body = problem(api("POST", "/api/v1/trust-anchors", json={"purpose": purpose, "certificate": certificate}), 422)
    assert any(reason in error["reason"] for error in body["errors"]), body
