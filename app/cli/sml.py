"""The SML role from the command line: the SMPs registered here, their participants, and migrations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from app.cli.base import application, cli, fail


@cli.group(help="The SML: SMPs registered here, their participants, migrations between them.")
def sml() -> None:
    pass


@sml.group("smp", help="The SMPs registered in this SML (this service's own SMP is one of them).")
def smp_group() -> None:
    pass


def _read_certificate(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as error:
        fail(f"--certificate {path}: {error}")


@smp_group.command("add", help="Register an external SMP with its client certificate (PEM).")
@click.option("--smp-id", required=True, help="its ServiceMetadataPublisherID, e.g. SMP-EXEMPEL-1")
@click.option("--logical-address", required=True, help="its base URL, as NAPTR records lead to it")
@click.option("--physical-address", required=True, help="its IP address")
@click.option("--certificate", type=click.Path(path_type=Path, dir_okay=False), required=True)
def smp_add(smp_id: str, logical_address: str, physical_address: str, certificate: Path) -> None:
    from app.audit import SYSTEM_ACTOR
    from app.extensions import current_database
    from app.operations.smps import register_smp

    pem = _read_certificate(certificate)
    with application(), current_database().writer() as session:
        smp = register_smp(
            session,
            SYSTEM_ACTOR,
            smp_id=smp_id,
            logical_address=logical_address,
            physical_address=physical_address,
            certificate=pem,
        )
        click.echo(f"SMP {smp.smp_id} registered ({smp.id}); it authenticates as {smp.subject}")


@smp_group.command("update", help="New addresses (every participant's records follow) or a new certificate.")
@click.argument("smp")
@click.option("--logical-address", default=None)
@click.option("--physical-address", default=None)
@click.option("--certificate", type=click.Path(path_type=Path, dir_okay=False), default=None)
def smp_update(smp: str, logical_address: str | None, physical_address: str | None, certificate: Path | None) -> None:
    from app.audit import SYSTEM_ACTOR
    from app.extensions import current_database
    from app.operations import smps

    changes: dict[str, Any] = {}
    if logical_address is not None:
        changes["logicalAddress"] = logical_address
    if physical_address is not None:
        changes["physicalAddress"] = physical_address
    if certificate is not None:
        changes["certificate"] = _read_certificate(certificate)
    if not changes:
        fail("name something to change: --logical-address, --physical-address or --certificate")
    with application(), current_database().writer() as session:
        found = smps.smp_by_id_or_name(session, smp)
        smps.change_smp(session, SYSTEM_ACTOR, found, changes)
        click.echo(f"SMP {found.smp_id} updated")


@smp_group.command("list", help="Every SMP, with its address, its certificate's expiry and its participants.")
@click.option("--json", "as_json", is_flag=True, help="one JSON array")
def smp_list(as_json: bool) -> None:
    from app.extensions import current_database
    from app.operations import smps
    from app.sml.registrations import local_smp

    with application(), current_database().writer() as session:
        local_smp(session)
        listed = smps.listing(session)
    if as_json:
        click.echo(json.dumps(listed, indent=2, default=str))
        return
    for entry in listed:
        expiry = f"certificate until {entry['notAfter'][:10]}" if entry["notAfter"] else "this service"
        click.echo(
            f"{entry['smpId']:<24} {entry['logicalAddress']:<40} {entry['physicalAddress']:<15} "
            f"{entry['participants']:>7} participants  {expiry}"
        )


@smp_group.command("remove", help="Remove an external SMP and every participant it registered.")
@click.argument("smp")
@click.option("--yes", is_flag=True, help="also when it still has participants (they leave DNS)")
def smp_remove(smp: str, yes: bool) -> None:
    from app.audit import SYSTEM_ACTOR
    from app.extensions import current_database
    from app.operations import smps

    with application(), current_database().writer() as session:
        found = smps.smp_by_id_or_name(session, smp)
        count = smps.participant_counts(session).get(found.id, 0)
        if count and not yes:
            fail(f"SMP {found.smp_id} has {count} participants, which would leave DNS: add --yes to remove it anyway")
        removed = smps.delete_smp(session, SYSTEM_ACTOR, found)
        click.echo(f"SMP {found.smp_id} removed with its {removed} participants")


@sml.command("participants", help="The participants one SMP registered (its id, or this service's own).")
@click.argument("smp")
@click.option("--json", "as_json", is_flag=True, help="one JSON array of identifiers")
@click.option("--limit", type=click.IntRange(1, 10_000_000), default=None, help="at most this many")
def participants(smp: str, as_json: bool, limit: int | None) -> None:
    from app.extensions import current_database
    from app.operations import sml_participants, smps

    listed: list[str] = []
    with application(), current_database().reader() as session:
        found = smps.smp_by_id_or_name(session, smp)
        after = None
        while limit is None or len(listed) < limit:
            page = sml_participants.page(session, found, after=after, size=1000)
            if not page:
                break
            listed.extend(str(participant) for participant in page)
            after = page[-1]
    listed = listed[:limit] if limit else listed
    if as_json:
        click.echo(json.dumps(listed))
    else:
        for participant in listed:
            click.echo(participant)
    click.echo(f"{len(listed)} participants of SMP {found.smp_id}", err=True)


@sml.group("migration", help="Migration keys: hand a participant from one SMP to another.")
def migration() -> None:
    pass


@migration.command("prepare", help="Let another SMP take PARTICIPANT over; prints the key (shown only this once).")
@click.argument("participant")
@click.option("--smp", "smp", default=None, help="the SMP that holds it (default: this service's own)")
@click.option("--key", default=None, help="the key to use (default: a random one BDMSL would accept)")
def migration_prepare(participant: str, smp: str | None, key: str | None) -> None:
    from app.audit import SYSTEM_ACTOR
    from app.extensions import current_database
    from app.operations import sml_migrations

    with application(), current_database().writer() as session:
        holder = _smp_or_local(session, smp)
        prepared, key = sml_migrations.prepare(session, SYSTEM_ACTOR, holder, _written(participant), key)
        expires = prepared.expires_at.isoformat(timespec="seconds")
    click.echo(key)
    click.echo(
        f"migration of {participant} from SMP {holder.smp_id} prepared; the key is valid until {expires}", err=True
    )


@migration.command("list", help="Migrations prepared and not yet taken.")
@click.option("--smp", "smp", default=None, help="only those of this SMP")
def migration_list(smp: str | None) -> None:
    from app.extensions import current_database
    from app.operations import sml_migrations, smps
    from app.registry.columns import utcnow

    with application(), current_database().reader() as session:
        holder = smps.smp_by_id_or_name(session, smp) if smp else None
        now = utcnow()
        for found in sml_migrations.open_migrations(session, holder):
            state = "expired" if found.expires_at <= now else f"until {found.expires_at.isoformat(timespec='seconds')}"
            click.echo(f"{found.id}  {found.participant.participant_id}  from {found.smp.smp_id}  {state}")


@migration.command("cancel", help="Withdraw a prepared migration (its key no longer works).")
@click.argument("migration_id")
def migration_cancel(migration_id: str) -> None:
    from app.audit import SYSTEM_ACTOR
    from app.extensions import current_database
    from app.operations import sml_migrations

    with application(), current_database().writer() as session:
        sml_migrations.cancel(session, SYSTEM_ACTOR, migration_id)
    click.echo(f"migration {migration_id} cancelled", err=True)


@sml.command("migrate", help="Take PARTICIPANT over with the key its current SMP prepared (to this service's SMP).")
@click.argument("participant")
@click.option("--key", required=True, help="the migration key the current SMP handed over")
@click.option("--to", "target", default=None, help="the SMP that takes it (default: this service's own)")
def migrate(participant: str, key: str, target: str | None) -> None:
    from app.audit import SYSTEM_ACTOR
    from app.extensions import current_database
    from app.operations import sml_migrations

    with application(), current_database().writer() as session:
        taker = _smp_or_local(session, target)
        moved = sml_migrations.complete(session, SYSTEM_ACTOR, taker, _written(participant), key)
        name = taker.smp_id
    if not moved:
        fail(f"the migration key is not valid for {participant} (the attempt is counted)")
    click.echo(f"{participant} is now registered by SMP {name}", err=True)


@sml.command("resync", help="Records of every registration again; with SDK_SML_URL, queue every own one for the SML.")
def resync() -> None:
    from sqlalchemy import select

    from app.extensions import current_database
    from app.registry.models import Smp
    from app.sml import registrations

    with application(), current_database().writer() as session:
        registrations.local_smp(session)
        changed = sum(registrations.refresh_smp(session, smp) for smp in list(session.scalars(select(Smp))))
        queued = registrations.queue_all_local(session)
    click.echo(f"{changed} record sets changed; {queued} registrations queued for the external SML", err=True)


def _smp_or_local(session: Any, reference: str | None) -> Any:
    from app.operations import smps
    from app.sml.registrations import local_smp

    return smps.smp_by_id_or_name(session, reference) if reference else local_smp(session)


def _written(participant: str) -> Any:
    from app.identifiers import PARTICIPANT_SCHEME, IdentifierError, WrittenParticipant, split_scheme

    if "::" not in participant:
        return WrittenParticipant(PARTICIPANT_SCHEME, participant.strip())
    try:
        scheme, value = split_scheme(participant)
    except IdentifierError as error:
        fail(f"PARTICIPANT: {error}")
    return WrittenParticipant(scheme, value)


@sml.group("client", help="This service's SMP under an external SML (SDK_SML_URL).")
def client() -> None:
    pass


def _sml_client() -> Any:
    from app.cli.base import plain_settings
    from app.sml.client import SmlClient

    settings = plain_settings()
    if settings.sml_url is None:
        fail("SDK_SML_URL is not set: this service is not registered in an external SML")
    return settings, SmlClient(settings)


@client.command("register", help="Register this SMP in the external SML (ManageServiceMetadata Create or Update).")
@click.option("--update", is_flag=True, help="it is registered already: send its addresses again (Update)")
def client_register(update: bool) -> None:
    from app.dns.records import local_target
    from app.sml.client import SmlRefusal, SmlUnavailable
    from app.sml.registrations import physical_address

    settings, sml_client = _sml_client()
    address = local_target(settings).address
    try:
        sml_client.register_smp(address, physical_address(settings), update=update)
    except (SmlRefusal, SmlUnavailable) as error:
        fail(f"the SML at {settings.sml_url}: {error}")
    verb = "updated" if update else "registered"
    click.echo(f"SMP {settings.sml_smp_id} {verb} in the SML at {settings.sml_url} ({address})")


@client.command("check", help="Ask the external SML what it holds for this SMP.")
def client_check() -> None:
    from app.dns.records import local_target
    from app.sml.client import SmlRefusal, SmlUnavailable

    settings, sml_client = _sml_client()
    try:
        logical, physical = sml_client.read_smp()
    except (SmlRefusal, SmlUnavailable) as error:
        fail(f"the SML at {settings.sml_url}: {error}")
    click.echo(f"SMP {settings.sml_smp_id} at the SML {settings.sml_url}: {logical} ({physical})")
    if logical.rstrip("/") != local_target(settings).address:
        here = local_target(settings).address
        fail(f"the SML leads to {logical}, not to this service's {here}: run 'sml client register --update'")
