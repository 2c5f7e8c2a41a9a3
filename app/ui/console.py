"""The console: what an account may change (organisations, function addresses), approvals, CSV import,
the audit log and expiring certificates."""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Callable
from typing import Any

from flask import abort, g, request
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import status
from app.audit.reading import readable_events
from app.auth import rules
from app.extensions import current_database, current_settings
from app.health import signing_certificate
from app.operations import function_address_import as address_import
from app.operations import function_addresses, organisations, pending_changes
from app.registry.columns import utcnow
from app.registry.errors import RegistryError, ValidationFailed
from app.registry.lifecycle import FederationStatus
from app.registry.models import AuditEvent, FunctionAddress, Organisation, PendingChange
from app.ui.pages import (
    AUDIT_ROWS,
    CONSOLE_ROWS,
    IMPORT_BYTES,
    PREVIEW_ROWS,
    blp,
    logged_in,
    problem_lines,
    render_page,
    require,
)
from app.ui.texts import TEXTS

_log = logging.getLogger(__name__)


# --- console -----------------------------------------------------------------------------------------


@blp.get("/console")
@logged_in
def console() -> ResponseReturnValue:
    actor = g.actor
    with current_database().reader() as session_:
        query = select(FunctionAddress).join(Organisation).order_by(Organisation.name, FunctionAddress.name)
        rows = session_.scalars(rules.directory_writable(query, actor).limit(CONSOLE_ROWS + 1)).all()
        addresses = [(address, address.organisation.name) for address in rows[:CONSOLE_ROWS]]
        owned = select(Organisation).order_by(Organisation.name)
        organisations_ = session_.scalars(rules.directory_writable(owned, actor).limit(CONSOLE_ROWS)).all()
        pending = 0
        if actor.role == rules.OPERATOR:
            changes = select(func.count()).select_from(PendingChange).where(PendingChange.status == "pending")
            pending = len(_pending(session_)) + (session_.scalar(changes) or 0)
    return render_page(
        "console.html",
        addresses=addresses,
        more=len(rows) > CONSOLE_ROWS,
        organisations=organisations_,
        pending=pending,
        limit=CONSOLE_ROWS,
    )


@blp.route("/console/organisations/<uuid:organisation_id>", methods=["GET", "POST"])
@logged_in
def edit_organisation(organisation_id: uuid.UUID) -> ResponseReturnValue:
    def changes() -> dict[str, Any]:
        return {
            "name": request.form.get("name", ""),
            "alternateName": request.form.get("alternateName") or None,
            "description": request.form.get("description") or None,
        }

    return _edit_page(
        Organisation, organisation_id, lambda o: o, changes, organisations.update_organisation, "organisation"
    )


@blp.route("/console/addresses/<uuid:address_id>", methods=["GET", "POST"])
@logged_in
def edit_address(address_id: uuid.UUID) -> ResponseReturnValue:
    def changes() -> dict[str, Any]:
        return {
            "name": request.form.get("name", ""),
            "description": request.form.get("description") or None,
            "keywords": [k.strip() for k in request.form.get("keywords", "").split(",") if k.strip()],
        }

    return _edit_page(
        FunctionAddress,
        address_id,
        lambda a: a.organisation,
        changes,
        function_addresses.update_function_address,
        "address",
    )


def _edit_page(
    model: type[Any],
    ident: uuid.UUID,
    organisation_of: Callable[[Any], Organisation],
    changes: Callable[[], dict[str, Any]],
    update: Callable[..., Any],
    name: str,
) -> ResponseReturnValue:
    """An edit form of directory data: save through the use case on POST, then show the stored values."""
    errors, saved = [], False
    database = current_database()
    if request.method == "POST":
        try:
            with database.writer() as session_:
                item = session_.get(model, ident)
                if item is None:
                    abort(404)
                require(rules.require_directory_write, organisation_of(item))
                update(session_, g.actor, ident, changes())
            saved = True
        except ValidationFailed as failed:
            errors = problem_lines(failed)
    with database.reader() as session_:
        item = session_.get(model, ident)
        if item is None:
            return render_page("message.html", 404, message=TEXTS[g.lang]["not_found"])
        owner = organisation_of(item)
        require(rules.require_directory_write, owner)
        context = {name: item, "organisation_name": owner.name}
    return render_page(f"{name}_edit.html", 422 if errors else 200, errors=errors, saved=saved, **context)


