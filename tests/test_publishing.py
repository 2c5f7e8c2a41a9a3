"""Publishing: every document is schema-valid, signed as specified, re-signed only when it changes."""

from __future__ import annotations

import pytest
from lxml import etree
from sqlalchemy import func, select

from app import demo
from app.audit import Actor
from app.database import publisher_of
from app.identifiers import CERTPUB_TYPE_CODES
from app.operations import access_points, organisations, participants
from app.registry.models import EndpointConfiguration, Organisation, Publication
from app.settings import SDK_MESSAGE_DOCUMENT_TYPE
from app.trust import xmldsig
from app.trust.devpki import DevelopmentPki
from tests.specs import assert_valid, xmlsec1_verify

OPERATOR = Actor("operatör", "operator")
DS = {"ds": xmldsig.DS}


@pytest.fixture
def seeded(db, settings):
    with db.writer() as session:
        demo.seed(session, settings, DevelopmentPki(settings.pki_dir))
    return db


def publications(db, flavour=None) -> list[Publication]:
    with db.reader() as session:
        query = select(Publication).order_by(Publication.flavour, Publication.path_key)
        if flavour:
            query = query.where(Publication.flavour == flavour)
        return list(session.scalars(query))


def test_every_approved_participant_is_published_in_three_flavours(seeded):
    rows = publications(seeded)
    # per participant and flavour: one ServiceGroup and one document per SDK document type
    assert len(rows) == 3 * 3 * 3
    keys = {(p.flavour, p.path_key) for p in rows}
    assert ("smp1", "iso6523-actorid-upis::0203:exempelkommun.se") in keys
    assert ("smp2", f"iso6523-actorid-upis::0203:regionexempel.se/services/{SDK_MESSAGE_DOCUMENT_TYPE}") in keys


def test_every_document_is_valid_against_the_official_schema(seeded):
    for publication in publications(seeded):
        assert publication.document.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
        assert_valid(publication.flavour, publication.document)


def test_signatures_have_the_required_shape(seeded):
    for publication in publications(seeded):
        root = etree.fromstring(publication.document)
        signatures = root.findall("ds:Signature", DS)
        signed = b"ServiceMetadata" in root.tag.encode() or publication.flavour == "smp2"
        if not signed:
            assert signatures == [], publication.path_key
            continue
        assert len(signatures) == 1
        assert root[-1] is signatures[0], "the signature is the last child"
        signature = signatures[0]
        expected_c14n = xmldsig.C14N_11 if publication.flavour == "smp2" else xmldsig.C14N_10
        assert signature.find("ds:SignedInfo/ds:CanonicalizationMethod", DS).get("Algorithm") == expected_c14n
        assert signature.find("ds:SignedInfo/ds:SignatureMethod", DS).get("Algorithm") == xmldsig.RSA_SHA256
        [reference] = signature.findall("ds:SignedInfo/ds:Reference", DS)
        assert reference.get("URI") == ""
        transforms = reference.findall("ds:Transforms/ds:Transform", DS)
        assert [t.get("Algorithm") for t in transforms] == [xmldsig.ENVELOPED]
        assert reference.find("ds:DigestMethod", DS).get("Algorithm") == xmldsig.SHA256
        assert signature.find("ds:KeyInfo/ds:X509Data/ds:X509SubjectName", DS).text.startswith("CN=SMP0001-DEV")
        assert signature.find("ds:KeyInfo/ds:X509Data/ds:X509Certificate", DS).text


def test_xmlsec1_verifies_every_signed_document_against_the_smp_ca(seeded, settings):
    trusted = DevelopmentPki(settings.pki_dir).smp_ca.certificate
    signed = [p for p in publications(seeded) if b"<ds:Signature" in p.document]
    assert len(signed) == 3 * (2 + 3 + 2)
    for publication in signed:
        result = xmlsec1_verify(publication.document, trusted)
        assert result.returncode == 0, (publication.flavour, publication.path_key, result.stderr.decode()[-400:])


