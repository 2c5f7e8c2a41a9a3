"""The layers point down: the use cases and everything under them run without Flask and import no face.

The faces are what answers a person or a program: the HTTP views (API, directory, console, SMP front, SML),
the CLI, the server and its health and metrics, and the glue that hands them the running app's settings
and database (``app.extensions``, ``app.auth.context``). Everything else — the use cases in
``app.operations``, the registry, publication, DNS, trust, audit, the directory's data, the wiring in
``app.database`` — must import without Flask and must never import a face, not even inside a function.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app"

FACES = (
    "app.api",
    "app.ui",
    "app.cli",
    "app.server",
    "app.worker",
    "app.health",
    "app.metrics",
    "app.limits",
    "app.requestlog",
    "app.extensions",
    "app.auth.context",
    "app.smp_front",
    "app.directory.views",
    "app.directory.answers",
    "app.directory.openapi",
    "app.sml.views",
)
#: Not layers of their own: the package's create_app builds the faces (it imports them when called), and
#: the wiring installs what a write sets off (it imports the capabilities it wires).
ENTRY = ("app", "app.wiring")


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_face(name: str) -> bool:
    return any(name == face or name.startswith(face + ".") for face in FACES)


def _lower_modules() -> list[str]:
    names = [_module(path) for path in sorted(APP.rglob("*.py"))]
    return [n for n in names if not _is_face(n) and n not in ENTRY and not n.startswith("app.client")]


def _imports(module: str) -> set[str]:
    path = ROOT / Path(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_nothing_below_the_faces_imports_a_face():
    pointing_up = {module: sorted(name for name in _imports(module) if _is_face(name)) for module in _lower_modules()}
    assert {module: names for module, names in pointing_up.items() if names} == {}


def test_the_use_cases_and_everything_under_them_import_without_flask():
    modules = _lower_modules()
    assert "app.operations.organisations" in modules and "app.database" in modules
    code = f"""
import importlib, sys
class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("flask", "flask_smorest", "werkzeug", "webargs", "authlib", "gunicorn"):
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Blocked())
failed = []
for name in {modules!r}:
    try:
        importlib.import_module(name)
    except ImportError as error:
        failed.append(f"{{name}}: {{error}}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_trust_is_pure():
    """Certificate checks take their anchors as arguments: trust reads no registry and opens no session."""
    for path in sorted((APP / "trust").glob("*.py")):
        imported = _imports(_module(path))
        reaching = sorted(n for n in imported if n.startswith(("app.registry", "app.database", "sqlalchemy")))
        assert reaching == [], f"{path.name} imports {reaching}"
