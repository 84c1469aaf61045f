"""The verdict memo: the same draws get the verdict of their first run, whatever a racy
target does on the repeat, and what a repeat shows otherwise is kept for the report."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from checker.machine import Failure, RefinementMachine, RunConfig, counterexample_class
from model import DOCUMENTED, GUARANTEES, Kind, Violation

BROKEN = GUARANTEES[0]


class StubDriver:
    def start(self, kind: str, transport: str) -> str:
        return "StubServer"

    def stop(self) -> list[str]:
        return []


def machine(script: dict[int, bool]) -> tuple[type[RefinementMachine], RunConfig, list[int]]:
    """A machine whose step with draw d breaks BROKEN when script[d] says so (the script can
    be changed between runs, as a racy target changes its answers). It records the draws it
    really performed."""
    config = RunConfig(driver=StubDriver(), profile=DOCUMENTED, kind=Kind.THREAD)  # type: ignore[arg-type]
    performed: list[int] = []

    class Scripted(RefinementMachine):
        def _step(self, choice: int) -> Failure | None:
            performed.append(choice)
            if not script.get(choice):
                return None
            steps: Any = [SimpleNamespace(choice=c) for c in self.draws]
            return counterexample_class(BROKEN)([Violation(BROKEN, ("broken",))], steps)

    Scripted.config = config
    return Scripted, config, performed


def run(machine_class: type[RefinementMachine], draws: list[int]) -> BaseException | None:
    m = machine_class()
    try:
        for d in draws:
            m.step(d)
    except Exception as failure:
        return failure
    finally:
        m.teardown()
    return None


def test_a_repeat_of_a_failing_prefix_fails_the_same_way_without_running_the_step() -> None:
    script = {2: True}
    machine_class, config, performed = machine(script)
    first = run(machine_class, [1, 2])
    assert first is not None
    script[2] = False  # the race goes the other way now
    performed.clear()
    again = run(machine_class, [1, 2])
    assert again is first  # the first verdict, raised again
    assert performed == [1]  # the failing step was not run again
    assert config.contradicted == 0


def test_a_repeat_that_fails_where_the_first_run_went_on_is_counted_and_kept_not_raised() -> None:
    script: dict[int, bool] = {}
    machine_class, config, performed = machine(script)
    assert run(machine_class, [1, 2, 3]) is None
    script[2] = True
    performed.clear()
    assert run(machine_class, [1, 2, 3]) is None  # as the first run: it went on
    assert performed == [1, 2]  # past the contradiction the real steps are not made
    assert config.contradicted == 1
    [kept] = config.unraised
    assert [s.choice for s in kept.steps] == [1, 2]


def test_new_draws_are_run_for_real_and_remembered() -> None:
    script = {3: True}
    machine_class, config, performed = machine(script)
    assert run(machine_class, [1, 2]) is None
    failure = run(machine_class, [1, 3])
    assert failure is not None and performed == [1, 2, 1, 3]
    assert config.verdicts[(1,)] is None and config.verdicts[(1, 3)] is failure


@pytest.mark.parametrize("memo", [True, False])
def test_without_the_memo_every_step_is_run_for_real(memo: bool) -> None:
    script = {2: True}
    machine_class, config, performed = machine(script)
    run(machine_class, [1, 2])
    config.memo = memo
    script[2] = False
    performed.clear()
    again = run(machine_class, [1, 2])
    assert (again is not None) is memo
    assert performed == ([1] if memo else [1, 2])
