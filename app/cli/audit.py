"""The audit trail: verify the chain, and anchor it in a signed checkpoint."""

from __future__ import annotations

from pathlib import Path

import click

from app.cli.base import (
    EXIT_BAD_SETTING,
    application,
    cli,
    fail,
)


@cli.group(help="The audit trail.")
def audit() -> None:
    pass


@audit.command("verify", help="Check the audit hash chain and name the first broken link.")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="also check the chain still reaches the signed checkpoint in FILE, then write the current one there",
)
def audit_verify(checkpoint_file: Path | None) -> None:
    from app.audit import verify
    from app.audit.anchor import read_checkpoint, write_checkpoint
    from app.audit.checkpoint import CheckpointError, compare, head, sign
    from app.extensions import current_database
    from app.publishing.keys import SigningKeyError
    from app.smp_front import current_publisher

    with application() as app, current_database().reader() as session:
        report = verify(session)
        if not report.intact:
            fail(f"audit chain broken at event {report.first_broken_id}: {report.reason}")
        if checkpoint_file is None:
            click.echo(f"audit chain intact: {report.checked} events")
            return
        try:
            credentials = current_publisher(app).signer.credentials
        except SigningKeyError as error:
            fail(f"SDK_SIGNING_KEY: {error} (checkpoints are signed with it)", EXIT_BAD_SETTING)
        try:
            saved = read_checkpoint(checkpoint_file, credentials)
        except CheckpointError as error:
            fail(str(error))
        problem = compare(session, saved) if saved is not None else None
        if problem is not None:
            fail(f"audit chain does not reach its checkpoint: {problem}")
        current = sign(head(session), credentials.key)
    write_checkpoint(checkpoint_file, current)
    click.echo(
        f"audit chain intact: {report.checked} events; checkpoint at event {current.sequence} in {checkpoint_file}"
    )
