"""Every command the README and docs show runs against the served instance (see ``documented.py``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from app.trust.devpki import DevelopmentPki, KeyPair, issue_ca, issue_leaf
from tests.conftest import require_program
from tests.processes import EXECUTABLE
from tests.served.documented import ROOT, Block, command_blocks, console_examples, documents, matches

_PRELUDE = r"""
set -euo pipefail
trap 'echo "failed at: $BASH_COMMAND" >&2' ERR
# A reader sees an HTTP error; here it fails the example.
curl() { command curl --silent --show-error --fail-with-body "$@"; }
# dig exits 0 on NXDOMAIN, REFUSED or a failed transfer: those fail the example too.
dig() {
  local out
  out=$(command dig +time=2 +tries=1 "$@") || { printf '%s\n' "$out"; return 1; }
  printf '%s\n' "$out"
  [ -n "$out" ] || return 1
  ! grep -qE 'status: (NXDOMAIN|SERVFAIL|REFUSED|FORMERR|NOTIMP)|Transfer failed|communications error|timed out' \
    <<<"$out"
}
"""


def localise(text: str, served) -> str:
    """The docs show ``make run``'s addresses; the served instance listens on free ports."""
    return (
        text.replace(".venv/bin/sdk-addressbook", "sdk-addressbook")
        .replace("127.0.0.1:8080", f"127.0.0.1:{served.http_port}")
        .replace("-p 5353", f"-p {served.dns_port}")
        .replace("127.0.0.1:5353", f"127.0.0.1:{served.dns_port}")
    )


def _environ(served, *, make_run: bool = False) -> dict[str, str]:
    environ = served.environ
    environ["PATH"] = f"{Path(EXECUTABLE).parent}:{environ.get('PATH', '/usr/bin:/bin')}"
    if make_run:
        environ.pop("SDK_PUBLIC_URL")
    return environ


def _shell_documents() -> list[Path]:
    return [path for path in documents() if any(_runs(block, "sh") for block in command_blocks() if block.file == path)]


def _runs(block: Block, language: str) -> bool:
    return block.language == language and block.not_run is None


def test_every_command_block_runs_or_names_the_test_that_covers_it():
    blocks = command_blocks()
    assert len([b for b in blocks if b.not_run is None]) >= 12
    for block in blocks:
        if block.not_run is None or block.covered_by is None:
            continue
        path, name = block.covered_by.split("::")
        assert f"def {name}(" in (ROOT / path).read_text(), f"{block.where}: {block.covered_by} does not exist"


@pytest.mark.parametrize("document", _shell_documents(), ids=lambda path: path.name)
def test_the_shell_examples_of(document, served, federation, tmp_path):
    for program in ("curl", "dig", "jq"):
        require_program(program)
    _files_the_docs_name(tmp_path, served)
    parts = [_PRELUDE]
    for block in command_blocks():
        if block.file == document and _runs(block, "sh"):
            parts.append(f"echo '### {block.where}' >&2\n{localise(block.text, served)}")
    result = subprocess.run(
        ["bash", "-c", "\n".join(parts)],
        cwd=tmp_path,
        env=_environ(served),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{result.stderr[-3000:]}\n--- output:\n{result.stdout[-3000:]}"


def test_the_console_examples(served, tmp_path):
    examples = [
        (block, example) for block in command_blocks() if _runs(block, "console") for example in console_examples(block)
    ]
    assert examples
    for block, (command, expected) in examples:
        result = subprocess.run(
            ["bash", "-c", localise(command, served)],
            cwd=tmp_path,
            env=_environ(served, make_run=True),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        shown = [localise(line, served) for line in expected]
        actual = (result.stdout + result.stderr).splitlines()
        assert len(actual) == len(shown) and all(map(matches, shown, actual)), (
            f"{block.where}: $ {command}\nshown:\n" + "\n".join(shown) + "\nprinted:\n" + "\n".join(actual)
        )


def _files_the_docs_name(folder: Path, served) -> None:
    """``new-ap-ca.pem`` (operator.md): a new CA certificate the operator adds as a trust anchor;
    ``smp-exempel.pem`` (sml.md): an SMP's client certificate from the instance's SMP CA."""
    target = KeyPair(folder / "new-ap-ca.key", folder / "new-ap-ca.pem")
    issue_ca(target, f"Ny AP CA {folder.name}")
    smp_ca = DevelopmentPki(served.folder / "instance" / "pki").smp_ca
    issue_leaf(
        smp_ca, KeyPair(folder / "smp-exempel.key", folder / "smp-exempel.pem"), "SMP-EXEMPEL", usage="smp-signing"
    )
