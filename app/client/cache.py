"""A small cache for DNS answers and HTTP responses: in memory, optionally also in a folder.

Entries expire when their source says so: the DNS TTL, or the HTTP ``Cache-Control: max-age`` /
``Expires``. An HTTP entry past its age keeps its validators (``ETag``, ``Last-Modified``) so the next
request can be conditional. What comes from disk is only bytes and headers: a response read back is
verified again like a fresh one.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Entry:
    value: Any
    expires_at: float
    validators: dict[str, str] = field(default_factory=dict)
    #: Derived data (a verified, parsed answer) kept next to the value in memory only.
    derived: Any = None

    def fresh(self, now: float) -> bool:
        return now < self.expires_at


class Cache:
    def __init__(self, directory: Path | None = None, *, clock: Callable[[], float] = time.time) -> None:
        self._memory: dict[str, Entry] = {}
        self.directory = directory
        self.clock = clock
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    def get(self, key: str) -> Entry | None:
        entry = self._memory.get(key)
        if entry is None and self.directory is not None:
            entry = self._read(key)
            if entry is not None:
                self._memory[key] = entry
        return entry

    def put(self, key: str, value: Any, ttl: float, validators: dict[str, str] | None = None) -> Entry:
        entry = Entry(value, self.clock() + max(ttl, 0.0), dict(validators or {}))
        self._memory[key] = entry
        if self.directory is not None:
            self._write(key, entry)
        return entry

    @staticmethod
    def _path(directory: Path, key: str) -> Path:
        return directory / (hashlib.sha256(key.encode()).hexdigest() + ".json")

    def _read(self, key: str) -> Entry | None:
        if self.directory is None:
            return None
        try:
            data = json.loads(self._path(self.directory, key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if data.get("key") != key:
            return None
        value = data["value"]
        if data.get("bytes"):
            value = bytes.fromhex(value)
        return Entry(value, float(data["expires_at"]), dict(data.get("validators") or {}))

    def _write(self, key: str, entry: Entry) -> None:
        if self.directory is None:
            return
        value = entry.value
        record = {k: v for k, v in asdict(entry).items() if k != "derived"}
        record["key"] = key
        if isinstance(value, bytes):
            record["value"], record["bytes"] = value.hex(), True
        path = self._path(self.directory, key)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(record), encoding="utf-8")
        temporary.replace(path)
