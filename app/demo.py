"""The demo federation of ``seed-demo``: one AP operator, three approved organisations, six functions.

Every item is found by its natural key before it is created, and everything goes through the use
cases (so it is validated and audited like any other change). Running it twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import SYSTEM_ACTOR
from app.identifiers import NO_PROCESS_ID, ParticipantId
from app.operations import access_points, code_systems, function_addresses, organisations, participants
from app.operations.function_addresses import FunctionAddressInput
from app.operations.organisations import OrganisationInput
from app.registry.errors import present
from app.registry.lifecycle import FederationStatus, Transition
from app.registry.models import (
    AccessPoint,
    AccessPointOperator,
    Code,
    CodeSystem,
    EndpointConfiguration,
    Organisation,
    ParticipantCertificate,
    ParticipantService,
)
from app.settings import Settings
from app.trust.devpki import DevelopmentPki

AP_OPERATOR_NAME = "Demo AP-operatör AB"
AP_OPERATOR_NUMBER = "5560009994"
AP_ID = "AP0001-DEMO"
ENDPOINT_NAME = "Demo AS4 endpoint"
CODE_SYSTEM_ID = "urn:sdk-addressbook:kodverk:funktionskategori"

CATEGORIES = {
    "registrator": "Registrator",
    "socialtjanst": "Socialtjänst",
    "halso-och-sjukvard": "Hälso- och sjukvård",
    "vardplanering": "Samordnad vårdplanering",
    "tillstand": "Tillstånd och ärenden",
    "ekonomi": "Ekonomi",
}


@dataclass(frozen=True)
class DemoFunction:
    identifier: str
    name: str
    description: str
    categories: tuple[str, ...]
    keywords: tuple[str, ...]
    sub_organisation: str | None = None


@dataclass(frozen=True)
class DemoOrganisation:
    participant: str
    organisation_number: str
    name: str
    alternate_name: str
    description: str
    functions: tuple[DemoFunction, ...] = field(default_factory=tuple)


ORGANISATIONS = (
    DemoOrganisation(
        "0203:exempelkommun.se",
        "2120009994",
        "Exempelkommun",
        "Exempel kommun",
        "Kommunen i demofederationen.",
        (
            DemoFunction(
                "sdk:registrator:0203:exempelkommun.se",
                "Registrator",
                "Tar emot och diarieför handlingar till kommunen.",
                ("registrator",),
                ("diarium", "allmän handling"),
            ),
            DemoFunction(
                "sdk:socialtjanst:0203:exempelkommun.se",
                "Socialtjänst, vård och omsorg",
                "Vårdplaner, hemtjänst och samordnad individuell plan.",
                ("socialtjanst", "vardplanering"),
                ("vårdplan", "hemtjänst", "SIP"),
                sub_organisation="Socialförvaltningen",
            ),
        ),
    ),
    DemoOrganisation(
        "0203:regionexempel.se",
        "2321009991",
        "Region Exempel",
        "Regionen",
        "Regionen i demofederationen: hälso- och sjukvård.",
        (
            DemoFunction(
                "sdk:registrator:0203:regionexempel.se",
                "Registrator",
                "Regionens registratur.",
                ("registrator",),
                ("diarium",),
            ),
            DemoFunction(
                "sdk:vardplanering:0203:regionexempel.se",
                "Samordnad vårdplanering",
                "In- och utskrivning från slutenvård, vårdplaner.",
                ("halso-och-sjukvard", "vardplanering"),
                ("utskrivning", "slutenvård", "vårdplan"),
            ),
        ),
    ),
    DemoOrganisation(
        "0203:exempelmyndigheten.se",
        "2021009994",
        "Exempelmyndigheten",
        "EXM",
        "Statlig myndighet i demofederationen.",
        (
            DemoFunction(
                "sdk:registrator:0203:exempelmyndigheten.se",
                "Registrator",
                "Myndighetens registratur.",
                ("registrator",),
                ("diarium", "allmän handling"),
            ),
            DemoFunction(
                "sdk:tillstand:0203:exempelmyndigheten.se",
                "Tillståndsärenden",
                "Ansökningar och kompletteringar i tillståndsärenden.",
                ("tillstand",),
                ("ansökan", "komplettering"),
            ),
        ),
    ),
)


def participants_of_demo() -> list[str]:
    return [org.participant for org in ORGANISATIONS]


def seed(session: Session, settings: Settings, pki: DevelopmentPki) -> bool:
    """Create whatever part of the demo federation is missing; return whether anything was created."""
    created = False
    codes, new = _code_system(session)
    created |= new
    operator, new = _ap_operator(session)
    created |= new
    configuration, new = _endpoint(session, settings, pki, operator)
    created |= new
    for demo in ORGANISATIONS:
        created |= _organisation(session, settings, pki, operator, configuration, codes, demo)
    return created


def _code_system(session: Session) -> tuple[dict[str, Code], bool]:
    system = session.scalar(select(CodeSystem).where(CodeSystem.identifier == CODE_SYSTEM_ID))
    created = system is None
    if system is None:
        system = code_systems.create_code_system(
            session,
            SYSTEM_ACTOR,
            identifier=CODE_SYSTEM_ID,
            name="Funktionskategorier",
            description="Kategorier för funktionsadresser i demofederationen.",
            version="1",
        )
    existing = {code.code: code for code in system.codes}
    for code, display_name in CATEGORIES.items():
        if code not in existing:
            existing[code] = code_systems.add_code(
                session, SYSTEM_ACTOR, system.id, code=code, display_name=display_name
            )
            created = True
    return existing, created


def _ap_operator(session: Session) -> tuple[AccessPointOperator, bool]:
    operator = session.scalar(select(AccessPointOperator).where(AccessPointOperator.name == AP_OPERATOR_NAME))
    if operator is not None:
        return operator, False
    operator = access_points.create_ap_operator(
        session,
        SYSTEM_ACTOR,
        name=AP_OPERATOR_NAME,
        organisation_number=AP_OPERATOR_NUMBER,
        contact_email="support@ap-demo.sdk-addressbook.test",
    )
    return operator, True


def _endpoint(
    session: Session, settings: Settings, pki: DevelopmentPki, operator: AccessPointOperator
) -> tuple[EndpointConfiguration, bool]:
    created = False
    access_point = session.scalar(select(AccessPoint).where(AccessPoint.ap_id == AP_ID))
    if access_point is None:
        certificate = pki.access_point(AP_ID).certificate.read_text()
        access_point = access_points.create_access_point(
            session, SYSTEM_ACTOR, ap_operator_id=operator.id, certificate=certificate
        )
        created = True
    configuration = session.scalar(
        select(EndpointConfiguration).where(
            EndpointConfiguration.access_point_id == access_point.id, EndpointConfiguration.name == ENDPOINT_NAME
        )
    )
    if configuration is None:
        configuration = access_points.create_endpoint_configuration(
            session,
            SYSTEM_ACTOR,
            access_points.EndpointConfigurationInput(
                access_point=access_point.id,
                name=ENDPOINT_NAME,
                transport_profile=settings.transport_profiles[0],
                endpoint_url="https://ap0001.demo.sdk-addressbook.test/as4",
                technical_contact_url="https://ap-demo.sdk-addressbook.test/kontakt",
                description="Demo access point of the demo federation (not reachable).",
            ),
            transport_profiles=settings.transport_profiles,
        )
        created = True
    return configuration, created


def _organisation(
    session: Session,
    settings: Settings,
    pki: DevelopmentPki,
    operator: AccessPointOperator,
    configuration: EndpointConfiguration,
    codes: dict[str, Code],
    demo: DemoOrganisation,
) -> bool:
    created = False
    policy = settings.identifier_policy
    participant = ParticipantId.parse(demo.participant, policy)
    organisation = organisations.find_by_participant(session, participant)
    if organisation is None:
        organisation = organisations.create_organisation(
            session,
            SYSTEM_ACTOR,
            OrganisationInput(
                type="o",
                participant_identifier=str(participant),
                organisation_number=demo.organisation_number,
                name=demo.name,
                alternate_name=demo.alternate_name,
                description=demo.description,
                ap_operator=operator.id,
            ),
            policy,
        )
        created = True
    created |= _services(session, settings, organisation, configuration)
    created |= _certificates(session, pki, organisation, demo)
    if organisation.federation_status == FederationStatus.PENDING:
        organisations.change_status(session, SYSTEM_ACTOR, organisation.id, Transition.APPROVE)
        created = True
    for function in demo.functions:
        created |= _function(session, organisation, codes, function)
    return created


def _services(
    session: Session, settings: Settings, organisation: Organisation, configuration: EndpointConfiguration
) -> bool:
    created = False
    existing = {
        service.document_identifier
        for service in session.scalars(
            select(ParticipantService).where(ParticipantService.organisation_id == organisation.id)
        )
    }
    for document_type in settings.document_types:
        if document_type not in existing:
            participants.add_service(
                session,
                SYSTEM_ACTOR,
                organisation.id,
                document_type=document_type,
                process=str(NO_PROCESS_ID),
                endpoint_configuration_id=configuration.id,
                allowed_document_types=settings.document_types,
                policy=settings.identifier_policy,
            )
            created = True
    return created


def _certificates(session: Session, pki: DevelopmentPki, organisation: Organisation, demo: DemoOrganisation) -> bool:
    created = False
    for usage in ("signing", "encryption"):
        has_one = session.scalar(
            select(ParticipantCertificate.id).where(
                ParticipantCertificate.organisation_id == organisation.id, ParticipantCertificate.usage == usage
            )
        )
        if has_one is None:
            certificate = pki.participant(demo.participant, usage).certificate.read_text()
            participants.add_certificate(session, SYSTEM_ACTOR, organisation.id, usage=usage, certificate=certificate)
            created = True
    return created


def _function(session: Session, organisation: Organisation, codes: dict[str, Code], function: DemoFunction) -> bool:
    if function_addresses.find_by_identifier(session, function.identifier) is not None:
        return False
    owner: Organisation | None = organisation
    if function.sub_organisation:
        owner = session.scalar(
            select(Organisation).where(
                Organisation.parent_id == organisation.id, Organisation.name == function.sub_organisation
            )
        )
        if owner is None:
            owner = organisations.create_organisation(
                session,
                SYSTEM_ACTOR,
                OrganisationInput(
                    type="ou",
                    name=function.sub_organisation,
                    description=f"Förvaltning inom {organisation.name}.",
                    parent=organisation.id,
                ),
            )
    function_addresses.create_function_address(
        session,
        SYSTEM_ACTOR,
        present(owner).id,
        FunctionAddressInput(
            identifier=function.identifier,
            name=function.name,
            description=function.description,
            categories=[codes[c].id for c in function.categories],
            keywords=function.keywords,
        ),
    )
    return True