@blp.route("/console/approvals", methods=["GET", "POST"])
@logged_in
def approvals() -> ResponseReturnValue:
    require(rules.require_operator)
    message = None
    if request.method == "POST":
        decision = request.form.get("decision")
        reason = request.form.get("reason", "").strip() or None
        try:
            with current_database().writer() as session_:
                if request.form.get("change"):  # a change asked for an approved participant (e.g. a new service)
                    change_id = request.form["change"]
                    if decision == "approve":
                        pending_changes.approve(session_, g.actor, change_id)
                    else:
                        pending_changes.reject(session_, g.actor, change_id, reason=reason)
                else:
                    organisations.change_status(
                        session_, g.actor, request.form.get("organisation", ""), decision or "", reason=reason
                    )
            message = TEXTS[g.lang]["approved" if decision == "approve" else "rejected"]
        except (RegistryError, ValueError) as problem:
            message = str(problem)
    with current_database().reader() as session_:
        pending = _pending(session_)
        changes = [
            (change, change.organisation)
            for change in session_.scalars(
                select(PendingChange).where(PendingChange.status == "pending").order_by(PendingChange.created_at)
            )
        ]
    return render_page("approvals.html", pending=pending, changes=changes, message=message)


@blp.route("/console/import", methods=["GET", "POST"])
@logged_in
def import_addresses() -> ResponseReturnValue:
    """CSV import of function addresses: upload, see every row's verdict (a dry run), then apply."""
    with current_database().reader() as session_:
        writable = [
            (organisation.id, organisation.name)
            for organisation in session_.scalars(select(Organisation).order_by(Organisation.name))
            if g.actor.role == rules.OPERATOR or rules.administers(g.actor, organisation)
        ]
    result, text, rows, problem = None, "", [], None
    chosen = request.form.get("organisation", "")
    if request.method == "POST":
        upload = request.files.get("file")
        raw = upload.read(IMPORT_BYTES + 1) if upload and upload.filename else request.form.get("csv", "").encode()
        if len(raw) > IMPORT_BYTES:
            problem = f"file: at most {IMPORT_BYTES // 1024} KiB through the console (use the API for more)"
        else:
            text = raw.decode("utf-8-sig", errors="replace")
            apply = request.form.get("step") == "apply"
            try:
                with current_database().writer() as session_:
                    organisation = session_.get(Organisation, uuid.UUID(chosen)) if _is_uuid(chosen) else None
                    if organisation is None:
                        abort(400, description="choose an organisation")
                    require(rules.require_directory_write, organisation)
                    rows = list(address_import.read_csv(io.StringIO(text)))
                    result = address_import.import_function_addresses(
                        session_, g.actor, organisation.id, rows, dry_run=not apply
                    )
            except ValidationFailed as failed:
                problem = "; ".join(problem_lines(failed))
    return render_page(
        "import.html",
        422 if problem or (result and result.errors) else 200,
        writable=writable,
        chosen=chosen,
        result=result,
        csv_text=text,
        rows=rows[:PREVIEW_ROWS],
        problem=problem,
    )


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


@blp.get("/console/audit")
@logged_in
def audit_log() -> ResponseReturnValue:
    filters = {name: request.args.get(name, "").strip() for name in ("actor", "action", "entity_type")}
    query = readable_events(g.actor, filters).order_by(AuditEvent.id.desc()).limit(AUDIT_ROWS)
    with current_database().reader() as session_:
        events = list(session_.scalars(query))
    return render_page("audit.html", events=events, filters=filters, limit=AUDIT_ROWS)


@blp.get("/console/certificates")
@logged_in
def certificates() -> ResponseReturnValue:
    require(rules.require_operator)
    certificate, _problem = signing_certificate()
    with current_database().reader() as session_:
        found = status.expiring_certificates(session_, current_settings(), certificate, utcnow())
    return render_page("certificates.html", certificates=found, days=current_settings().cert_warn_days)


def _pending(session_: Session) -> list[Organisation]:
    query = select(Organisation).where(Organisation.federation_status == FederationStatus.PENDING.value)
    return list(session_.scalars(query.order_by(Organisation.created_at)))
