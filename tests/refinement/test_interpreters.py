"""Other interpreters' stdlib refines the profile of its line, chosen by --profile auto.

By default one interpreter per profile line is checked (the newest found of each);
SOCKCHECK_ALL_PYTHONS=1 checks every one found. Lines with no interpreter here are skipped
with the reason.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

import pytest

from checker.interpreters import Interpreter, discover
from model import profile_for_version
from tests.regression.test_variants import sockcheck

ALL = os.environ.get("SOCKCHECK_ALL_PYTHONS") == "1"
LINES = ("cpython-2.7", "cpython-3.6", "cpython-3.7", "cpython-3.8", "cpython-3.12")


@functools.cache
def found() -> tuple[Interpreter, ...]:
    return tuple(i for i in discover() if i.implementation == "cpython")


def under_test(line: str) -> list[Interpreter]:
    of_line = [i for i in found() if (p := profile_for_version(i.version)) is not None and p.name == line]
    return of_line if ALL else of_line[-1:]


def cases() -> list[object]:
    params: list[object] = []
    for line in LINES:
        chosen = under_test(line)
        params += [pytest.param(i, line, id=i.label.replace(" ", "-")) for i in chosen]
        if not chosen:
            reason = f"no interpreter of the {line} line on PATH or in a pyenv root"
            params.append(pytest.param(None, line, id=line, marks=pytest.mark.skip(reason=reason)))
    return params


@pytest.mark.parametrize(("interpreter", "line"), cases())
def test_an_interpreter_refines_the_profile_of_its_line(
    interpreter: Interpreter, line: str, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    args = ["--target", interpreter.executable, "--kind", "both", "--examples", "25", "--seed", "0"]
    done = sockcheck("check", *args, "--json", str(report))
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(report.read_text())
    assert data["python"]["version"] == list(interpreter.version)
    assert {r["profile"] for r in data["results"]} == {line}


def test_a_module_without_the_forking_unix_classes_lacks_what_3_12_provides(tmp_path: Path) -> None:
    if sys.version_info >= (3, 12):
        pytest.skip("the running interpreter has ForkingUnixStreamServer")
    report = tmp_path / "report.json"
    args = ["--profile", "cpython-3.12", "--kind", "fork", "--transport", "unix", "--examples", "3"]
    done = sockcheck("check", *args, "--json", str(report))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "a class is missing: the module has no ForkingUnixStreamServer, which cpython-3.12" in done.stdout
    (result,) = json.loads(report.read_text())["results"]
    assert [f["kind"] for f in result["failures"]] == ["missing-class"]
    # the same class composed from its parts refines the profile otherwise
    assert result["steps"] > 0 and result["server_class"] == "ForkingUnixStreamServer (composed)"
