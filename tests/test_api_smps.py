"""``/api/v1/smps``: the operator's REST twin of the SML's SOAP interface and of ``sdk-addressbook sml``."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.registry.models import AuditEvent, DnsRecord, SmlParticipant
from tests.sml_support import SmlClients, identifier, serving, smp_identities

KOMMUN = "iso6523-actorid-upis::0203:exempelkommun.se"


@pytest.fixture(scope="session")
def identities(pki_instance_dir, tmp_path_factory):
    return smp_identities(pki_instance_dir / "pki", tmp_path_factory.mktemp("smp-api"), "SMP-R", "SMP-R2")


def add(api, identity, address="https://smp-r.example.se/smp"):
    body = {
        "smpId": identity.name,
        "logicalAddress": address,
        "physicalAddress": "192.0.2.20",
        "certificate": identity.pem,
    }
    return api("POST", "/api/v1/smps", json=body)


def test_the_operator_registers_lists_changes_and_removes_smps(api, identities):
    created = add(api, identities["SMP-R"])
    assert created.status_code == 201, created.get_json()
    smp = created.get_json()
    assert (smp["smpId"], smp["local"], smp["participants"]) == ("SMP-R", False, 0)
    assert created.headers["ETag"] == '"1"' and "BEGIN CERTIFICATE" in smp["certificatePem"]
    listed = api("GET", "/api/v1/smps").get_json()
    assert [(s["smpId"], s["local"], s["participants"]) for s in listed] == [
        ("sdk-addressbook", True, 3),  # the demo federation's approved participants are the local SMP's
        ("SMP-R", False, 0),
    ]
    again = add(api, identities["SMP-R2"])  # another certificate, another id: fine
    assert again.status_code == 201
    clash = api(
        "POST",
        "/api/v1/smps",
        json={
            "smpId": "smp-r",
            "logicalAddress": "https://x.se",
            "physicalAddress": "192.0.2.1",
            "certificate": identities["SMP-R"].pem,
        },
    )
    assert clash.status_code == 409 and clash.get_json()["errors"][0]["field"] == "smpId"
    path = f"/api/v1/smps/{smp['id']}"
    assert api("PATCH", path, json={"logicalAddress": "https://ny.example.se"}).status_code == 428
    changed = api("PATCH", path, json={"logicalAddress": "https://ny.example.se"}, headers={"If-Match": '"1"'})
    assert changed.status_code == 200 and changed.get_json()["logicalAddress"] == "https://ny.example.se"
    assert api("PATCH", path, json={"logicalAddress": "https://x.se"}, headers={"If-Match": '"1"'}).status_code == 412
    bad = api("PATCH", path, json={"physicalAddress": "nowhere"}, headers={"If-Match": "*"})
    assert bad.status_code == 422 and bad.get_json()["errors"] == [
        {"field": "physicalAddress", "reason": "must be an IPv4 or IPv6 address"}
    ]
    local = listed[0]["id"]
    refused = api("DELETE", f"/api/v1/smps/{local}", headers={"If-Match": "*"})
    assert refused.status_code == 422 and "own SMP cannot be removed" in refused.get_json()["detail"]
    assert api("DELETE", path, headers={"If-Match": "*"}).status_code == 204
    assert api("GET", path).status_code == 404


@pytest.mark.parametrize("who", ["ap", "kommun"])
def test_only_the_operator_sees_the_sml(api, identities, who):
    assert api("GET", "/api/v1/smps", who).status_code == 403
    assert add(api, identities["SMP-R"]).status_code == 201
    assert api("POST", "/api/v1/smps", who, json={}).status_code in (403, 422)


def test_participants_and_migrations_of_the_local_smp(api, app, db, identities):
    smps = {s["smpId"]: s for s in api("GET", "/api/v1/smps").get_json()}
    local = smps["sdk-addressbook"]["id"]
    page = api("GET", f"/api/v1/smps/{local}/participants?limit=2").get_json()
    assert [p["participantIdentifier"] for p in page["items"]] == [
        "iso6523-actorid-upis::0203:exempelkommun.se",
        "iso6523-actorid-upis::0203:exempelmyndigheten.se",
    ]
    rest = api("GET", f"/api/v1/smps/{local}/participants?limit=2&after={page['next']}").get_json()
    assert [p["participantIdentifier"] for p in rest["items"]] == ["iso6523-actorid-upis::0203:regionexempel.se"]
    assert rest["next"] is None
    # The kommun moves to an external SMP: the operator prepares it, the SMP takes it over on SOAP.
    remote = add(api, identities["SMP-R"]).get_json()
    prepared = api("POST", f"/api/v1/smps/{local}/migrations", json={"participantIdentifier": KOMMUN})
    assert prepared.status_code == 201
    key = prepared.get_json()["migrationKey"]
    assert len(key) == 24
    listed = api("GET", f"/api/v1/smps/{local}/migrations").get_json()
    assert [m["participantIdentifier"] for m in listed] == [KOMMUN] and "migrationKey" not in listed[0]
    with serving(app) as base:
        clients = SmlClients(base, identities["SMP-R"].header)
        clients.participants.Migrate(
            ServiceMetadataPublisherID="SMP-R",
            ParticipantIdentifier=identifier("0203:exempelkommun.se"),
            MigrationKey=key,
        )
    with db.reader() as session:
        rdata = session.scalar(
            select(DnsRecord.rdata)
            .join(SmlParticipant, SmlParticipant.id == DnsRecord.participant_id)
            .where(SmlParticipant.value == "0203:exempelkommun.se")
        )
    assert rdata.endswith('"!^.*$!https://smp-r.example.se/smp!" .')
    # Re-publishing the kommun here does not take it back: its registration is SMP-R's until migrated.
    organisation = api("GET", f"/api/v1/organisations?participantIdentifier={KOMMUN}").get_json()["items"][0]
    renamed = api(
        "PATCH",
        f"/api/v1/organisations/{organisation['id']}",
        json={"name": "Exempelkommun (ny)"},
        headers={"If-Match": "*"},
    )
    assert renamed.status_code == 200
    remote_participants = api("GET", f"/api/v1/smps/{remote['id']}/participants").get_json()["items"]
    assert [p["participantIdentifier"] for p in remote_participants] == [KOMMUN]
    # And back: SMP-R prepares, the operator takes it over for this service's SMP with the key.
    with serving(app) as base:
        SmlClients(base, identities["SMP-R"].header).participants.PrepareToMigrate(
            ServiceMetadataPublisherID="SMP-R",
            ParticipantIdentifier=identifier("0203:exempelkommun.se"),
            MigrationKey="Ab1@cd2#Ef3$",
        )
    wrong = api(
        "POST",
        f"/api/v1/smps/{local}/participants/take-over",
        json={"participantIdentifier": KOMMUN, "migrationKey": "Xy9@zz8#Qq7$"},
    )
    assert wrong.status_code == 404
    taken = api(
        "POST",
        f"/api/v1/smps/{local}/participants/take-over",
        json={"participantIdentifier": KOMMUN, "migrationKey": "Ab1@cd2#Ef3$"},
    )
    assert taken.status_code == 200 and taken.get_json() == {"participantIdentifier": KOMMUN, "smp": "sdk-addressbook"}
    with db.reader() as session:
        actions = list(
            session.scalars(
                select(AuditEvent.action).where(AuditEvent.entity_type == "sml_migration").order_by(AuditEvent.id)
            )
        )
    assert actions == [
        "sml_migration:prepare",
        "sml_migration:complete",
        "sml_migration:prepare",
        "sml_migration:refuse",
        "sml_migration:complete",
    ]


def test_a_migration_is_withdrawn_with_if_match(api):
    local = api("GET", "/api/v1/smps").get_json()[0]["id"]
    prepared = api(
        "POST",
        f"/api/v1/smps/{local}/migrations",
        json={"participantIdentifier": KOMMUN, "migrationKey": "Ab1@cd2#Ef3$"},
    )
    assert prepared.get_json()["migrationKey"] == "Ab1@cd2#Ef3$"
    path = prepared.headers["Location"]
    assert api("GET", path).status_code == 200
    assert api("DELETE", path).status_code == 428
    assert api("DELETE", path, headers={"If-Match": '"1"'}).status_code == 204
    assert api("GET", f"/api/v1/smps/{local}/migrations").get_json() == []
    bad = api(
        "POST", f"/api/v1/smps/{local}/migrations", json={"participantIdentifier": KOMMUN, "migrationKey": "weak"}
    )
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "MigrationKey"


def test_a_taken_over_participant_must_be_ready_here(api, app, identities):
    """DNS never leads to this service's SMP before the participant's documents are published here."""
    remote = add(api, identities["SMP-R"]).get_json()
    with serving(app) as base:
        clients = SmlClients(base, identities["SMP-R"].header)
        clients.participants.Create(
            ServiceMetadataPublisherID="SMP-R", ParticipantIdentifier=identifier("0203:annan.se")
        )
        clients.participants.PrepareToMigrate(
            ServiceMetadataPublisherID="SMP-R",
            ParticipantIdentifier=identifier("0203:annan.se"),
            MigrationKey="Ab1@cd2#Ef3$",
        )
    local = api("GET", "/api/v1/smps").get_json()[0]["id"]
    refused = api(
        "POST",
        f"/api/v1/smps/{local}/participants/take-over",
        json={"participantIdentifier": "iso6523-actorid-upis::0203:annan.se", "migrationKey": "Ab1@cd2#Ef3$"},
    )
    assert refused.status_code == 409 and "no published SMP documents here" in refused.get_json()["detail"]
    assert [
        p["participantIdentifier"] for p in api("GET", f"/api/v1/smps/{remote['id']}/participants").get_json()["items"]
    ] == ["iso6523-actorid-upis::0203:annan.se"]