def test_xmlsec1_refuses_a_signer_from_another_ca(seeded, settings):
    other_ca = DevelopmentPki(settings.pki_dir).ap_ca.certificate
    document = next(p for p in publications(seeded, "smp1") if "/services/" in p.path_key).document
    assert xmlsec1_verify(document, other_ca).returncode != 0


def test_our_verifier_accepts_our_documents_with_the_trusted_ca(seeded, settings):
    from cryptography import x509

    ca = x509.load_pem_x509_certificate(DevelopmentPki(settings.pki_dir).smp_ca.certificate.read_bytes())
    for publication in publications(seeded):
        if b"<ds:Signature" in publication.document:
            verified = xmldsig.verify_enveloped(publication.document, trusted=[ca])
            assert verified.certificate.subject.rfc4514_string().startswith("CN=SMP0001-DEV")


def _content_positions(document: bytes) -> list[int]:
    """Byte offsets of every character of text and attribute values inside the signed content."""
    start = document.index(b"<SignedServiceMetadata")
    end = document.index(b"<ds:Signature")
    positions = []
    inside_tag = False
    for offset in range(start, end):
        byte = document[offset : offset + 1]
        if byte == b"<":
            inside_tag = True
        elif byte == b">":
            inside_tag = False
        elif not inside_tag and byte.isalnum():
            positions.append(offset)
    return positions


def _flip(document: bytes, offset: int) -> bytes:
    replacement = b"x" if document[offset : offset + 1] != b"x" else b"y"
    return document[:offset] + replacement + document[offset + 1 :]


