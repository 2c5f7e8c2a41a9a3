"""Use cases of the SMP registry: the SMPs the SML serves, who they are (client certificate) and where.

The federation operator registers an SMP (API, CLI); with ``SDK_SML_SMP_SELF_REGISTRATION`` an SMP whose
certificate the federation trusts may register itself (ManageServiceMetadata Create). An SMP changes
its addresses (all its participants' records follow) and announces its next certificate
(PrepareChangeCertificate); removing an SMP removes every participant it registered, as BDMSL does.
"""

from __future__ import annotations

import ipaddress
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app import audit
from app.audit import Action, Actor
from app.auth import rules
from app.database import settings_of
from app.dns.records import MAX_NAPTR_ADDRESS, publisher_name
from app.identifiers import fold, validate_smp_id
from app.operations.checks import Checker, get_for_update, get_or_not_found, reject_unknown
from app.operations.trust_anchors import acceptable, anchors
from app.registry.columns import utcnow
from app.registry.errors import Conflict, FieldError, NotFound, ValidationFailed, present
from app.registry.models import SmlParticipant, Smp
from app.sml import registrations
from app.trust.certificates import CertificateError, CertificateFacts, describe, load_certificate
from app.trust.validation import validate

ENTITY = "smp"
_NAPTR_UNSAFE = '!"\\'


def check_logical_address(check: Checker, value: Any, field: str = "logicalAddress") -> str | None:
    """An SMP's base URL, as a NAPTR record carries it: absolute http(s), nothing that breaks the regexp."""
    url = check.text(field, value, maximum=MAX_NAPTR_ADDRESS, required=True)
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        check.fail(field, "must be an absolute http or https URL, such as https://smp.example.se")
        return None
    if parts.query or parts.fragment or any(c in url for c in _NAPTR_UNSAFE) or any(c.isspace() for c in url):
        check.fail(
            field, "must not hold a query, a fragment, '!', '\"', '\\\\' or white space (a NAPTR record carries it)"
        )
        return None
    return url.rstrip("/")


def check_physical_address(check: Checker, value: Any, field: str = "physicalAddress") -> str | None:
    text = check.text(field, value, maximum=45, required=True)
    if not text:
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        check.fail(field, "must be an IPv4 or IPv6 address")
        return None


def check_certificate(
    session: Session, check: Checker, value: Any, field: str = "certificate"
) -> CertificateFacts | None:
    """An SMP client certificate: issued by a trusted SMP CA (``SDK_TRUST_SMP_CA`` or an ``smp`` trust anchor)."""
    if not isinstance(value, str) or not value.strip():
        check.fail_declared(field, "is required")
        return None
    try:
        return describe(acceptable(session, value, "smp"))
    except CertificateError as error:
        check.fail(field, str(error))
        return None


def _unique(session: Session, smp_id: str | None, facts: CertificateFacts | None, *, besides: uuid.UUID | None) -> None:
    if smp_id is not None:
        other = session.scalar(select(Smp).where(Smp.smp_id_folded == fold(smp_id), Smp.id != besides))
        if other is not None:
            raise Conflict(f"[ERR-106] The SMP '{smp_id}' already exists", field="smpId")
    if facts is not None:
        other = session.scalar(
            select(Smp).where(
                or_(Smp.certificate_sha256 == facts.sha256, Smp.next_certificate_sha256 == facts.sha256),
                Smp.id != besides,
            )
        )
        if other is not None:
            raise Conflict(f"this certificate is already the one of SMP '{other.smp_id}'", field="certificate")


