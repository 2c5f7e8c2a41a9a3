"""What a hostile or careless client sends the SML: every refusal is a SOAP fault (or 413/404/405 before any
work), never a 500 with a trace, and nothing stored changes."""

from __future__ import annotations

import pytest
import requests
from lxml import etree
from sqlalchemy import func, select

from app import create_app
from app.registry.models import SmlParticipant
from app.sml.soap import IDENTIFIERS, LOCATOR, SOAP_ENVELOPE
from app.trust.devpki import DevelopmentPki
from tests.conftest import make_settings
from tests.sml_support import register, serving, smp_identity

PARTICIPANTS = "/sml/manageparticipantidentifier"


@pytest.fixture(scope="session")
def caller(pki_instance_dir, tmp_path_factory):
    return smp_identity(DevelopmentPki(pki_instance_dir / "pki"), tmp_path_factory.mktemp("hostile"), "SMP-H")


@pytest.fixture
def sml(app, db, caller):
    register(db, caller)
    with serving(app) as base:
        yield base


def create_body(values: list[str], *, smp_id: str = "SMP-H") -> bytes:
    identifiers = "".join(
        f'<ids:ParticipantIdentifier scheme="iso6523-actorid-upis">{value}</ids:ParticipantIdentifier>'
        for value in values
    )
    return (
        f'<?xml version="1.0"?><s:Envelope xmlns:s="{SOAP_ENVELOPE}"><s:Body>'
        f'<lrs:CreateList xmlns:lrs="{LOCATOR}" xmlns:ids="{IDENTIFIERS}">{identifiers}'
        f"<lrs:ServiceMetadataPublisherID>{smp_id}</lrs:ServiceMetadataPublisherID></lrs:CreateList>"
        "</s:Body></s:Envelope>"
    ).encode()


def post(base: str, body: bytes, caller, path: str = PARTICIPANTS, **headers: str) -> requests.Response:
    return requests.post(
        base + path,
        data=body,
        headers={"Content-Type": "text/xml; charset=utf-8", "Client-Cert": caller.header, **headers},
        timeout=30,
    )


def fault(response: requests.Response) -> tuple[str, str]:
    assert response.status_code == 500 and response.headers["Content-Type"].startswith("text/xml"), response.text
    root = etree.fromstring(response.content)
    [kind] = root.find(f"{{{SOAP_ENVELOPE}}}Body/{{{SOAP_ENVELOPE}}}Fault/detail")
    return etree.QName(kind).localname, kind[0].text


def stored(db) -> int:
    with db.reader() as session:
        return session.scalar(select(func.count()).select_from(SmlParticipant))


