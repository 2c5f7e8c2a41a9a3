"""Validation against the official XSDs in ../shared/specs (compiled once, no network)."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

from lxml import etree

from tests.conftest import SPECS, require, require_program

SCHEMAS = {
    "smp1": "smp1-oasis/bdx-smp-201605.xsd",
    "peppol": "peppol-smp/ServiceMetadataPublishingTypes-1.0.xsd",
    "smp2-group": "smp2-oasis/xsd/ServiceGroup-2.0.xsd",
    "smp2-metadata": "smp2-oasis/xsd/ServiceMetadata-2.0.xsd",
}


@functools.cache
def schema(name: str) -> etree.XMLSchema:
    path = SPECS / SCHEMAS[name]
    require("specs", path.is_file(), f"{path} missing (../shared/specs beside the project)")
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    return etree.XMLSchema(etree.parse(str(path), parser))


def schema_for(flavour: str, document: bytes) -> str:
    if flavour != "smp2":
        return flavour
    return "smp2-group" if b"<ServiceGroup" in document[:200] else "smp2-metadata"


def assert_valid(flavour: str, document: bytes) -> None:
    name = schema_for(flavour, document)
    validator = schema(name)
    tree = etree.fromstring(document, etree.XMLParser(no_network=True, resolve_entities=False))
    if not validator.validate(tree):
        errors = "; ".join(f"line {e.line}: {e.message}" for e in validator.error_log)
        raise AssertionError(f"not valid against {SCHEMAS[name]}: {errors}")


def xmlsec1_verify(document: bytes, trusted_ca: Path) -> subprocess.CompletedProcess:
    """Independent check: xmlsec1 trusts the embedded certificate only if it chains to ``trusted_ca``."""
    program = require_program("xmlsec1")
    return subprocess.run(
        [
            program,
            "--verify",
            "--trusted-pem",
            str(trusted_ca),
            "--enabled-key-data",
            "x509",
            "--enabled-reference-uris",
            "empty",
            "-",
        ],
        input=document,
        capture_output=True,
        timeout=30,
    )
