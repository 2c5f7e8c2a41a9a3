"""Signing on every core when thousands of documents change at once (an endpoint moved, a key rotated).

RSA signing is the bulk of re-publishing: one RSA-2048 signature costs about as much as rendering,
canonicalising and storing the document together. A pool of processes, each holding the same key,
signs the unsigned bytes it is sent and returns exactly the bytes :meth:`Signer.sign` would have
returned in the calling process (the signature scheme is deterministic; a test compares them).

The pool uses the ``forkserver`` start method: the service runs threads (gunicorn gthread, the DB
pool), and forking a threaded process can copy a held lock. As with every such pool, a program that
re-publishes in bulk must guard its main module (``if __name__ == "__main__":``); the CLI, gunicorn and
pytest do.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from app.publishing.keys import SigningCredentials
from app.publishing.signing import Signer

#: Below this many documents a pool costs more to start (≈ 0.5 s) than it saves.
MIN_DOCUMENTS = 600

_signer: Signer | None = None
#: Our own serialised documents: no network, no entities to resolve.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _start(key_pem: bytes, certificate_pem: bytes) -> None:
    global _signer
    key = serialization.load_pem_private_key(key_pem, password=None)
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    _signer = Signer(SigningCredentials(key, certificate, (), "signing pool", False))  # type: ignore[arg-type]


def _sign(batch: list[tuple[bytes, str]]) -> list[bytes]:
    if _signer is None:
        raise RuntimeError("the signing pool's worker was not started with a key")
    return [_signer.sign(etree.fromstring(unsigned, _PARSER), method) for unsigned, method in batch]


class SigningPool:
    """``processes`` workers signing with ``signer``'s key; use as a context manager."""

    def __init__(self, signer: Signer, processes: int) -> None:
        credentials = signer.credentials
        key_pem = credentials.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        certificate_pem = credentials.certificate.public_bytes(serialization.Encoding.PEM)
        self.processes = processes
        self._executor = ProcessPoolExecutor(
            processes,
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=_start,
            initargs=(key_pem, certificate_pem),
        )

    def submit(self, items: list[tuple[bytes, str]]) -> list[Future[Any]]:
        """Sign ``(unsigned document, canonicalisation)`` items, spread over the workers, in order."""
        size = max(1, -(-len(items) // self.processes))
        return [self._executor.submit(_sign, items[i : i + size]) for i in range(0, len(items), size)]

    def __enter__(self) -> SigningPool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def collect(futures: list[Future[Any]]) -> list[bytes]:
    return [body for future in futures for body in future.result()]
