"""``/metrics`` in the Prometheus text format, computed from the database on each scrape.

Computing from the database (not per-process counters) makes every worker report the same figures,
which is what a scrape through a load balancer needs.
"""

from __future__ import annotations

from datetime import UTC

from flask import Flask, Response
from sqlalchemy import func, select

from app.extensions import current_database
from app.registry.columns import utcnow
from app.registry.models import DnsChange, DnsRecord, DnsState, Publication, PublicationState


def _line(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> str:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{labels} {value:g}" for labels, value in samples]
    return "\n".join(lines)


def render() -> str:
    now = utcnow()
    with current_database().reader() as session:
        pending, oldest = session.execute(
            select(func.count(), func.min(DnsChange.created_at)).where(DnsChange.applied_at.is_(None))
        ).one()
        state = session.get(DnsState, 1)
        records = session.scalar(select(func.count()).select_from(DnsRecord))
        publications = session.execute(select(Publication.flavour, func.count()).group_by(Publication.flavour)).all()
        generation = session.scalar(select(PublicationState.generation).where(PublicationState.id == 1)) or 0
    if oldest is not None and oldest.tzinfo is None:  # SQLite aggregates come back as naive UTC
        oldest = oldest.replace(tzinfo=UTC)
    age = (now - oldest).total_seconds() if oldest is not None else 0.0
    last = state.last_published_at.timestamp() if state and state.last_published_at else 0.0
    blocks = [
        _line("sdk_dns_outbox_pending", "gauge", "DNS changes not yet applied by the DNS side.", [("", pending)]),
        _line(
            "sdk_dns_outbox_oldest_pending_seconds",
            "gauge",
            "Age of the oldest DNS change not yet applied.",
            [("", age)],
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
            [("", state.publish_errors if state else 0)],
        ),
        _line(
            "sdk_dns_zone_serial",
            "gauge",
            "SOA serial of the SML zone in the database.",
            [("", state.serial if state else 0)],
        ),
        _line("sdk_dns_records", "gauge", "Participant record sets in the SML zone.", [("", records)]),
        _line(
            "sdk_smp_publications",
            "gauge",
            "Stored SMP documents per flavour.",
            [(f'{{flavour="{flavour}"}}', count) for flavour, count in publications],
        ),
        _line(
            "sdk_smp_publication_generation", "counter", "Changes of the set of SMP publications.", [("", generation)]
        ),
    ]
    return "\n".join(blocks) + "\n"


def init_app(app: Flask) -> None:
    @app.get("/metrics")
    def metrics() -> Response:
        return Response(render(), content_type="text/plain; version=0.0.4; charset=utf-8")