def register_smp(
    session: Session,
    actor: Actor,
    *,
    smp_id: Any,
    logical_address: Any,
    physical_address: Any,
    certificate: Any,
) -> Smp:
    """Register an external SMP (the operator, or an SMP registering itself where that is allowed)."""
    if actor.role not in (rules.OPERATOR, rules.SYSTEM, rules.SMP):
        raise rules.Forbidden("only the federation operator registers SMPs")
    settings = settings_of(session)
    check = Checker()
    smp_id = check.identifier("smpId", smp_id, validate_smp_id)
    address = check_logical_address(check, logical_address)
    physical = check_physical_address(check, physical_address)
    facts = check_certificate(session, check, certificate)
    if smp_id is not None and len(publisher_name(smp_id, settings.sml_zone)) > 253:
        check.fail("smpId", f"is too long for the name {publisher_name(smp_id, settings.sml_zone)} in DNS")
    check.done()
    registrations.local_smp(session, settings)  # the local SMP's id is taken: it must exist to be found
    _unique(session, smp_id, facts, besides=None)
    smp = Smp(
        id=uuid.uuid4(),
        smp_id=present(smp_id),
        smp_id_folded=fold(present(smp_id)),
        local=False,
        logical_address=present(address),
        physical_address=present(physical),
    )
    smp.take_certificate(present(facts))
    session.add(smp)
    session.flush()
    registrations.refresh_smp(session, smp)
    audit.record(session, actor, Action.SMP_CREATE, ENTITY, smp.id, after=audit.snapshot(smp))
    return smp


UPDATABLE = ("logicalAddress", "physicalAddress", "certificate")


def update_smp(
    session: Session,
    actor: Actor,
    smp_row_id: uuid.UUID | str,
    changes: dict[str, Any],
    *,
    expected_version: int | None = None,
) -> Smp:
    """New addresses (every participant's records follow) or, by the operator, a new client certificate."""
    smp = get_for_update(session, Smp, smp_row_id, "SMP", expected_version)
    return change_smp(session, actor, smp, changes)


def change_smp(session: Session, actor: Actor, smp: Smp, changes: dict[str, Any]) -> Smp:
    reject_unknown(changes, UPDATABLE)
    if smp.local:
        raise ValidationFailed(
            FieldError(
                "smpId",
                "this service's own SMP takes its id and address from the settings (SDK_SML_SMP_ID, SDK_PUBLIC_URL)",
            )
        )
    rules.require_sml_write(actor, smp.id, f"SMP '{smp.smp_id}'")
    if "certificate" in changes and actor.role not in (rules.OPERATOR, rules.SYSTEM):
        raise rules.Forbidden("an SMP announces its next certificate with PrepareChangeCertificate")
    check = Checker()
    address = check_logical_address(check, changes["logicalAddress"]) if "logicalAddress" in changes else None
    physical = check_physical_address(check, changes["physicalAddress"]) if "physicalAddress" in changes else None
    facts = check_certificate(session, check, changes["certificate"]) if "certificate" in changes else None
    check.done()
    _unique(session, None, facts, besides=smp.id)
    before = audit.snapshot(smp)
    moved = address is not None and address != smp.logical_address
    if address is not None:
        smp.logical_address = address
    if physical is not None:
        smp.physical_address = physical
    if facts is not None:
        smp.take_certificate(facts)
    session.flush()
    if moved:
        registrations.refresh_smp(session, smp)
    audit.record(session, actor, Action.SMP_UPDATE, ENTITY, smp.id, before=before, after=audit.snapshot(smp))
    return smp


def remove_smp(
    session: Session, actor: Actor, smp_row_id: uuid.UUID | str, *, expected_version: int | None = None
) -> int:
    """An external SMP and every participant it registered (their records leave the zone); how many."""
    smp = get_for_update(session, Smp, smp_row_id, "SMP", expected_version)
    return delete_smp(session, actor, smp)


def delete_smp(session: Session, actor: Actor, smp: Smp) -> int:
    if smp.local:
        raise ValidationFailed(FieldError("smpId", "this service's own SMP cannot be removed"))
    rules.require_sml_write(actor, smp.id, f"SMP '{smp.smp_id}'")
    before = audit.snapshot(smp)
    smp_row_id = smp.id
    removed = registrations.remove_smp(session, smp)
    audit.record(
        session, actor, Action.SMP_DELETE, ENTITY, smp_row_id, before=before, after={"participantsRemoved": removed}
    )
    return removed


