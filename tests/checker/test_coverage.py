"""Coverage of the model by real runs: every transition the explorer reaches is taken, by the
search or after it; and a named step stands for the very event the explorer made."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from checker.coverage import as_step
from checker.machine import RefinementMachine, choice_of, decode
from checker.replay import read_script, replay_times
from model import DOCUMENTED, PROFILES, Kind, step
from model.explore import Bounds, canonical, events
from model.state import State
from tests.regression.mutants import VARIANTS


class _NoDriver:
    info = None


def _bare_machine(state: State) -> RefinementMachine:
    """A machine that only maps named steps to events (no agent, no server)."""
    machine = RefinementMachine.__new__(RefinementMachine)
    machine.state, machine.driver, machine.probes = state, _NoDriver(), 0  # type: ignore[assignment]
    machine.profile = DOCUMENTED
    return machine


@pytest.mark.parametrize("kind", list(Kind), ids=lambda k: k.value)
@pytest.mark.parametrize("name", ["documented", "cpython-3.8", "cpython-2.7"])
def test_each_event_the_explorer_makes_is_the_named_step_as_step_says(name: str, kind: Kind) -> None:
    profile, bounds = PROFILES[name], Bounds(workers=2)
    frontier, seen, checked = [State.initial(kind)], set(), 0
    while frontier and checked < 3000:
        state = frontier.pop()
        for event in events(profile, state, bounds):
            action, outcome, value, index = as_step(state, event)
            made = _bare_machine(state)._candidate(action, index, outcome, value)
            assert made is not None and made[0] == event, (state, event, action, outcome, value, index)
            # and one draw stands for it too, so a failure of named steps replays from its draws
            choice = choice_of(state, action, outcome, value, index)
            action, outcome, value, index = decode(state, choice)
            drawn = _bare_machine(state)._candidate(action, index, outcome, value)
            assert drawn is not None and drawn[0] == event, (state, event, choice)
            checked += 1
            after = canonical(step(profile, state, event), bounds)
            if after not in seen:
                seen.add(after)
                frontier.append(after)
    assert checked >= 1000


SOCKCHECK = [sys.executable, "-m", "checker.cli", "check"]


def _coverage(tmp_path: Path, *args: str) -> list[dict]:
    report = tmp_path / "report.json"
    done = subprocess.run(
        [*SOCKCHECK, *args, "--json", str(report)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode in (0, 1), done.stderr
    assert "model transitions:" in done.stdout
    return list(json.loads(report.read_text())["results"])


@pytest.mark.parametrize("kind", ["thread", "fork"])
def test_a_short_check_still_takes_every_reachable_transition(kind: str, tmp_path: Path) -> None:
    results = _coverage(tmp_path, "--target", "impl", "--kind", kind, "--examples", "5", "--seed", "1")
    assert [r["coverage"]["share"] for r in results] == [1.0] and results[0]["passed"]
    searched = _coverage(
        tmp_path, "--target", "impl", "--kind", kind, "--examples", "5", "--seed", "1", "--no-cover"
    )
    assert searched[0]["coverage"]["share"] < 1.0 and searched[0]["coverage"]["missed"]
    cases, partly = results[0]["coverage"]["guarantee_cases"], searched[0]["coverage"]["guarantee_cases"]
    assert cases["taken"] == cases["at_stake"] > 100 and partly["taken"] < partly["at_stake"]


def test_what_the_search_misses_the_rest_finds(tmp_path: Path) -> None:
    """A bug on a transition one example of the search does not take: found only after it."""
    variant = next(v for v in VARIANTS if v.name == "handle-error-prints-nothing")
    module = variant.write(tmp_path)
    args = ("--module", str(module), "--kind", "thread", "--examples", "1", "--seed", "0")
    assert all(r["passed"] for r in _coverage(tmp_path, *args, "--no-cover"))
    failures = [f for r in _coverage(tmp_path, *args) for f in r["failures"]]
    assert [f["guarantee"] for f in failures] == ["handle-error-prints"]
    assert len(failures[0]["steps"]) == variant.steps
    # Its steps were named, not drawn (RefinementMachine.play): their draws replay them all the same.
    assert failures[0]["confirmed"]["label"] == "deterministic", failures[0]["confirmed"]
    assert replay_times(read_script(Path(failures[0]["replay_script"])), 1).reproduced == 1
