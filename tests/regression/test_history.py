"""Every historical bug, put back into its own CPython line's socketserver.py, is found.

Each test runs the real command line, `sockcheck check --target PYTHON --module COPY`, on a
copy of that interpreter's own module with the entry's replacements made, and reads its
--json report: exit status 1, the named guarantee broken, by a counterexample of exactly the
minimal length. Per interpreter used, the unmodified copy passes. An interpreter that is not
installed skips its entries, naming the line.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from checker.interpreters import Interpreter
from tests.regression.history import HISTORY, Entry, check, interpreter, module_file
from tests.regression.test_variants import assert_confirmed_and_replayable, check_json, found

LINES = sorted(
    {e.line for e in HISTORY if not e.missing()}, key=lambda line: tuple(map(int, line.split(".")))
)
CLEAN_EXAMPLES = 10  # a false alarm of these profiles shows in the first few examples


def _installed(line: str) -> Interpreter:
    python = interpreter(line)
    if python is None:
        pytest.skip(f"no CPython {line} found (python{line} on PATH or in a pyenv root)")
    return python


@pytest.mark.parametrize("entry", HISTORY, ids=lambda e: e.name)
def test_replacements_apply_to_their_own_module(entry: Entry) -> None:
    """Also for an entry the checker cannot find yet: its bug stays written down exactly."""
    entry.mutate(module_file(_installed(entry.line)).read_text())


@pytest.mark.parametrize("entry", HISTORY, ids=lambda e: e.name)
def test_historical_bug_is_found_minimally(entry: Entry, tmp_path: Path) -> None:
    why = entry.missing()
    if why is not None:
        pytest.skip(f"{entry.issue}: the checker needs {why}")
    status, report = check(entry, _installed(entry.line), tmp_path)
    assert status == 1
    assert report["python"]["version"][:2] == [int(part) for part in entry.line.split(".")]
    broken = found(report)
    assert entry.guarantee in broken, broken
    assert broken[entry.guarantee] == entry.steps, broken
    assert_confirmed_and_replayable(report, entry.guarantee)


@pytest.mark.parametrize("line", LINES)
def test_unmodified_copy_refines(line: str, tmp_path: Path) -> None:
    """No false alarm: the same copy, unmodified, in the same interpreter, passes."""
    python = _installed(line)
    module = tmp_path / "socketserver.py"
    shutil.copy(module_file(python), module)
    status, report = check_json(module, "both", tmp_path, CLEAN_EXAMPLES, target=python.executable)
    assert status == 0, found(report)
    assert [r["kind"] for r in report["results"]] == ["thread", "fork"]
