"""The SML's SOAP face at ``/sml/``: ManageServiceMetadata, ManageParticipantIdentifier and BDMSLService.

``POST /sml/manageservicemetadata``, ``/sml/manageparticipantidentifier`` and ``/sml/bdmslservice`` (the
paths BDMSL serves them on), SOAP 1.1 document/literal; the operation is the element in the body (the
SOAPAction header is not needed: the WSDL's own carries nine blanks). Callers are SMPs, authenticated by
their client certificate: mutual TLS ends at the proxy in front, which passes the verified certificate in
``SDK_SML_CLIENT_CERT_HEADER``; the header is believed only from ``SDK_SML_TRUSTED_PROXIES`` (the peer
address of the connection, never X-Forwarded-For), and, with ``SDK_SML_HOSTS``, only on those hosts (the
SML's own, behind the mutual-TLS ingress). The certificate must still chain to a trusted SMP CA
here, and it names the SMP; an SMP acts only on itself and its own participants.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from flask import Blueprint, Flask, Response, g, request
from lxml import etree
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from app.audit import Actor
from app.auth import rules
from app.extensions import current_database, current_settings
from app.identifiers import fold
from app.operations import sml_migrations, sml_participants, smps
from app.operations.trust_anchors import anchors
from app.registry.errors import Conflict, NotFound, RegistryError, ValidationFailed
from app.registry.models import SMP_SERVICE, Smp
from app.settings import Settings
from app.sml import messages
from app.sml.soap import BDMSL, LOCATOR, SoapFault, bad_request, envelope, fault_envelope, read_body
from app.trust.certificates import CertificateError, certificate_from_header, describe
from app.trust.validation import validate

logger = logging.getLogger("sdk_addressbook.sml")
blp = Blueprint("sml", __name__, url_prefix="/sml")
XML = "text/xml; charset=utf-8"


@dataclass(frozen=True)
class Call:
    """One SOAP request: its operation element and who sent it."""

    payload: etree._Element
    settings: Settings
    certificate: x509.Certificate | None
    certificate_problem: str | None
    request_id: str | None


Handler = Callable[[Call], "etree._Element | None"]


def _requested_host() -> str:
    """The Host the client asked for, as it reached the service (ProxyFix may have replaced it)."""
    original = request.environ.get("werkzeug.proxy_fix.orig", {})
    host = str(original.get("HTTP_HOST") or request.environ.get("HTTP_HOST") or "")
    if host.startswith("["):  # [IPv6]:port
        return host[1:].split("]", 1)[0].lower()
    return host.split(":", 1)[0].lower()


def _peer_address() -> str:
    """The address of the connection itself: ProxyFix (``SDK_PROXY_HOPS``) may have replaced REMOTE_ADDR."""
    original = request.environ.get("werkzeug.proxy_fix.orig", {})
    return str(original.get("REMOTE_ADDR") or request.environ.get("REMOTE_ADDR") or "")


def _client_certificate(settings: Settings) -> tuple[x509.Certificate | None, str | None]:
    header = request.headers.get(settings.sml_client_cert_header)
    if not header:
        header_name = settings.sml_client_cert_header
        return None, f"no client certificate: connect with mutual TLS (the proxy passes it in {header_name})"
    try:
        peer = ipaddress.ip_address(_peer_address().split("%")[0])
    except ValueError:
        peer = None
    if peer is None or not any(peer in network for network in settings.sml_trusted_proxies):
        return None, (
            f"a {settings.sml_client_cert_header} header is believed only from the proxies in SDK_SML_TRUSTED_PROXIES"
        )
    try:
        return certificate_from_header(header), None
    except CertificateError as error:
        return None, f"the client certificate in {settings.sml_client_cert_header} cannot be read: {error}"


def _unauthorized(message: str) -> SoapFault:
    return SoapFault("UnauthorizedFault", f"[ERR-101] {message}")


def _trusted_certificate(session: Session, call: Call) -> x509.Certificate:
    if call.certificate is None:
        raise _unauthorized(call.certificate_problem or "no client certificate")
    try:
        validate(call.certificate, "smp", anchors(session))
    except CertificateError as error:
        raise _unauthorized(f"the client certificate is not accepted: {error}") from None
    return call.certificate


def _caller(session: Session, call: Call, smp_id: str) -> tuple[Smp, Actor]:
    """The SMP the certificate names, which must be the SMP the request names (``smp_id``)."""
    certificate = _trusted_certificate(session, call)
    facts = describe(certificate)
    smp = smps.smp_of_certificate(session, facts.sha256)
    if smp is not None and smp.next_certificate_sha256 == facts.sha256:
        smps.promote_next_certificate(session, smp)
    named = smps.find_smp(session, smp_id) if smp_id else None
    if smp is None:
        if named is None:
            raise SoapFault("NotFoundFault", f"[ERR-100] The SMP '{smp_id}' doesn't exist")
        raise _unauthorized(f"no SMP is registered with this certificate ({facts.subject})")
    if fold(smp_id) != smp.smp_id_folded:
        if named is None:
            raise SoapFault("NotFoundFault", f"[ERR-100] The SMP '{smp_id}' doesn't exist")
        raise _unauthorized(f"the certificate is the one of SMP '{smp.smp_id}', not of '{smp_id}'")
    return smp, Actor(name=f"smp:{smp.smp_id}", role=rules.SMP, scope_id=smp.id, request_id=call.request_id)


@contextmanager
def _writing() -> Iterator[Session]:
    with current_database().writer() as session:
        yield session


# -- ManageServiceMetadata -------------------------------------------------------------------------


def create_smp(call: Call) -> None:
    fields = messages.smp_fields(call.payload, endpoint=True)
    with _writing() as session:
        certificate = _trusted_certificate(session, call)
        sha256 = describe(certificate).sha256
        bound = smps.smp_of_certificate(session, sha256)
        if bound is not None:
            raise bad_request(f"The SMP '{bound.smp_id}' already exists")
        if not call.settings.sml_smp_self_registration:
            raise _unauthorized(
                "SMPs are registered by the federation operator here (sdk-addressbook sml smp add); "
                f"ask them to register SMP '{fields.smp_id}' with this certificate"
            )
        actor = Actor(name=f"smp:{fields.smp_id}", role=rules.SMP, request_id=call.request_id)
        smps.register_smp(
            session,
            actor,
            smp_id=fields.smp_id,
            logical_address=fields.logical_address,
            physical_address=fields.physical_address,
            certificate=certificate.public_bytes(Encoding.PEM).decode("ascii"),
        )


def read_smp(call: Call) -> etree._Element:
    fields = messages.smp_fields(call.payload, endpoint=False)
    with _writing() as session:
        smp, _actor = _caller(session, call, fields.smp_id)
        return messages.smp_answer(smp.smp_id, smp.logical_address, smp.physical_address)


def update_smp(call: Call) -> None:
    fields = messages.smp_fields(call.payload, endpoint=True)
    with _writing() as session:
        smp, actor = _caller(session, call, fields.smp_id)
        smps.change_smp(
            session,
            actor,
            smp,
            {"logicalAddress": fields.logical_address, "physicalAddress": fields.physical_address},
        )


def delete_smp(call: Call) -> None:
    smp_id = messages.smp_id_only(call.payload)
    with _writing() as session:
        smp, actor = _caller(session, call, smp_id)
        smps.delete_smp(session, actor, smp)


# -- ManageParticipantIdentifier -------------------------------------------------------------------


def create_participant(call: Call) -> None:
    smp_id, requested = messages.one_participant(call.payload)
    with _writing() as session:
        smp, actor = _caller(session, call, smp_id)
        sml_participants.create(session, actor, smp, [requested])


def delete_participant(call: Call) -> None:
    smp_id, requested = messages.one_participant(call.payload)
    with _writing() as session:
        smp, actor = _caller(session, call, smp_id)
        sml_participants.delete(session, actor, smp, [requested])


def _list_smp_id(smp_id: str | None) -> str:
    if not smp_id:
        raise bad_request("ServiceMetadataPublisherID is missing: a list belongs to one SMP")
    return smp_id


def create_list(call: Call) -> None:
    smp_id, requested = messages.participant_list(call.payload, call.settings.sml_list_max)
    with _writing() as session:
        smp, actor = _caller(session, call, _list_smp_id(smp_id))
        sml_participants.create(session, actor, smp, requested)


def delete_list(call: Call) -> None:
    smp_id, requested = messages.participant_list(call.payload, call.settings.sml_list_max)
    with _writing() as session:
        smp, actor = _caller(session, call, _list_smp_id(smp_id))
        sml_participants.delete(session, actor, smp, requested)


def list_participants(call: Call) -> etree._Element:
    smp_id, after = messages.page_request(call.payload)
    with _writing() as session:
        smp, _actor = _caller(session, call, smp_id)
        found = sml_participants.page(session, smp, after=after, size=messages.PAGE_SIZE + 1)
    more = len(found) > messages.PAGE_SIZE
    return messages.page_answer(smp.smp_id, found[: messages.PAGE_SIZE], more)


def prepare_migration(call: Call) -> None:
    smp_id, requested, key = messages.migration_record(call.payload)
    with _writing() as session:
        smp, actor = _caller(session, call, smp_id)
        sml_migrations.prepare(session, actor, smp, requested, key)


def migrate(call: Call) -> None:
    smp_id, requested, key = messages.migration_record(call.payload)
    with _writing() as session:
        smp, actor = _caller(session, call, smp_id)
        moved = sml_migrations.complete(session, actor, smp, requested, key)
    if not moved:  # the refused attempt is committed (counted, audited) before the fault goes out
        raise SoapFault("NotFoundFault", f"[ERR-100] The migration key is not valid for participant {requested}")


# -- BDMSLService ----------------------------------------------------------------------------------


def create_with_service(call: Call) -> None:
    smp_id, requested, service = messages.advanced_create(call.payload)
    with _writing() as session:
        smp, actor = _caller(session, call, smp_id)
        sml_participants.create(session, actor, smp, [requested], service=service or SMP_SERVICE)


def exists(call: Call) -> etree._Element:
    smp_id, requested = messages.exists_request(call.payload)
    with _writing() as session:
        smp, _actor = _caller(session, call, smp_id)
        found = sml_participants.exists(session, smp, requested)
    return messages.exists_answer(smp.smp_id, requested, found)


def prepare_certificate_change(call: Call) -> None:
    certificate, effective = messages.certificate_change(call.payload)
    with _writing() as session:
        caller_certificate = _trusted_certificate(session, call)
        smp = smps.smp_of_certificate(session, describe(caller_certificate).sha256)
        if smp is None:
            raise _unauthorized("no SMP is registered with this certificate")
        actor = Actor(name=f"smp:{smp.smp_id}", role=rules.SMP, scope_id=smp.id, request_id=call.request_id)
        smps.prepare_certificate_change(session, actor, smp, certificate, effective)


def is_alive(call: Call) -> None:
    with current_database().reader() as session:
        session.execute(text("SELECT 1"))


def _q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


SERVICES: dict[str, dict[str, Handler]] = {
    "manageservicemetadata": {
        _q(LOCATOR, "CreateServiceMetadataPublisherService"): create_smp,
        _q(LOCATOR, "ReadServiceMetadataPublisherService"): read_smp,
        _q(LOCATOR, "UpdateServiceMetadataPublisherService"): update_smp,
        _q(LOCATOR, "ServiceMetadataPublisherID"): delete_smp,
    },
    "manageparticipantidentifier": {
        _q(LOCATOR, "CreateParticipantIdentifier"): create_participant,
        _q(LOCATOR, "DeleteParticipantIdentifier"): delete_participant,
        _q(LOCATOR, "CreateList"): create_list,
        _q(LOCATOR, "DeleteList"): delete_list,
        _q(LOCATOR, "PageRequest"): list_participants,
        _q(LOCATOR, "PrepareMigrationRecord"): prepare_migration,
        _q(LOCATOR, "CompleteMigrationRecord"): migrate,
    },
    "bdmslservice": {
        _q(BDMSL, "PrepareChangeCertificate"): prepare_certificate_change,
        _q(BDMSL, "SMPAdvancedServiceForParticipantService"): create_with_service,
        _q(BDMSL, "IsAlive"): is_alive,
        _q(BDMSL, "ExistsParticipantIdentifier"): exists,
    },
}


def _fault_of(error: Exception) -> SoapFault:
    """A domain refusal as the SOAP fault the WSDL names for it."""
    if isinstance(error, SoapFault):
        return error
    if isinstance(error, rules.Forbidden):
        return _unauthorized(str(error))
    if isinstance(error, NotFound):
        message = str(error)
        return SoapFault("NotFoundFault", message if message.startswith("[ERR-") else f"[ERR-100] {message}")
    if isinstance(error, ValidationFailed | Conflict | RegistryError):
        return bad_request(str(error))
    raise error


def answer(service: str) -> Response:
    settings = current_settings()
    handlers = SERVICES.get(service)
    if handlers is None or (settings.sml_hosts and _requested_host() not in settings.sml_hosts):
        return Response(b"no such SML service here\n", status=404, content_type="text/plain; charset=utf-8")
    try:
        payload = read_body(request.get_data(cache=False))
        handler = handlers.get(payload.tag)
        if handler is None:
            other = next((name for name, table in SERVICES.items() if payload.tag in table), None)
            where = f"; send it to /sml/{other}" if other else ""
            raise bad_request(f"{etree.QName(payload).localname} is not an operation of {service}{where}")
        certificate, problem = _client_certificate(settings)
        call = Call(payload, settings, certificate, problem, g.get("request_id"))
        try:
            result = handler(call)
        except (RegistryError, rules.Forbidden) as error:
            raise _fault_of(error) from None
        except IntegrityError:
            raise bad_request(
                "a participant of the request was registered at the same moment by another call; it already exist"
            ) from None
        return Response(envelope(result), status=200, content_type=XML)
    except SoapFault as refusal:
        logger.info("SML %s refused: %s", service, refusal.message, extra={"fields": {"fault": refusal.kind}})
        return _fault_response(refusal)
    except SQLAlchemyError:
        logger.exception("SML %s: the registry is not reachable", service)
        return _fault_response(
            SoapFault("InternalErrorFault", "[ERR-105] the registry is not reachable now; try again shortly")
        )
    except Exception:
        logger.exception("SML %s failed", service)
        request_id = g.get("request_id")
        return _fault_response(
            SoapFault("InternalErrorFault", f"[ERR-105] something went wrong on our side (request id {request_id})")
        )


def _fault_response(fault: SoapFault) -> Response:
    return Response(fault_envelope(fault), status=500, content_type=XML)


blp.add_url_rule("/<service>", "soap", answer, methods=["POST"])


def init_app(app: Flask) -> None:
    app.register_blueprint(blp)
