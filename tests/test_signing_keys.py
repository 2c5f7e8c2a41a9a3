"""Signing keys: PEM or PKCS#12 from settings, ECDSA too; mismatched or expired keys are refused."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from lxml import etree

from app.publishing.keys import SigningKeyError, load_signing_credentials
from app.publishing.signing import Signer
from app.settings import load_settings
from app.trust import xmldsig
from tests.processes import EXECUTABLE, service_environ
from tests.specs import xmlsec1_verify


def _certificate(key, *, ca_key=None, ca_name=None, days=365, start=None):
    start = start or datetime.now(UTC) - timedelta(minutes=1)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SMP0002-TEST")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca_name or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    return builder.sign(ca_key or key, hashes.SHA256())


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _pem_key(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _settings(tmp_path, **environ):
    return load_settings({"SDK_ENV_FILE": str(tmp_path / "none"), **environ}, cwd=tmp_path)


def test_pem_key_and_certificate(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    settings = _settings(
        tmp_path,
        SDK_SIGNING_KEY=str(_write(tmp_path, "k.pem", _pem_key(key))),
        SDK_SIGNING_CERT=str(_write(tmp_path, "c.pem", _certificate(key).public_bytes(serialization.Encoding.PEM))),
    )
    credentials = load_signing_credentials(settings)
    assert not credentials.development
    assert credentials.certificate.subject.rfc4514_string() == "CN=SMP0002-TEST"


def test_pkcs12_with_password(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bundle = pkcs12.serialize_key_and_certificates(
        b"smp", key, _certificate(key), None, serialization.BestAvailableEncryption(b"hemligt")
    )
    path = _write(tmp_path, "smp.p12", bundle)
    settings = _settings(
        tmp_path, SDK_SIGNING_KEY=str(path), SDK_SIGNING_CERT=str(path), SDK_SIGNING_KEY_PASSWORD="hemligt"
    )
    assert load_signing_credentials(settings).certificate.subject.rfc4514_string() == "CN=SMP0002-TEST"
    wrong = _settings(tmp_path, SDK_SIGNING_KEY=str(path), SDK_SIGNING_CERT=str(path), SDK_SIGNING_KEY_PASSWORD="fel")
    with pytest.raises(SigningKeyError, match="PKCS#12"):
        load_signing_credentials(wrong)


def test_a_key_that_does_not_match_its_certificate_is_refused(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    settings = _settings(
        tmp_path,
        SDK_SIGNING_KEY=str(_write(tmp_path, "k.pem", _pem_key(key))),
        SDK_SIGNING_CERT=str(_write(tmp_path, "c.pem", _certificate(other).public_bytes(serialization.Encoding.PEM))),
    )
    with pytest.raises(SigningKeyError, match="does not match the certificate"):
        load_signing_credentials(settings)


def test_an_expired_certificate_is_refused(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    old = _certificate(key, start=datetime.now(UTC) - timedelta(days=400), days=365)
    settings = _settings(
        tmp_path,
        SDK_SIGNING_KEY=str(_write(tmp_path, "k.pem", _pem_key(key))),
        SDK_SIGNING_CERT=str(_write(tmp_path, "c.pem", old.public_bytes(serialization.Encoding.PEM))),
    )
    with pytest.raises(SigningKeyError, match="expired on"):
        load_signing_credentials(settings)


def test_weak_and_unsupported_keys_are_refused(tmp_path):
    ed = __import__("cryptography.hazmat.primitives.asymmetric.ed25519", fromlist=["x"]).Ed25519PrivateKey.generate()
    path = _write(tmp_path, "ed.pem", _pem_key(ed))
    settings = _settings(tmp_path, SDK_SIGNING_KEY=str(path), SDK_SIGNING_CERT=str(path))
    with pytest.raises(SigningKeyError, match="only RSA"):
        load_signing_credentials(settings)


def test_ecdsa_signatures_verify_with_xmlsec1_and_our_verifier(tmp_path):
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "EC test CA")])
    now = datetime.now(UTC) - timedelta(minutes=1)
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    settings = _settings(
        tmp_path,
        SDK_SIGNING_KEY=str(_write(tmp_path, "k.pem", _pem_key(key))),
        SDK_SIGNING_CERT=str(
            _write(
                tmp_path,
                "c.pem",
                _certificate(key, ca_key=ca_key, ca_name=ca_name).public_bytes(serialization.Encoding.PEM),
            )
        ),
    )
    signer = Signer(load_signing_credentials(settings))
    root = etree.fromstring(
        '<ServiceGroup xmlns="http://docs.oasis-open.org/bdxr/ns/SMP/2016/05"><x>å</x></ServiceGroup>'.encode()
    )
    document = signer.sign(root, xmldsig.C14N_10)
    assert xmldsig.ECDSA_SHA256.encode() in document
    xmldsig.verify_enveloped(document, trusted=[ca])
    ca_path = _write(tmp_path, "ca.pem", ca.public_bytes(serialization.Encoding.PEM))
    result = xmlsec1_verify(document, ca_path)
    assert result.returncode == 0, result.stderr.decode()


def test_serve_refuses_a_mismatched_key_with_one_line(tmp_path, database_url, db):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    environ = service_environ()
    environ.update(
        SDK_INSTANCE_DIR=str(tmp_path / "instance"),
        SDK_DATABASE_URL=database_url,
        SDK_ENV_FILE=str(tmp_path / "none"),
        SDK_SIGNING_KEY=str(_write(tmp_path, "k.pem", _pem_key(key))),
        SDK_SIGNING_CERT=str(_write(tmp_path, "c.pem", _certificate(other).public_bytes(serialization.Encoding.PEM))),
    )
    result = subprocess.run([EXECUTABLE, "serve"], env=environ, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("sdk-addressbook: SDK_SIGNING_KEY: the signing key ")
    assert "does not match the certificate" in line
