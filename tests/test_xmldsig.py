"""The verifier: published vectors (reference/anchors.md §5.7, shared/specs) and strictness."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from app.trust import xmldsig
from tests.conftest import SPECS, require

VECTORS = Path(__file__).parent / "vectors" / "signed"
LEGACY = {
    "signature_methods": xmldsig.MODERN_SIGNATURE_METHODS | {xmldsig.RSA_SHA1},
    "digest_methods": xmldsig.MODERN_DIGEST_METHODS | {xmldsig.SHA1},
}

VALID = [
    VECTORS / "SignedServiceMetadataPoland.xml",
    VECTORS / "GET_SignedServiceMetadata_response_linarized.xml",
    VECTORS / "busdox-servicemetadata-redirect-0192-991825827.xml",
    SPECS / "peppol-smp/examples/signed-service-metadata2.xml",
    SPECS / "peppol-smp/examples/signed-service-metadata3-c14n-inclusive.xml",
]
INVALID = [
    (VECTORS / "SignedServiceMetadata_invalid_default_signature.xml", "digest"),
    (SPECS / "peppol-smp/examples/signed-service-metadata1.xml", "digest"),
]


def _read(path: Path) -> bytes:
    require("specs", path.is_file(), f"{path} missing")
    return path.read_bytes()


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_vectors_verify(path):
    verified = xmldsig.verify_enveloped(_read(path), check_time=False, **LEGACY)
    assert verified.certificate.subject


@pytest.mark.parametrize(("path", "kind"), INVALID, ids=lambda p: getattr(p, "name", p))
def test_invalid_vectors_are_rejected(path, kind):
    with pytest.raises(xmldsig.SignatureError) as caught:
        xmldsig.verify_enveloped(_read(path), check_time=False, **LEGACY)
    assert caught.value.kind == kind


def test_the_lxml_default_namespace_trap_is_handled():
    """Poland's SignedInfo sits under an unprefixed ds namespace overriding the SMP default namespace."""
    document = _read(VECTORS / "SignedServiceMetadataPoland.xml")
    root = xmldsig.parse_document(document)
    signed_info = root.find(f"{{{xmldsig.DS}}}Signature/{{{xmldsig.DS}}}SignedInfo")
    naive = etree.tostring(signed_info, method="c14n")
    assert b' xmlns=""' in naive  # lxml's artefact, which would break the signature
    assert b' xmlns=""' not in xmldsig.canonicalize(signed_info, xmldsig.C14N_10)


def test_sha1_is_refused_unless_asked_for():
    with pytest.raises(xmldsig.SignatureError) as caught:
        xmldsig.verify_enveloped(_read(SPECS / "peppol-smp/examples/signed-service-metadata2.xml"), check_time=False)
    assert caught.value.kind == "unsupported"


def test_expired_signers_fail_the_date_check():
    with pytest.raises(xmldsig.SignatureError, match="not valid at"):
        xmldsig.verify_enveloped(_read(SPECS / "peppol-smp/examples/signed-service-metadata2.xml"), **LEGACY)


def test_untrusted_signer_is_refused():
    from app.trust.devpki import ensure_development_pki

    document = _read(VECTORS / "SignedServiceMetadataPoland.xml")
    from cryptography import x509

    pki = ensure_development_pki(Path(__import__("tempfile").mkdtemp()), access_points=[], participants=[])
    ca = x509.load_pem_x509_certificate(pki.smp_ca.certificate.read_bytes())
    with pytest.raises(xmldsig.SignatureError) as caught:
        xmldsig.verify_enveloped(document, trusted=[ca], check_time=False)
    assert caught.value.kind == "untrusted"


def _mutate(document: bytes, old: bytes, new: bytes) -> bytes:
    assert old in document
    return document.replace(old, new, 1)


POLAND = VECTORS / "SignedServiceMetadataPoland.xml"


@pytest.mark.parametrize(
    ("old", "new", "kind"),
    [
        (b'<Reference URI="">', b'<Reference URI="#x">', "unsupported"),
        (
            b'<Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>',
            b'<Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"/>',
            "unsupported",
        ),
        (b"<SignatureValue>NQkz", b"<SignatureValue>AQkz", "signature"),
        (b"<SignatureValue>NQkz", b"<SignatureValue>!!!!", "malformed"),
        (
            b"</SignedServiceMetadata>",
            b"<Signature xmlns='http://www.w3.org/2000/09/xmldsig#'/></SignedServiceMetadata>",
            "malformed",
        ),
    ],
)
def test_strictness(old, new, kind):
    with pytest.raises(xmldsig.SignatureError) as caught:
        xmldsig.verify_enveloped(_mutate(_read(POLAND), old, new), check_time=False)
    assert caught.value.kind == kind


def test_doctype_and_entities_are_refused():
    document = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    with pytest.raises(xmldsig.SignatureError, match="DOCTYPE"):
        xmldsig.verify_enveloped(document)
    with pytest.raises(xmldsig.SignatureError, match="not well-formed"):
        xmldsig.verify_enveloped(b"<unclosed>")
    with pytest.raises(xmldsig.SignatureError, match="no ds:Signature"):
        xmldsig.verify_enveloped(b"<x/>")