def test_changing_any_byte_of_the_signed_content_breaks_the_signature(seeded, settings):
    document = next(p for p in publications(seeded, "smp1") if "/services/" in p.path_key).document
    positions = _content_positions(document)
    assert len(positions) > 2000
    for offset in positions:
        with pytest.raises(xmldsig.SignatureError):
            xmldsig.verify_enveloped(_flip(document, offset))
    # the independent implementation agrees on a spread of them
    trusted = DevelopmentPki(settings.pki_dir).smp_ca.certificate
    for offset in positions[:: len(positions) // 12]:
        assert xmlsec1_verify(_flip(document, offset), trusted).returncode != 0


def test_certpub_extension_carries_signing_and_encryption_certificates(seeded):
    document = next(p for p in publications(seeded, "smp1") if "exempelkommun.se/services/" in p.path_key).document
    namespaces = {
        "smp": "http://docs.oasis-open.org/bdxr/ns/SMP/2016/05",
        "smc": "http://docs.oasis-open.org/bdxr/ns/SMP/2/AggregateComponents",
        "smb": "http://docs.oasis-open.org/bdxr/ns/SMP/2/BasicComponents",
    }
    root = etree.fromstring(document)
    extensions = root.findall("smp:ServiceMetadata/smp:ServiceInformation/smp:Extension", namespaces)
    assert [e.findtext("smp:ExtensionID", namespaces=namespaces) for e in extensions] == [
        "urn:fdc:digg.se:edelivery:xml-extension:smp-certpub:1.0"
    ] * 2
    codes = [e.findtext("smc:Certificate/smb:TypeCode", namespaces=namespaces) for e in extensions]
    assert sorted(codes) == sorted(CERTPUB_TYPE_CODES.values())
    for extension in extensions:
        binary = extension.find("smc:Certificate/smb:ContentBinaryObject", namespaces)
        assert binary.get("mimeCode") == "application/base64"
        from app.trust.certificates import load_certificate

        assert "exempelkommun.se" in load_certificate(binary.text).subject.rfc4514_string()


def test_unchanged_data_is_not_signed_again(seeded):
    before = {(p.flavour, p.path_key): (p.etag, p.published_at) for p in publications(seeded)}
    with seeded.writer() as session:
        organisation = session.scalar(
            select(Organisation).where(Organisation.participant_value == "0203:exempelkommun.se")
        )
        result = publisher_of(session).republish(session, organisation)
        organisations.update_organisation(session, OPERATOR, organisation.id, {"description": "Ny text"})
    assert (result.signed, result.withdrawn, result.unchanged) == (0, 0, 9)
    assert {(p.flavour, p.path_key): (p.etag, p.published_at) for p in publications(seeded)} == before


def test_changing_an_endpoint_configuration_republishes_every_participant_using_it(seeded, settings):
    before = {(p.flavour, p.path_key): p.etag for p in publications(seeded)}
    with seeded.writer() as session:
        configuration = session.scalar(select(EndpointConfiguration))
        access_points.update_endpoint_configuration(
            session,
            OPERATOR,
            configuration.id,
            {"endpointUrl": "https://ny.ap.example.se/as4"},
            transport_profiles=settings.transport_profiles,
        )
    after = publications(seeded)
    changed = [p for p in after if before[(p.flavour, p.path_key)] != p.etag]
    # every service document of the three participants in the three flavours; service groups do not carry URLs
    assert len(changed) == 3 * 3 * 2
    assert all(b"https://ny.ap.example.se/as4" in p.document for p in changed)
    assert all("/services/" in p.path_key for p in changed)


def test_suspension_withdraws_and_reinstatement_republishes(seeded):
    with seeded.writer() as session:
        organisation = session.scalar(
            select(Organisation).where(Organisation.participant_value == "0203:regionexempel.se")
        )
        organisations.change_status(session, OPERATOR, organisation.id, "suspend")
    assert not any("regionexempel" in p.path_key for p in publications(seeded))
    with seeded.writer() as session:
        organisations.change_status(session, OPERATOR, organisation.id, "reinstate")
    assert sum("regionexempel" in p.path_key for p in publications(seeded)) == 9


def test_a_pending_participant_or_one_without_services_is_not_published(db, settings):
    from tests.factories import create_organisation

    with db.writer() as session:
        pending = create_organisation(session)
        approved_without_services = create_organisation(session)
        organisations.change_status(session, OPERATOR, approved_without_services.id, "approve")
    with db.reader() as session:
        assert session.scalar(select(func.count()).select_from(Publication)) == 0
    with db.writer() as session:
        configuration = _configuration(session, settings)
        participants.add_service(
            session,
            OPERATOR,
            pending.id,
            document_type=SDK_MESSAGE_DOCUMENT_TYPE,
            process="urn:fdc:digg.se:edelivery:process::bdx:noprocess",
            endpoint_configuration_id=configuration.id,
        )
    with db.reader() as session:
        assert session.scalar(select(func.count()).select_from(Publication)) == 0


def _configuration(session, settings):
    pki = DevelopmentPki(settings.pki_dir)
    operator = access_points.create_ap_operator(session, OPERATOR, name="Operatör AB")
    access_point = access_points.create_access_point(
        session, OPERATOR, ap_operator_id=operator.id, certificate=pki.access_point(demo.AP_ID).certificate.read_text()
    )
    return access_points.create_endpoint_configuration(
        session,
        OPERATOR,
        access_points.EndpointConfigurationInput(
            access_point=access_point.id,
            name="AS4",
            transport_profile=settings.transport_profiles[0],
            endpoint_url="https://ap.example.se/as4",
            technical_contact_url="https://ap.example.se/kontakt",
            description="AP",
        ),
        transport_profiles=settings.transport_profiles,
    )


def test_renewing_the_access_point_certificate_republishes(seeded, settings, tmp_path):
    from app.trust.devpki import KeyPair, issue_leaf

    pki = DevelopmentPki(settings.pki_dir)
    target = KeyPair(tmp_path / "renewed.key", tmp_path / "renewed.crt")
    renewed = issue_leaf(pki.ap_ca, target, demo.AP_ID, usage="access-point").certificate.read_text()
    with seeded.writer() as session:
        from app.registry.models import AccessPoint

        access_point = session.scalar(select(AccessPoint))
        access_points.replace_access_point_certificate(session, OPERATOR, access_point.id, renewed)
    from app.trust.certificates import load_certificate, to_base64_der

    expected = to_base64_der(load_certificate(renewed)).encode()
    assert all(expected in p.document for p in publications(seeded) if "/services/" in p.path_key)
