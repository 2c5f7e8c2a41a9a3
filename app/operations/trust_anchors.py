"""Use cases for the trust anchors the federation operator manages through the API.

These CA certificates are trusted *in addition* to the ones named by ``SDK_TRUST_AP_CA``,
``SDK_TRUST_O2O_CA`` and ``SDK_TRUST_SMP_CA`` (or the development CAs when those are unset): adding a
new federation CA before its first certificates arrive, or removing one that is retired, needs no
redeployment. Certificates already registered are not re-checked when an anchor is removed; the next
change to them is.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.audit import Action, Actor
from app.database import settings_of
from app.operations.checks import Checker, get_for_update
from app.registry.columns import utcnow
from app.registry.errors import Conflict, present
from app.registry.models import TRUST_PURPOSES, TrustAnchor
from app.settings import Settings
from app.trust import validation
from app.trust.certificates import CertificateError, describe, load_certificate
from app.trust.devpki import DevelopmentPki
from app.trust.validation import Anchors, anchors_from

ENTITY = "trust_anchor"


def anchors_for(settings: Settings, added: Iterable[tuple[str, str]] = ()) -> Anchors:
    """The anchors ``SDK_TRUST_*`` name (the development CAs when unset), plus ``added`` ``(purpose, PEM)``."""
    pki = DevelopmentPki(settings.pki_dir)
    return anchors_from(
        access_point=settings.trust_ap_ca or pki.ap_ca.certificate,
        o2o=settings.trust_o2o_ca or pki.o2o_ca.certificate,
        smp=settings.trust_smp_ca or pki.smp_ca.certificate,
        crls=settings.trust_crls,
        added=added,
    )


def anchors(session: Session) -> Anchors:
    """The trust anchors in force for this write: the configured CAs and those added through the API."""
    added = session.execute(select(TrustAnchor.purpose, TrustAnchor.certificate_pem)).all()
    return anchors_for(settings_of(session), [(purpose, pem) for purpose, pem in added])


def acceptable(session: Session, text: str, purpose: str) -> x509.Certificate:
    """A certificate a client sent, checked for ``purpose`` against the anchors in force (CertificateError)."""
    return validation.acceptable(text, purpose, anchors(session))


def add_trust_anchor(session: Session, actor: Actor, *, purpose: str, certificate: str) -> TrustAnchor:
    check = Checker()
    if purpose not in TRUST_PURPOSES:
        check.fail("purpose", f"must be one of {', '.join(TRUST_PURPOSES)}")
    loaded = None
    try:
        loaded = load_certificate(certificate or "")
    except CertificateError as error:
        check.fail("certificate", str(error))
    if loaded is not None:
        reason = _not_a_usable_ca(loaded)
        if reason:
            check.fail("certificate", reason)
    check.done()
    facts = describe(present(loaded))
    existing = session.scalar(
        select(TrustAnchor).where(TrustAnchor.purpose == purpose, TrustAnchor.certificate_sha256 == facts.sha256)
    )
    if existing is not None:
        raise Conflict(f"this CA is already a {purpose} trust anchor ({existing.id})", field="certificate")
    anchor = TrustAnchor(
        id=uuid.uuid4(),
        purpose=purpose,
        certificate_pem=facts.pem,
        certificate_sha256=facts.sha256,
        subject=facts.subject,
        not_after=facts.not_after,
    )
    session.add(anchor)
    session.flush()
    audit.record(session, actor, Action.TRUST_ANCHOR_CREATE, ENTITY, anchor.id, after=audit.snapshot(anchor))
    return anchor


def remove_trust_anchor(
    session: Session, actor: Actor, anchor_id: uuid.UUID | str, *, expected_version: int | None = None
) -> None:
    anchor = get_for_update(session, TrustAnchor, anchor_id, "trust anchor", expected_version)
    before = audit.snapshot(anchor)
    session.delete(anchor)
    session.flush()
    audit.record(session, actor, Action.TRUST_ANCHOR_DELETE, ENTITY, anchor_id, before=before)


def _not_a_usable_ca(certificate: x509.Certificate) -> str | None:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return "is not a CA certificate (no basicConstraints)"
    if not constraints.ca:
        return "is not a CA certificate (basicConstraints cA is false)"
    if certificate.not_valid_after_utc <= utcnow():
        return f"expired on {certificate.not_valid_after_utc.date().isoformat()}"
    return None