def prepare_certificate_change(
    session: Session, actor: Actor, smp: Smp, certificate: Any, effective: datetime | None
) -> Smp:
    """BDMSL's PrepareChangeCertificate: ``certificate`` replaces the current one from ``effective`` (by
    default when the new certificate becomes valid); until then the current one still authenticates."""
    rules.require_sml_write(actor, smp.id, f"SMP '{smp.smp_id}'")
    check = Checker()
    facts = None
    if not isinstance(certificate, str) or not certificate.strip():
        check.fail_declared("newCertificatePublicKey", "is required")
    else:
        try:
            loaded = load_certificate(certificate)
            moment = max(effective or loaded.not_valid_before_utc, utcnow())
            validate(loaded, "smp", anchors(session), now=moment)
            facts = describe(loaded)
        except CertificateError as error:
            check.fail("newCertificatePublicKey", str(error))
    now = utcnow()
    if effective is not None and effective < now.replace(hour=0, minute=0, second=0, microsecond=0):
        check.fail("migrationDate", "is in the past")
    check.done()
    facts = present(facts)
    _unique(session, None, facts, besides=smp.id)
    if facts.sha256 == smp.certificate_sha256:
        raise ValidationFailed(FieldError("newCertificatePublicKey", "is the certificate in use now"))
    before = audit.snapshot(smp)
    smp.next_certificate_pem, smp.next_certificate_sha256 = facts.pem, facts.sha256
    smp.next_certificate_from = max(effective or facts.not_before, now)
    session.flush()
    audit.record(
        session, actor, Action.SMP_CERTIFICATE_CHANGE, ENTITY, smp.id, before=before, after=audit.snapshot(smp)
    )
    return smp


def smp_of_certificate(session: Session, sha256: str) -> Smp | None:
    """The SMP that authenticates with this certificate now (its announced next one, once in force)."""
    now = utcnow()
    smp = session.scalar(select(Smp).where(Smp.certificate_sha256 == sha256))
    if smp is not None:
        if smp.next_certificate_from is not None and smp.next_certificate_from <= now:
            return None  # replaced by the announced one
        return smp
    smp = session.scalar(select(Smp).where(Smp.next_certificate_sha256 == sha256))
    if smp is None or smp.next_certificate_from is None or smp.next_certificate_from > now:
        return None
    return smp


def promote_next_certificate(session: Session, smp: Smp) -> None:
    """The announced certificate is in force: it becomes the SMP's certificate (audited as the SMP's change)."""
    if smp.next_certificate_pem is None:
        return
    before = audit.snapshot(smp)
    smp.take_certificate(describe(load_certificate(smp.next_certificate_pem)))
    session.flush()
    audit.record(
        session,
        audit.SYSTEM_ACTOR,
        Action.SMP_CERTIFICATE_CHANGE,
        ENTITY,
        smp.id,
        before=before,
        after=audit.snapshot(smp),
    )


def find_smp(session: Session, smp_id: str) -> Smp | None:
    return session.scalar(select(Smp).where(Smp.smp_id_folded == fold(smp_id.strip())))


def get_smp(session: Session, smp_row_id: uuid.UUID | str) -> Smp:
    return get_or_not_found(session, Smp, smp_row_id, "SMP")


def smp_by_id_or_name(session: Session, reference: str) -> Smp:
    """An SMP by its row id (UUID) or its SMP id (the CLI takes either)."""
    try:
        return get_smp(session, uuid.UUID(reference))
    except ValueError:
        pass
    smp = find_smp(session, reference)
    if smp is None:
        raise NotFound(f"[ERR-100] The SMP '{reference}' doesn't exist")
    return smp


def participant_counts(session: Session) -> dict[uuid.UUID, int]:
    rows = session.execute(select(SmlParticipant.smp_id, func.count()).group_by(SmlParticipant.smp_id))
    counts: dict[uuid.UUID, int] = {}
    for smp_id, count in rows:
        counts[smp_id] = count
    return counts


def listing(session: Session) -> list[dict[str, Any]]:
    """Every SMP (this service's own first), as the CLI and the console show them."""
    counts = participant_counts(session)
    return [
        {
            "id": str(smp.id),
            "smpId": smp.smp_id,
            "local": smp.local,
            "logicalAddress": smp.logical_address,
            "physicalAddress": smp.physical_address,
            "subject": smp.subject,
            "notAfter": smp.not_after.isoformat() if smp.not_after else None,
            "nextCertificateFrom": smp.next_certificate_from.isoformat() if smp.next_certificate_from else None,
            "participants": counts.get(smp.id, 0),
        }
        for smp in in_order(session)
    ]


def in_order(session: Session) -> list[Smp]:
    """Every SMP, this service's own first, then by id."""
    return list(session.scalars(select(Smp).order_by(Smp.local.desc(), Smp.smp_id_folded)))
