"""sockcheck explore and sockcheck docs from the command line: what they print and write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checker import cli


def test_explore_prints_states_transitions_speed_and_a_verdict_per_guarantee(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dot, report = tmp_path / "states.dot", tmp_path / "explore.json"
    args = ["explore", "--workers", "1", "--profile", "documented", "--kind", "thread"]
    assert cli.main([*args, "--dot", str(dot), "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "states/s" in out and "transitions" in out
    assert "close-waits                      ok in all 1" in out
    assert "every phase x event type has a cell" in out
    assert dot.read_text().startswith("digraph socketserver {") and '"closed"' in dot.read_text()
    (found,) = json.loads(report.read_text())["explorations"]
    assert found["states"] > 500 and found["complete"] and found["violations"] == {}


def test_profiles_the_model_cannot_tell_apart_are_explored_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["explore", "--workers", "1", "--steps", "3", "--kind", "fork", "--jobs", "1"]) == 0
    err = capsys.readouterr().err
    assert "explored cpython-3.8 fork" in err and "explored cpython-3.12 fork" not in err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["explore", "--profile", "cpython-9.9"], "no profile 'cpython-9.9'"),
        (["explore", "--workers", "0"], "positive whole number"),
    ],
)
def test_bad_explore_arguments_exit_2(
    args: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1
