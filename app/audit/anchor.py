"""Checkpoints the service writes itself: every ``SDK_AUDIT_CHECKPOINT_INTERVAL`` the worker checks that
the chain still reaches the checkpoint in ``SDK_AUDIT_CHECKPOINT_FILE`` (the event it names is there with
its hash, and every later event links and matches), then signs the new head and replaces the file.

When the check fails the file is left as it is (it is the evidence), the problem is logged as an error
and shown on the worker's ``/metrics`` (``sdk_audit_checkpoint_intact 0``), and no checkpoint is written
until an operator has looked (``audit verify --checkpoint FILE`` names the same problem). Each written
checkpoint is also logged, so a log store outside the database holds them all.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from app.audit.chain import verify
from app.audit.checkpoint import Checkpoint, CheckpointError, check_signature, compare, head, sign
from app.database import Database
from app.publishing.keys import SigningCredentials

logger = logging.getLogger("sdk_addressbook.audit")


def read_checkpoint(path: Path, credentials: SigningCredentials) -> Checkpoint | None:
    """The checkpoint saved in ``path`` (``None`` when there is none yet), its signature checked."""
    if not path.exists():
        return None
    try:
        saved = Checkpoint.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path}: {error}") from None
    try:
        check_signature(saved, credentials.certificate)
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}") from None
    return saved


def still_reached(session: Session, saved: Checkpoint) -> str | None:
    """Why the stored chain no longer reaches ``saved`` (events gone, changed or re-hashed), or ``None``."""
    problem = compare(session, saved)
    if problem is not None:
        return problem
    report = verify(session, after=(saved.sequence, saved.hash))
    if not report.intact:
        return f"audit chain broken at event {report.first_broken_id}: {report.reason}"
    return None


def write_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Replace ``path`` in one step (a crash leaves the old checkpoint or the new one, never half of one)."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(partial, "w", encoding="utf-8") as file:
        file.write(json.dumps(checkpoint.as_dict(), indent=2) + "\n")
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)


@dataclass
class AnchorStatus:
    """What the worker's /metrics tells about the checkpoints."""

    sequence: int = -1  # of the last checkpoint written (-1: none yet)
    written_at: float = 0.0
    problem: str | None = None

    def metrics(self) -> str:
        return (
            "# HELP sdk_audit_checkpoint_intact 1 while the chain reaches the saved checkpoint, 0 once it does not.\n"
            "# TYPE sdk_audit_checkpoint_intact gauge\n"
            f"sdk_audit_checkpoint_intact {0 if self.problem else 1}\n"
            "# HELP sdk_audit_checkpoint_sequence The newest event the last written checkpoint names.\n"
            "# TYPE sdk_audit_checkpoint_sequence gauge\n"
            f"sdk_audit_checkpoint_sequence {self.sequence}\n"
            "# HELP sdk_audit_checkpoint_timestamp_seconds When the last checkpoint was written (Unix time).\n"
            "# TYPE sdk_audit_checkpoint_timestamp_seconds gauge\n"
            f"sdk_audit_checkpoint_timestamp_seconds {self.written_at:.3f}\n"
        )


class CheckpointKeeper:
    def __init__(self, database: Database, path: Path, credentials: SigningCredentials, interval: float) -> None:
        self.database, self.path, self.credentials, self.interval = database, path, credentials, interval
        self.status = AnchorStatus()

    def round(self) -> Checkpoint | None:
        """Check the saved checkpoint and write the next one; ``None`` (and the problem kept) when it fails."""
        if self.status.problem is not None:
            return None  # once broken, the file stays as the evidence until an operator has looked
        try:
            saved = read_checkpoint(self.path, self.credentials)
            with self.database.reader() as session:
                problem = still_reached(session, saved) if saved is not None else None
                if problem is not None:
                    raise CheckpointError(problem)
                current = sign(head(session), self.credentials.key)
        except CheckpointError as error:
            self.status.problem = str(error)
            logger.error("audit checkpoint: %s; %s is kept as it is", error, self.path)
            return None
        write_checkpoint(self.path, current)
        self.status.sequence, self.status.written_at = current.sequence, time.time()
        logger.info("audit checkpoint %s", json.dumps(current.as_dict(), sort_keys=True))
        return current

    def run(self, stop: threading.Event) -> None:
        while True:
            try:
                self.round()
            except Exception:  # the database away for a moment: try again next time
                logger.exception("audit checkpoint could not be written")
            if stop.wait(self.interval):
                return

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(stop,), name="audit-checkpoint", daemon=True)
        thread.start()
        return thread
