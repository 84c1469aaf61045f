"""`sockcheck matrix` for real, on a small plan: the 3.6 line (if found) and the running
interpreter, thread servers over TCP, and one interpreter that is not there."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from checker.interpreters import discover
from tests.regression.test_variants import sockcheck


def newest_36() -> str | None:
    found = [i for i in discover() if i.implementation == "cpython" and i.version[:2] == (3, 6)]
    return found[-1].executable if found else None


def test_matrix_checks_each_interpreter_against_its_profile_and_documented(tmp_path: Path) -> None:
    old = newest_36()
    if old is None:
        pytest.skip("no CPython 3.6 on PATH or in a pyenv root")
    missing = str(tmp_path / "python3.99")
    out = tmp_path / "matrix.json"
    args = ["--python", old, "--python", sys.executable, "--python", missing]
    done = sockcheck(
        "matrix", *args, "--kind", "thread", "--transport", "tcp", "--examples", "30", "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert f"sockcheck matrix: skipping {missing}: {missing}: no such file" in done.stderr
    assert "[2/2] " in done.stderr  # progress, a line per cell
    data = json.loads(out.read_text())
    columns = {c["name"]: c for c in data["columns"]}
    assert columns[missing]["skipped"] == f"{missing}: no such file"
    assert columns[old]["profile"] == "cpython-3.6"
    cells = {data["columns"][c["column"]]["name"]: c for c in data["cells"]}
    assert set(cells) == {old, sys.executable}
    for cell in cells.values():
        assert cell["own"]["passed"], cell["own"]
    # the history: 3.6 does not wait at close (bpo-31233 was fixed in 3.7); 3.7+ raises at a
    # close after a thread failed to start, where the documentation promises nothing of it
    assert "close-waits" in cells[old]["documented"]["broken"]
    assert "close-waits" not in cells[sys.executable]["documented"]["broken"]
    assert "close-raises-nothing" in cells[sys.executable]["documented"]["broken"]


def test_matrix_with_nothing_to_check_exits_2(tmp_path: Path) -> None:
    done = sockcheck("matrix", "--python", str(tmp_path / "nope"), "--kind", "thread", "--transport", "tcp")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("sockcheck: no interpreter to check")
    assert "Traceback" not in done.stderr


def test_matrix_refuses_an_unknown_report_format(tmp_path: Path) -> None:
    done = sockcheck("matrix", "--out", str(tmp_path / "m.txt"))
    assert done.returncode == 2
    assert done.stderr == f"sockcheck: --out {tmp_path / 'm.txt'}: expected a .md, .html or .json file\n"
