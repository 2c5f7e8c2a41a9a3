"""``sdk-addressbook doctor``: what is wrong with this installation, and how to fix it.

Each check looks at one thing and returns findings; a *serious* finding means the federation is
being served wrongly (or not at all) and makes the command exit non-zero, a *warning* needs attention
soon. The figures come from :mod:`app.status`, the same as ``/api/v1/status`` and ``/metrics``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from cryptography import x509
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app import schema, status
from app.database import Database
from app.identifiers import PARTICIPANT_SCHEME
from app.publishing.keys import SigningKeyError, load_signing_credentials
from app.settings import Settings

SERIOUS = "serious"
WARNING = "warning"

#: Changes the DNS side has not applied after this long mean it is not keeping up (or not running).
DNS_STALE_SECONDS = 60.0


@dataclass(frozen=True)
class Finding:
    severity: str
    problem: str
    fix: str

    def line(self) -> str:
        return f"{self.severity.upper():8} {self.problem}\n         fix: {self.fix}"


@dataclass
class Context:
    settings: Settings
    database: Database
    now: datetime
    #: Set by :func:`check_signing_key` (it runs first) for the certificate-expiry check.
    signing_certificate: x509.Certificate | None = None


Check = Callable[[Context], Iterator[Finding]]


def check_public_url(context: Context) -> Iterator[Finding]:
    settings = context.settings
    production = settings.mode == "production"
    if not settings.public_url_configured:
        yield Finding(
            SERIOUS if production else WARNING,
            f"SDK_PUBLIC_URL is not set: NAPTR records and ServiceGroup references point at {settings.public_url}",
            "set SDK_PUBLIC_URL to the https URL access points reach this service at, then run "
            "'sdk-addressbook smp resign'",
        )
    elif production and settings.public_url.startswith("http://"):
        yield Finding(WARNING, f"SDK_PUBLIC_URL {settings.public_url} is not https", "serve the SMP over https")
    port = urlsplit(settings.public_url).port
    if "cname" in settings.dns_record_types and port not in (None, 80, 443):
        yield Finding(
            WARNING,
            f"CNAME records are published, but SDK_PUBLIC_URL names port {port}: a classic client follows a CNAME "
            "to port 80 of that host and cannot arrive",
            f"serve the participants' names (*.{PARTICIPANT_SCHEME}.{settings.sml_zone}) on port 80 in front of the "
            "service "
            "(docs/smp.md, Classic CNAME discovery), or publish NAPTR records only (SDK_DNS_RECORD_TYPES=naptr)",
        )


def check_rate_limit(context: Context) -> Iterator[Finding]:
    settings = context.settings
    # production: replicas and several workers, where a count per process multiplies the limit
    if settings.directory_rate_limit and not settings.redis_url and settings.mode == "production":
        yield Finding(
            WARNING,
            f"the directory's rate limit ({settings.directory_rate_limit}/min) is counted in each worker process: "
            f"with {settings.http_workers} workers per replica a client gets up to that many times it",
            "set SDK_REDIS_URL so every worker and replica counts together (docs/directory.md)",
        )


def check_development_keys(context: Context) -> Iterator[Finding]:
    settings = context.settings
    if settings.mode != "production":
        return
    if settings.signing_key is None or settings.signing_cert is None:
        yield Finding(
            SERIOUS,
            "production mode signs SMP documents with the development key",
            "set SDK_SIGNING_KEY and SDK_SIGNING_CERT to the federation-issued SMP key and certificate",
        )
    unset = [
        name
        for name, value in (
            ("SDK_TRUST_AP_CA", settings.trust_ap_ca),
            ("SDK_TRUST_O2O_CA", settings.trust_o2o_ca),
            ("SDK_TRUST_SMP_CA", settings.trust_smp_ca),
        )
        if value is None
    ]
    if unset:
        yield Finding(
            SERIOUS,
            f"production mode trusts the development CAs ({', '.join(unset)} not set)",
            "point each setting at a PEM bundle of the federation's CA certificates",
        )


def check_signing_key(context: Context) -> Iterator[Finding]:
    try:
        credentials = load_signing_credentials(context.settings, now=context.now)
    except SigningKeyError as error:
        yield Finding(
            SERIOUS,
            f"the SMP signing key cannot be used: {error}",
            "configure a matching, valid key and certificate (SDK_SIGNING_KEY, SDK_SIGNING_CERT), or run "
            "'sdk-addressbook init' for development keys",
        )
        return
    context.signing_certificate = credentials.certificate


def check_database(context: Context) -> Iterator[Finding]:
    try:
        with context.database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        yield Finding(
            SERIOUS,
            f"the database is unreachable ({type(error).__name__})",
            "check SDK_DATABASE_URL and that the database is running",
        )
        return
    pending = schema.pending_migrations(context.database)
    if pending is not None:
        yield Finding(SERIOUS, f"migrations pending: {pending}", "run 'sdk-addressbook init'")


def check_certificates(context: Context) -> Iterator[Finding]:
    with context.database.reader() as session:
        found = status.expiring_certificates(session, context.settings, context.signing_certificate, context.now)
    for certificate in found:
        what = f"{certificate.kind} certificate of {certificate.owner} ({certificate.subject})"
        when = certificate.not_after.date().isoformat()
        fix = _RENEWAL[certificate.kind]
        if certificate.expired:
            yield Finding(SERIOUS, f"{what} expired on {when}", fix)
        else:
            yield Finding(WARNING, f"{what} expires on {when}, in {certificate.days_left} days", fix)


_RENEWAL = {
    "smp-signing": "renew the SMP certificate, configure it and run 'sdk-addressbook smp resign'",
    "access-point": "the AP operator renews the certificate (PATCH /api/v1/access-points/{id})",
    "participant-signing": "the participant adds a renewed certificate (POST .../certificates) for approval",
    "participant-encryption": "the participant adds a renewed certificate (POST .../certificates) for approval",
    "smp-client": "the SMP announces its next certificate (PrepareChangeCertificate) or the operator sets it "
    "('sdk-addressbook sml smp update SMP --certificate FILE')",
}


def check_publication(context: Context) -> Iterator[Finding]:
    with context.database.reader() as session:
        lag = status.publication_lag(session)
    if lag.approved_without_documents or lag.withdrawn_still_published:
        yield Finding(
            SERIOUS,
            f"SMP publication disagrees with the registry: {lag.approved_without_documents} approved participants "
            f"without documents, {lag.withdrawn_still_published} withdrawn participants still served",
            "run 'sdk-addressbook smp resign'",
        )


def check_dns(context: Context) -> Iterator[Finding]:
    with context.database.reader() as session:
        lag = status.dns_lag(session, context.settings, context.now)
    if lag.outbox_pending and lag.oldest_pending_seconds > DNS_STALE_SECONDS:
        side = "the embedded DNS server" if lag.mode == "embedded" else f"the primary {context.settings.dns_primary}"
        yield Finding(
            SERIOUS,
            f"DNS not converged: {lag.outbox_pending} changes waiting, the oldest for "
            f"{lag.oldest_pending_seconds:.0f} s" + (f" (last error: {lag.last_error})" if lag.last_error else ""),
            f"make sure 'sdk-addressbook worker' (or 'serve') runs and can reach {side}",
        )
    if lag.mode == "rfc2136":
        yield from _compare_with_primary(context)


def _compare_with_primary(context: Context) -> Iterator[Finding]:
    from app.dns.reconcile import reconcile
    from app.dns.rfc2136 import PublishError

    try:
        with context.database.reader() as session:
            drift, _ = reconcile(session, context.settings, dry_run=True)
    except PublishError as error:
        yield Finding(SERIOUS, f"the DNS primary cannot be compared: {error}", "check SDK_DNS_PRIMARY and the TSIG key")
        return
    if not drift.clean:
        yield Finding(
            SERIOUS,
            f"DNS not converged: {len(drift.lines())} record sets on the primary differ from the database",
            "run 'sdk-addressbook reconcile'",
        )


def check_dnssec_key(context: Context) -> Iterator[Finding]:
    from app.dns.dnssec import DnssecKeyError, zone_signer

    try:
        zone_signer(context.settings)
    except DnssecKeyError as error:
        yield Finding(
            SERIOUS,
            f"SDK_DNSSEC is on but the zone cannot be signed: {error}",
            "run 'sdk-addressbook init' (it makes the key), or point SDK_DNSSEC_KEY at an ECDSA P-256 key",
        )


def check_sml(context: Context) -> Iterator[Finding]:
    with context.database.reader() as session:
        sml = status.sml_state(session, context.settings, context.now)
    if sml.registered_elsewhere:
        yield Finding(
            WARNING,
            f"{sml.registered_elsewhere} approved participants are registered in the SML by another SMP: "
            "DNS leads there, not here",
            "have their SMP prepare a migration, then: 'sdk-addressbook sml migrate PARTICIPANT --key KEY'",
        )
    client = sml.client
    if client is not None and client.pending and client.oldest_pending_seconds > DNS_STALE_SECONDS:
        yield Finding(
            SERIOUS,
            f"the SML at {client.url} has not taken {client.pending} registration changes, the oldest for "
            f"{client.oldest_pending_seconds:.0f} s"
            + (f" (last error: {client.last_error})" if client.last_error else ""),
            "make sure 'sdk-addressbook worker' (or 'serve') runs, reaches the SML and that the SML knows this SMP "
            "('sdk-addressbook sml client check')",
        )


#: Checks that need no database, then (only when the database is reachable and migrated) those that read it.
CHECKS: tuple[Check, ...] = (
    check_public_url,
    check_rate_limit,
    check_development_keys,
    check_signing_key,
    check_dnssec_key,
)
DATA_CHECKS: tuple[Check, ...] = (check_certificates, check_publication, check_dns, check_sml)


def diagnose(settings: Settings, database: Database, *, now: datetime | None = None) -> list[Finding]:
    context = Context(settings, database, now or datetime.now(UTC))
    findings: list[Finding] = []
    for check in CHECKS:
        findings.extend(check(context))
    database_problems = list(check_database(context))
    findings.extend(database_problems)
    if database_problems:
        return findings  # the remaining checks read tables that are missing or unreachable
    for check in DATA_CHECKS:
        findings.extend(check(context))
    return findings
