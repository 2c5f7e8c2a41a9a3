"""The federation's state at a glance: expiring certificates, publication and DNS lag, outbox depth.

One computation (no Flask) feeds ``GET /api/v1/status``, ``/metrics`` and ``sdk-addressbook doctor``,
so the three never disagree. Publication is synchronous (the SMP documents are signed in the same
transaction as the registry change), so its "lag" is counted as what is *wrong*: approved participants
without documents and withdrawn participants still served. DNS lag is the age of the oldest change
the DNS side has not applied (in embedded mode: that the furthest-behind live server does not serve).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import overload

from cryptography import x509
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from app.directory import backlog
from app.dns import followers
from app.registry.lifecycle import FederationStatus
from app.registry.models import (
    AccessPoint,
    DnsChange,
    DnsState,
    Organisation,
    ParticipantCertificate,
    Publication,
    PublicationState,
    SmlClientChange,
    SmlClientState,
    SmlMigration,
    SmlParticipant,
    Smp,
)
from app.settings import Settings

#: Participants whose certificates still matter (rejected and deregistered ones are not published).
_LIVE = (FederationStatus.PENDING.value, FederationStatus.APPROVED.value, FederationStatus.SUSPENDED.value)


CERTIFICATE_KINDS = ("smp-signing", "access-point", "participant-signing", "participant-encryption", "smp-client")


@dataclass(frozen=True)
class ExpiringCertificate:
    kind: str  # one of CERTIFICATE_KINDS
    owner: str  # the AP id, the participant identifier, or "this service"
    subject: str
    not_after: datetime
    days_left: int

    @property
    def expired(self) -> bool:
        return self.days_left < 0


@dataclass(frozen=True)
class DnsLag:
    mode: str
    outbox_pending: int
    oldest_pending_seconds: float
    last_published_at: datetime | None
    publish_errors: int
    last_error: str | None
    serial: int


@dataclass(frozen=True)
class PublicationLag:
    generation: int
    changed_at: datetime | None
    approved_without_documents: int
    withdrawn_still_published: int


@dataclass(frozen=True)
class DirectoryLag:
    """Function addresses of large imports whose directory entries the worker has not written yet."""

    backlog: int
    oldest_backlog_seconds: float


@dataclass(frozen=True)
class SmlClientLag:
    """This SMP under an external SML (``SDK_SML_URL``): what it has not registered there yet, and why."""

    url: str
    pending: int
    oldest_pending_seconds: float
    errors: int
    last_error: str | None
    last_error_at: datetime | None
    last_applied_at: datetime | None


@dataclass(frozen=True)
class SmlState:
    """The SML role: SMPs and registrations, migrations waiting, and this SMP as a client of another SML."""

    smps: int  # external SMPs registered here
    participants: int  # every registration, this service's own included
    local_participants: int
    open_migrations: int
    #: Approved organisations whose participant another SMP holds (their DNS leads there until migrated).
    registered_elsewhere: int
    client: SmlClientLag | None


@dataclass(frozen=True)
class Status:
    generated_at: datetime
    warn_days: int
    certificates: list[ExpiringCertificate]
    dns: DnsLag
    publication: PublicationLag
    directory: DirectoryLag
    sml: SmlState


@overload
def _aware(moment: datetime) -> datetime: ...
@overload
def _aware(moment: None) -> None: ...
def _aware(moment: datetime | None) -> datetime | None:
    """SQLite aggregates come back naive; they are UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _days_left(not_after: datetime, now: datetime) -> int:
    return (_aware(not_after) - now) // timedelta(days=1)


def expiring_certificates(
    session: Session, settings: Settings, signing_certificate: x509.Certificate | None, now: datetime
) -> list[ExpiringCertificate]:
    """Every certificate in use that expires within ``SDK_CERT_WARN_DAYS`` (or has expired), soonest first."""
    horizon = now + timedelta(days=settings.cert_warn_days)
    found: list[ExpiringCertificate] = []
    if signing_certificate is not None and signing_certificate.not_valid_after_utc <= horizon:
        not_after = signing_certificate.not_valid_after_utc
        subject = signing_certificate.subject.rfc4514_string()
        found.append(ExpiringCertificate("smp-signing", "this service", subject, not_after, _days_left(not_after, now)))
    for ap_id, subject, not_after in session.execute(
        select(AccessPoint.ap_id, AccessPoint.subject, AccessPoint.not_after).where(AccessPoint.not_after <= horizon)
    ):
        found.append(ExpiringCertificate("access-point", ap_id, subject, _aware(not_after), _days_left(not_after, now)))
    rows = session.execute(
        select(
            ParticipantCertificate.usage,
            Organisation.participant_scheme,
            Organisation.participant_value,
            ParticipantCertificate.subject,
            ParticipantCertificate.not_after,
        )
        .join(Organisation, Organisation.id == ParticipantCertificate.organisation_id)
        .where(ParticipantCertificate.not_after <= horizon, Organisation.federation_status.in_(_LIVE))
    )
    for smp_id, smp_subject, smp_not_after in session.execute(
        select(Smp.smp_id, Smp.subject, Smp.not_after).where(Smp.not_after <= horizon, Smp.local.is_(False))
    ):
        if smp_not_after is not None:
            found.append(
                ExpiringCertificate(
                    "smp-client", smp_id, smp_subject or "", _aware(smp_not_after), _days_left(smp_not_after, now)
                )
            )
    for usage, scheme, value, subject, not_after in rows:
        found.append(
            ExpiringCertificate(
                f"participant-{usage}", f"{scheme}::{value}", subject, _aware(not_after), _days_left(not_after, now)
            )
        )
    return sorted(found, key=lambda certificate: (certificate.not_after, certificate.kind, certificate.owner))


