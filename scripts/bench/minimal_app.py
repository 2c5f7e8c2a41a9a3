"""The ceiling: a minimal Flask app that returns the same bytes as the service, from memory."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

from flask import Flask, Response, request

# The benchmark writes this file itself, moments before it starts this app.
DOCUMENTS: dict[str, tuple[bytes, str]] = pickle.loads(Path(os.environ["BENCH_DOCUMENTS"]).read_bytes())  # noqa: S301
app = Flask(__name__)


@app.get("/<path:_path>")
def document(_path: str) -> Response:
    body, content_type = DOCUMENTS[request.environ["RAW_URI"]]
    return Response(body, content_type=content_type)
