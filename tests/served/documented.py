"""The commands the README and ``docs/*.md`` show, read from their fenced blocks.

- A ```` ```sh ```` block is a script a reader would paste: the blocks of one file run in order in one
  shell against the served instance (variables set in one block are there in the next).
- A ```` ```console ```` block shows ``$ command`` lines and what they print: the command runs, and its
  output (standard output and error together) must be what is shown, ``…`` standing for any text.
  Console examples show a ``make run`` instance, where ``SDK_PUBLIC_URL`` is not set.
- A block that cannot run here says so on the line before its fence, with the reason and the test that
  covers it instead: ``<!-- not run: needs a Kubernetes cluster (tests/test_helm_chart.py::test_x) -->``.
Other blocks (json, yaml, zone files, diagrams) are not commands.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMAND_LANGUAGES = ("sh", "console")
_FENCE = re.compile(r"^```(\S*)\s*$")
_NOT_RUN = re.compile(r"^<!-- not run: (?P<reason>.+?)(?: \((?P<test>tests/[\w/]+\.py::\w+)\))? -->$")


@dataclass(frozen=True)
class Block:
    file: Path
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    not_run: str | None  # the reason, when the block is marked as not run here
    covered_by: str | None  # tests/…py::test_name that covers a block not run here

    @property
    def where(self) -> str:
        return f"{self.file.relative_to(ROOT)}:{self.line}"


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def blocks(path: Path) -> list[Block]:
    found: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index].strip())  # a fence may be indented (inside a list item)
        if not opening:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith("```"):
            end += 1
        previous = lines[index - 1].strip() if index else ""
        marker = _NOT_RUN.match(previous)
        found.append(
            Block(
                file=path,
                line=index + 1,
                language=opening.group(1),
                text=textwrap.dedent("\n".join(lines[index + 1 : end])) + "\n",
                not_run=marker.group("reason") if marker else None,
                covered_by=marker.group("test") if marker else None,
            )
        )
        index = end + 1
    return found


def command_blocks() -> list[Block]:
    return [block for path in documents() for block in blocks(path) if block.language in COMMAND_LANGUAGES]


def console_examples(block: Block) -> list[tuple[str, list[str]]]:
    """``(command, expected output lines)`` for each ``$ `` line of a console block."""
    examples: list[tuple[str, list[str]]] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            examples.append((line[2:], []))
        elif examples:
            examples[-1][1].append(line)
    return examples


def matches(expected: str, actual: str) -> bool:
    """One shown output line against the real one: exact, but ``…`` matches any text."""
    pattern = ".*".join(re.escape(part) for part in expected.split("…"))
    return re.fullmatch(pattern, actual) is not None
