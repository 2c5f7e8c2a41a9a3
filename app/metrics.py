"""``/metrics`` in the Prometheus text format, computed from the database on each scrape.

Computing from the database (not per-process counters) makes every worker report the same figures,
which is what a scrape through a load balancer needs.
"""

from __future__ import annotations

from collections import Counter

from flask import Flask, Response
from sqlalchemy import func, select

from app import status
from app.extensions import current_database
from app.registry.models import AuditEvent, DnsRecord, Publication
from app.status import CERTIFICATE_KINDS, SmlClientLag


def _line(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> str:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{labels} {value:g}" for labels, value in samples]
    return "\n".join(lines)


def render() -> str:
    from app.extensions import current_settings
    from app.health import signing_certificate

    certificate, _problem = signing_certificate()
    with current_database().reader() as session:
        found = status.collect(session, current_settings(), certificate)
        records = session.scalar(select(func.count()).select_from(DnsRecord))
        audit_head = session.scalar(select(func.max(AuditEvent.id))) or 0
        publications = session.execute(select(Publication.flavour, func.count()).group_by(Publication.flavour)).all()
    dns, publication, sml = found.dns, found.publication, found.sml
    expiring = Counter(c.kind for c in found.certificates if not c.expired)
    expired = Counter(c.kind for c in found.certificates if c.expired)
    last = dns.last_published_at.timestamp() if dns.last_published_at else 0.0
    blocks = [
        _line(
            "sdk_audit_head_sequence",
            "gauge",
            "Id of the newest audit event; it never goes down (alert if it does: events were deleted).",
            [("", audit_head)],
        ),
        _line(
            "sdk_dns_outbox_pending",
            "gauge",
            "DNS changes not yet applied by the DNS side.",
            [("", dns.outbox_pending)],
        ),
        _line(
            "sdk_dns_outbox_oldest_pending_seconds",
            "gauge",
            "Age of the oldest DNS change not yet applied (the DNS lag).",
            [("", dns.oldest_pending_seconds)],
        ),
        _line(
            "sdk_dns_last_publish_timestamp_seconds",
            "gauge",
            "When the DNS side last applied changes (Unix time).",
            [("", last)],
        ),
        _line(
            "sdk_dns_publish_errors_total",
            "counter",
            "DNS updates the primary did not accept.",
            [("", dns.publish_errors)],
        ),
        _line(
            "sdk_directory_backlog",
            "gauge",
            "Function addresses of large imports whose directory entries the worker has not written yet.",
            [("", found.directory.backlog)],
        ),
        _line(
            "sdk_directory_backlog_oldest_seconds",
            "gauge",
            "Age of the oldest of them (the directory's lag).",
            [("", found.directory.oldest_backlog_seconds)],
        ),
        _line("sdk_dns_zone_serial", "gauge", "SOA serial of the SML zone in the database.", [("", dns.serial)]),
        _line("sdk_dns_records", "gauge", "Participant record sets in the SML zone.", [("", records or 0)]),
        _line(
            "sdk_smp_publications",
            "gauge",
            "Stored SMP documents per flavour.",
            [(f'{{flavour="{flavour}"}}', count) for flavour, count in publications],
        ),
        _line(
            "sdk_smp_publication_generation",
            "counter",
            "Changes of the set of SMP publications.",
            [("", publication.generation)],
        ),
        _line(
            "sdk_smp_approved_without_documents",
            "gauge",
            "Approved participants with no SMP documents (should be 0).",
            [("", publication.approved_without_documents)],
        ),
        _line(
            "sdk_smp_withdrawn_still_published",
            "gauge",
            "Participants not approved whose SMP documents are still served (should be 0).",
            [("", publication.withdrawn_still_published)],
        ),
        _line("sdk_sml_smps", "gauge", "External SMPs registered in the SML.", [("", sml.smps)]),
        _line(
            "sdk_sml_participants",
            "gauge",
            "Participants registered in the SML, by whether this service's own SMP holds them.",
            [
                ('{smp="local"}', sml.local_participants),
                ('{smp="external"}', sml.participants - sml.local_participants),
            ],
        ),
        _line(
            "sdk_sml_migrations_open", "gauge", "Migrations prepared and not yet taken.", [("", sml.open_migrations)]
        ),
        _line(
            "sdk_sml_registered_elsewhere",
            "gauge",
            "Approved organisations whose participant another SMP holds (DNS leads there until migrated).",
            [("", sml.registered_elsewhere)],
        ),
        *_client_lines(sml.client),
        _line(
            "sdk_certificates_expiring",
            "gauge",
            "Certificates in use expiring within SDK_CERT_WARN_DAYS, by kind.",
            [(f'{{kind="{kind}"}}', expiring[kind]) for kind in CERTIFICATE_KINDS],
        ),
        _line(
            "sdk_certificates_expired",
            "gauge",
            "Certificates in use that have expired, by kind.",
            [(f'{{kind="{kind}"}}', expired[kind]) for kind in CERTIFICATE_KINDS],
        ),
    ]
    return "\n".join(blocks) + "\n"


def _client_lines(client: SmlClientLag | None) -> list[str]:
    """With ``SDK_SML_URL``: how far behind the external SML is, and how often it refused."""
    if client is None:
        return []
    last = client.last_applied_at.timestamp() if client.last_applied_at else 0.0
    return [
        _line(
            "sdk_sml_client_pending",
            "gauge",
            "Registration changes the external SML has not taken yet.",
            [("", client.pending)],
        ),
        _line(
            "sdk_sml_client_oldest_pending_seconds",
            "gauge",
            "Age of the oldest change the external SML has not taken (the SML client's lag).",
            [("", client.oldest_pending_seconds)],
        ),
        _line(
            "sdk_sml_client_errors_total", "counter", "Calls the external SML refused or failed.", [("", client.errors)]
        ),
        _line(
            "sdk_sml_client_last_applied_timestamp_seconds",
            "gauge",
            "When the external SML last took changes (Unix time).",
            [("", last)],
        ),
    ]


def init_app(app: Flask) -> None:
    @app.get("/metrics")
    def metrics() -> Response:
        return Response(render(), content_type="text/plain; version=0.0.4; charset=utf-8")
