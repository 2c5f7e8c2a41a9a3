"""schemathesis hook (``SCHEMATHESIS_HOOKS``): a schema-valid request refused for a rule the document
states means the document or the server is wrong.

The management API marks refusals of rules the document cannot state with problem type
``…:domain-rule`` (declared ones are ``…:validation``), and an import whose rows break rules with
``…:import-rejected`` (the document declares the file's shape, the rows are checked one by one); the
directory marks them with ``code: domain-rule`` on the JSON:API error.
"""

from __future__ import annotations

import json

import schemathesis
from schemathesis.core.failures import Failure

DOMAIN_TYPES = (":domain-rule", ":import-rejected")


class DeclaredRuleBroken(Failure):
    pass


@schemathesis.check
def declared_rules_hold(ctx, response, case) -> None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code not in (400, 422):
        return
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if isinstance(body, dict) and str(body.get("type", "")).endswith(DOMAIN_TYPES):
        return
    if (
        isinstance(body, dict)
        and body.get("errors")
        and all(isinstance(e, dict) and e.get("code") == "domain-rule" for e in body["errors"])
    ):
        return
    raise DeclaredRuleBroken(
        operation=case.operation.label,
        title="Schema-valid request refused for a declared rule",
        message=f"{response.status_code}: {response.content[:400]!r}",
    )
