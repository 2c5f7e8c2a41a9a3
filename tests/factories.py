"""Factories that build valid domain objects through the use cases (so they are audited like real ones)."""

from __future__ import annotations

import itertools

from app.audit import Actor
from app.identifiers import luhn_valid
from app.operations import code_systems, function_addresses, organisations
from app.operations.function_addresses import FunctionAddressInput
from app.operations.organisations import OrganisationInput

ADMIN = Actor(name="tester", role="operator", request_id="req-test")
_counter = itertools.count(1)


def organisation_number(seed: int) -> str:
    nine = f"212{seed:06d}"[-9:]
    return next(nine + str(d) for d in range(10) if luhn_valid(nine + str(d)))


def create_organisation(session, **overrides):
    n = next(_counter)
    values = {
        "type": "o",
        "name": f"Kommun {n}",
        "participant_identifier": f"iso6523-actorid-upis::0203:kommun{n}.se",
        "organisation_number": organisation_number(n),
    }
    values.update(overrides)
    return organisations.create_organisation(session, ADMIN, OrganisationInput(**values))


def create_code(session, code="registrator"):
    system = code_systems.create_code_system(
        session, ADMIN, identifier=f"urn:test:kodverk:{next(_counter)}", name="Kategorier"
    )
    return code_systems.add_code(session, ADMIN, system.id, code=code, display_name=code.title())


def create_function_address(session, organisation, **overrides):
    n = next(_counter)
    values = {"identifier": f"sdk:funktion{n}:{organisation.participant_value or 'ou'}", "name": f"Funktion {n}"}
    values.update(overrides)
    return function_addresses.create_function_address(session, ADMIN, organisation.id, FunctionAddressInput(**values))
