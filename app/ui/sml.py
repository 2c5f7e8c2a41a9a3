"""The console's view of the SML (federation operator): the SMPs registered, each one's participants and the
migrations it prepared. Changes go through the API, the command line or the SMPs' own SOAP calls."""

from __future__ import annotations

import uuid

from flask import abort, request
from flask.typing import ResponseReturnValue

from app.auth import rules
from app.extensions import current_database
from app.identifiers import LENIENT_POLICY, IdentifierError, ParticipantId
from app.operations import sml_migrations, sml_participants
from app.operations import smps as smp_registry
from app.registry.columns import utcnow
from app.registry.models import Smp
from app.sml.registrations import local_smp
from app.ui.pages import CONSOLE_ROWS, blp, logged_in, render_page, require


@blp.get("/console/smps")
@logged_in
def smps() -> ResponseReturnValue:
    require(rules.require_operator)
    with current_database().writer() as session_:
        local_smp(session_)
        listed = smp_registry.listing(session_)
    return render_page("smps.html", smps=listed)


@blp.get("/console/smps/<uuid:smp_id>")
@logged_in
def smp(smp_id: uuid.UUID) -> ResponseReturnValue:
    require(rules.require_operator)
    after = None
    if request.args.get("after"):
        try:
            after = ParticipantId.parse(request.args["after"], LENIENT_POLICY)
        except IdentifierError:
            abort(400)
    with current_database().reader() as session_:
        found = session_.get(Smp, smp_id)
        if found is None:
            abort(404)
        page = sml_participants.page(session_, found, after=after, size=CONSOLE_ROWS + 1)
        migrations = [
            (str(m.participant.participant_id), m.expires_at, m.expires_at <= utcnow(), m.failed_attempts)
            for m in sml_migrations.open_migrations(session_, found)
        ]
        count = smp_registry.participant_counts(session_).get(found.id, 0)
    more = len(page) > CONSOLE_ROWS
    page = page[:CONSOLE_ROWS]
    return render_page(
        "smp.html",
        smp=found,
        count=count,
        participants=[str(p) for p in page],
        next_after=str(page[-1]) if more and page else None,
        migrations=migrations,
    )