def dns_lag(session: Session, settings: Settings, now: datetime) -> DnsLag:
    """Embedded mode: what the furthest-behind live server does not serve; RFC 2136: what the primary lacks."""
    if settings.dns_mode == "embedded":
        embedded = followers.lag(session, now)
        pending, oldest = embedded.pending, embedded.oldest_pending_at
    else:
        pending, oldest = session.execute(
            select(func.count(), func.min(DnsChange.created_at)).where(DnsChange.applied_at.is_(None))
        ).one()
    oldest = _aware(oldest)
    state = session.get(DnsState, 1)
    return DnsLag(
        mode=settings.dns_mode,
        outbox_pending=pending,
        oldest_pending_seconds=(now - oldest).total_seconds() if oldest is not None else 0.0,
        last_published_at=_aware(state.last_published_at) if state else None,
        publish_errors=state.publish_errors if state else 0,
        last_error=state.last_error if state else None,
        serial=state.serial if state else 0,
    )


def publication_lag(session: Session) -> PublicationLag:
    published = exists().where(Publication.organisation_id == Organisation.id)
    participants = select(func.count()).select_from(Organisation).where(Organisation.type == "o")
    approved = FederationStatus.APPROVED.value
    state = session.get(PublicationState, 1)
    return PublicationLag(
        generation=state.generation if state else 0,
        changed_at=_aware(state.changed_at) if state else None,
        approved_without_documents=session.scalar(
            participants.where(Organisation.federation_status == approved, ~published)
        )
        or 0,
        withdrawn_still_published=session.scalar(
            participants.where(Organisation.federation_status != approved, published)
        )
        or 0,
    )


def directory_lag(session: Session, now: datetime) -> DirectoryLag:
    found = backlog.lag(session)
    oldest = _aware(found.oldest_queued_at)
    return DirectoryLag(
        backlog=found.pending,
        oldest_backlog_seconds=(now - oldest).total_seconds() if oldest is not None else 0.0,
    )


def sml_state(session: Session, settings: Settings, now: datetime) -> SmlState:
    local = select(Smp.id).where(Smp.local.is_(True)).scalar_subquery()
    counted = select(func.count()).select_from(SmlParticipant)
    elsewhere = (
        select(func.count())
        .select_from(Organisation)
        .join(
            SmlParticipant,
            (SmlParticipant.scheme == Organisation.participant_scheme)
            & (SmlParticipant.value == Organisation.participant_value),
        )
        .where(Organisation.federation_status == FederationStatus.APPROVED.value, SmlParticipant.smp_id != local)
    )
    client = None
    if settings.sml_url is not None:
        pending, oldest = session.execute(
            select(func.count(), func.min(SmlClientChange.created_at)).where(SmlClientChange.applied_at.is_(None))
        ).one()
        oldest = _aware(oldest)
        state = session.get(SmlClientState, 1)
        client = SmlClientLag(
            url=settings.sml_url,
            pending=pending,
            oldest_pending_seconds=(now - oldest).total_seconds() if oldest is not None else 0.0,
            errors=state.errors if state else 0,
            last_error=state.last_error if state else None,
            last_error_at=_aware(state.last_error_at) if state else None,
            last_applied_at=_aware(state.last_applied_at) if state else None,
        )
    return SmlState(
        smps=session.scalar(select(func.count()).select_from(Smp).where(Smp.local.is_(False))) or 0,
        participants=session.scalar(counted) or 0,
        local_participants=session.scalar(counted.where(SmlParticipant.smp_id == local)) or 0,
        open_migrations=session.scalar(select(func.count()).select_from(SmlMigration)) or 0,
        registered_elsewhere=session.scalar(elsewhere) or 0,
        client=client,
    )


def collect(
    session: Session, settings: Settings, signing_certificate: x509.Certificate | None, *, now: datetime | None = None
) -> Status:
    moment = now or datetime.now(UTC)
    return Status(
        generated_at=moment,
        warn_days=settings.cert_warn_days,
        certificates=expiring_certificates(session, settings, signing_certificate, moment),
        dns=dns_lag(session, settings, moment),
        publication=publication_lag(session),
        directory=directory_lag(session, moment),
        sml=sml_state(session, settings, moment),
    )
