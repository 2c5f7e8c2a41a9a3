"""The service as gunicorn loads it in the benchmark: JSON request logging on, as under `serve`."""

from app import create_app
from app.requestlog import configure_json_logging

configure_json_logging("INFO")
app = create_app()
