"""The public pages: search for a recipient, and an organisation with its function addresses and the
facts an AP operator needs."""

from __future__ import annotations

from flask import g, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from app.directory import queries, search
from app.directory.text import QueryError
from app.dns.naming import naptr_name
from app.extensions import current_database, current_settings
from app.identifiers import ParticipantId, url_segment
from app.registry import text_rules
from app.ui.pages import (
    RESULTS,
    blp,
    render_page,
)
from app.ui.texts import TEXTS

# --- public ----------------------------------------------------------------------------------------


@blp.get("/")
def search_page() -> ResponseReturnValue:
    text = request.args.get("q", "").strip()
    filters = {}
    if request.args.get("category"):
        filters["category"] = request.args["category"]
    if request.args.get("type") in ("o", "ou"):
        filters["organizationType"] = request.args["type"]
    found, error, corrections = [], None, {}
    with current_database().reader() as session_:
        categories = _categories(session_)
        if text:
            if text_rules.has_markup(text):
                error = "< >"
            else:
                try:
                    result = search.search(
                        session_, "addresses", text, queries.conditions("addresses", filters), offset=0, size=RESULTS
                    )
                    owners = {e.parent_id for e in result.entries if e.parent_id is not None}
                    parents = {o.id: o for o in queries.organisations_by_id(session_, owners)}
                    found = [
                        (entry, parents.get(entry.parent_id) if entry.parent_id else None) for entry in result.entries
                    ]
                    corrections = {t.word: t.alternatives for t in result.terms if t.alternatives}
                except QueryError as problem:
                    error = str(problem)
    template = "_results.html" if request.args.get("partial") else "search.html"
    return render_page(
        template,
        q=text,
        found=found,
        error=error,
        corrections=corrections,
        categories=categories,
        chosen_category=filters.get("category", ""),
        chosen_type=filters.get("organizationType", ""),
    )


def _categories(session_: Session) -> list[tuple[str, str]]:
    found = []
    for system in session_.scalars(queries.shown("codesystems")):
        found += [(code["code"], code["displayName"]) for code in (system.attributes or {}).get("codes", [])]
    return sorted(set(found), key=lambda item: item[1])


@blp.get("/organisations/<ident>")
def organisation_page(ident: str) -> ResponseReturnValue:
    settings = current_settings()
    with current_database().reader() as session_:
        entry = queries.one(session_, "organizations", ident)
        if entry is None:
            return render_page("message.html", 404, message=TEXTS[g.lang]["not_found"])
        addresses, _ = queries.page(session_, "addresses", {"organization": ident}, 1000, None)
        children, _ = queries.page(session_, "organizations", {"parent": ident}, 1000, None)
        parent = queries.one(session_, "organizations", str(entry.parent_id)) if entry.parent_id else None
    facts = None
    participant_text = (entry.attributes or {}).get("participantIdentifier")
    if participant_text:
        participant = ParticipantId.parse(participant_text)
        facts = {
            "participant": str(participant),
            "naptr": naptr_name(participant.scheme, participant.value, settings.sml_zone),
            "smp": f"{settings.smp_base_url}/{url_segment(participant)}",
        }
    return render_page(
        "organisation.html", entry=entry, addresses=addresses, children=children, parent=parent, facts=facts
    )
