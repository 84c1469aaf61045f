"""The project's own hygiene: lint, layering, and the README kept in step with the code."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from model import GUARANTEES
from tests import readme_tables
from tests.readme_tables import guarantees_table, variants_table
from tests.regression.mutants import VARIANTS

ROOT = Path(__file__).resolve().parent.parent


def ruff(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("ruff", path=str(Path(sys.executable).parent)) or "ruff"
    return subprocess.run([exe, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_ruff_check_is_clean() -> None:
    done = ruff("check", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format_is_clean() -> None:
    done = ruff("format", "--check", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def imported_packages(package: str) -> set[str]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("model", {"impl", "checker", "sockcheck"}),
        ("impl", {"model", "checker", "sockcheck"}),
        ("checker", {"sockcheck"}),  # sockcheck/ is the API's thin face: it re-exports checker's
    ],
)
def test_layering(package: str, forbidden: set[str]) -> None:
    assert not imported_packages(package) & forbidden


def test_agent_uses_the_standard_library_only() -> None:
    imports = set()
    for node in ast.walk(ast.parse((ROOT / "checker" / "agent.py").read_text())):
        if isinstance(node, ast.Import):
            imports.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imports.add((node.module or "").split(".")[0])
    assert imports <= set(sys.stdlib_module_names), imports - set(sys.stdlib_module_names)


def test_readme_lists_every_guarantee_and_variant() -> None:
    """The tables are made from the code: `python -m tests.readme_tables` rewrites them."""
    readme = (ROOT / "README.md").read_text()
    assert guarantees_table() in readme
    assert variants_table() in readme
    assert readme_tables.rewrite(readme) == readme


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = next(line.strip() for line in ci.splitlines() if line.startswith("python3 -m venv"))
    assert f"    {command}\n" in readme


def test_every_guarantee_is_caught_by_a_broken_variant() -> None:
    """A guarantee no broken implementation has been seen to violate is not yet a guarantee."""
    caught = {variant.guarantee for variant in VARIANTS}
    assert caught == {guarantee.name for guarantee in GUARANTEES}
