"""The OpenAPI document as committed in ``openapi/openapi.json`` (stable key order, one per change)."""

from __future__ import annotations

import json

from flask import Flask


def openapi_text(app: Flask) -> str:
    spec = app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()
    return json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