def test_a_plain_request_works(db, sml, caller):
    response = post(sml, create_body(["0203:vanlig.se"]), caller)
    assert response.status_code == 200 and stored(db) == 1


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
)
EXTERNAL = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (BILLION_LAUGHS.encode() + create_body(["0203:&lol3;.se"]).split(b"?>", 1)[1], "DOCTYPE"),
        (EXTERNAL.encode() + create_body(["&secret;"]).split(b"?>", 1)[1], "DOCTYPE"),
        (b"not xml at all", "not well-formed"),
        (b"", "not well-formed"),
        (create_body(["0203:a.se"])[:-20], "not well-formed"),
        (create_body(["0203:nul\x00.se"]), "not well-formed"),
        (create_body(["0203:x.se"]).replace(b"0203:x.se", b"0203:\xed\xa0\x80.se"), "not well-formed"),
        (b"<a>" * 5000 + b"</a>" * 5000, "not well-formed"),
        (
            create_body(["0203:x.se"]).replace(SOAP_ENVELOPE.encode(), b"http://www.w3.org/2003/05/soap-envelope"),
            "SOAP 1.1",
        ),
        (b'<?xml version="1.0"?><x/>', "not a SOAP 1.1 envelope"),
        (f'<s:Envelope xmlns:s="{SOAP_ENVELOPE}"><s:Body/></s:Envelope>'.encode(), "exactly one element"),
        (
            f'<s:Envelope xmlns:s="{SOAP_ENVELOPE}"><s:Body><a/><b/></s:Body></s:Envelope>'.encode(),
            "exactly one element",
        ),
        (
            f'<s:Envelope xmlns:s="{SOAP_ENVELOPE}"><s:Body><lrs:Nonsense xmlns:lrs="{LOCATOR}"/></s:Body>'
            "</s:Envelope>".encode(),
            "not an operation of manageparticipantidentifier",
        ),
        (create_body(["0203:x.se"], smp_id=""), "ServiceMetadataPublisherID is missing"),
        (create_body(["0203:x.se"]).replace(b">0203:x.se<", b"><b>0203:x.se</b><"), "must hold text"),
        (create_body(["0203:\u202eosynlig.se"]), "not a valid IDNA name"),
    ],
    ids=[
        "entity-expansion",
        "external-entity",
        "not-xml",
        "empty",
        "truncated",
        "nul",
        "surrogate",
        "deep-nesting",
        "soap-1.2",
        "no-envelope",
        "empty-body",
        "two-operations",
        "unknown-operation",
        "no-smp-id",
        "markup-in-identifier",
        "invisible-character",
    ],
)
def test_hostile_bodies_are_bad_requests_and_change_nothing(db, sml, caller, body, reason):
    kind, message = fault(post(sml, body, caller))
    assert kind == "BadRequestFault" and reason in message, message
    assert "root:" not in message  # no file was read
    assert stored(db) == 0


def test_an_invisible_character_ignored_by_idna_leaves_the_canonical_name(db, sml, caller):
    """UTS 46 maps a zero-width space to nothing: the participant registered is the visible name, no look-alike."""
    assert post(sml, create_body(["0203:\u200bosynlig.se"]), caller).status_code == 200
    with db.reader() as session:
        assert list(session.scalars(select(SmlParticipant.value))) == ["0203:osynlig.se"]


def test_an_operation_sent_to_the_wrong_service_says_where_it_belongs(sml, caller):
    kind, message = fault(post(sml, create_body(["0203:x.se"]), caller, path="/sml/bdmslservice"))
    assert kind == "BadRequestFault" and "send it to /sml/manageparticipantidentifier" in message


def test_limits_answer_before_any_work(app, db, sml, caller, settings):
    huge = create_body(["0203:x.se"]) + b" " * (settings.sml_max_request_bytes + 1)
    response = post(sml, huge, caller)
    assert response.status_code == 413
    small = make_settings(settings.instance_dir, db.url, SDK_SML_LIST_MAX="3")
    with serving(create_app(small, database=db)) as base:
        kind, message = fault(post(base, create_body([f"0203:n{i}.se" for i in range(4)]), caller))
    assert kind == "BadRequestFault" and "at most 3 participants" in message
    assert stored(db) == 0


def test_other_paths_and_methods(sml, caller):
    assert requests.post(sml + "/sml/nothing", data=b"<x/>", timeout=10).status_code == 404
    assert requests.get(sml + PARTICIPANTS, timeout=10).status_code == 405


def test_with_sml_hosts_other_hosts_reach_no_sml(app, db, caller, settings):
    """Behind an ingress whose other routes could carry a forged certificate header, the SML answers only on
    its own host (the one behind mutual TLS)."""
    register(db, caller)
    own = make_settings(settings.instance_dir, db.url, SDK_SML_HOSTS="sml.example.se")
    with serving(create_app(own, database=db)) as base:
        elsewhere = post(base, create_body(["0203:fel-vard.se"]), caller)
        assert elsewhere.status_code == 404
        right = post(base, create_body(["0203:ratt-vard.se"]), caller, Host="SML.example.se:443")
        assert right.status_code == 200, right.text
    with db.reader() as session:
        assert list(session.scalars(select(SmlParticipant.value))) == ["0203:ratt-vard.se"]
