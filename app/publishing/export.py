"""Static export: the published tree as files plus an nginx snippet, so a static server or CDN serves SMP.

Files are named by the *decoded* canonical identifiers, which is what nginx maps a request to after it
percent-decodes the URI, so ``%3A%3A``, ``%3a%3a`` and raw ``::`` all find the same file. A ServiceGroup
is stored as ``{participant}/index.xml`` (its name is also the folder of its services). Requests the
files cannot answer (a participant id in other letter case, an identifier containing ``/``) fall
through to the service. File times are the publication times, so ``Last-Modified`` agrees with the
service; nginx makes its own ETags from time and size.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.publishing.flavours import BY_NAME, FLAVOURS
from app.registry.models import Publication
from app.settings import Settings

MARKER = ".sdk-addressbook-export"


class ExportError(Exception):
    """The export cannot be written where asked."""


@dataclass(frozen=True)
class ExportResult:
    files: int
    skipped: int
    nginx_snippet: Path


def _relative(flavour_name: str, path_key: str) -> Path | None:
    flavour = BY_NAME[flavour_name]
    parts = path_key.split("/services/", 1)
    if any("/" in part or part in (".", "..") or not part for part in parts):
        return None  # cannot be a file name: the service answers it
    base = Path(flavour.url_prefix) if flavour.url_prefix else Path()
    if len(parts) == 1:
        return base / parts[0] / "index.xml"
    return base / parts[0] / "services" / parts[1]


def export_static(session: Session, settings: Settings, target: Path, *, upstream: str) -> ExportResult:
    target = target.resolve()
    if target.exists() and any(target.iterdir()) and not (target / MARKER).exists():
        raise ExportError(f"{target} is not empty and holds no earlier export; choose an empty folder")
    tree = target / settings.smp_path.strip("/") if settings.smp_path else target
    staging = target / ".staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    files = skipped = 0
    for publication in session.scalars(select(Publication).execution_options(yield_per=500)):
        relative = _relative(publication.flavour, publication.path_key)
        if relative is None:
            skipped += 1
            continue
        path = staging / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(publication.document)
        stamp = publication.published_at.timestamp()
        os.utime(path, (stamp, stamp))
        files += 1
    if tree.exists():
        shutil.rmtree(tree) if tree != target else None
    if tree == target:
        for child in staging.iterdir():
            destination = target / child.name
            if destination.exists():
                shutil.rmtree(destination) if destination.is_dir() else destination.unlink()
            child.rename(destination)
        staging.rmdir()
    else:
        tree.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(tree)
    (target / MARKER).write_text("written by sdk-addressbook smp export-static\n", encoding="utf-8")
    snippet = target / "nginx-smp.conf"
    snippet.write_text(nginx_snippet(settings, target, upstream), encoding="utf-8")
    return ExportResult(files, skipped, snippet)


def nginx_snippet(settings: Settings, root: Path, upstream: str) -> str:
    """``location`` blocks for a ``server {}``: files first, the service for everything else."""
    blocks = []
    for flavour in sorted(FLAVOURS, key=lambda f: -len(f.url_prefix)):
        location = settings.smp_path + "/" + (f"{flavour.url_prefix}/" if flavour.url_prefix else "")
        blocks.append(
            f"location ^~ {location} {{\n"
            f"    root {root};\n"
            "    types { }\n"
            f'    default_type "{flavour.content_type}";\n'
            f'    add_header Cache-Control "public, max-age={settings.smp_cache_max_age}";\n'
            "    add_header X-Content-Type-Options nosniff;\n"
            "    try_files $uri/index.xml $uri @sdk_addressbook;\n"
            "}\n"
        )
    blocks.append(
        "location @sdk_addressbook {\n"
        f"    proxy_pass {upstream};\n"
        "    proxy_set_header Host $host;\n"
        "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        "}\n"
    )
    return "# SMP static export of sdk-addressbook; include inside a server { } block.\n" + "\n".join(blocks)
