"""The replay shrinker: smaller draws that break the same guarantee, never another one."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from checker.machine import ARGUMENTS, Counterexample, counterexample_class
from checker.minimize import draws, minimize
from checker.run import _minimized
from model import GUARANTEES, Violation

FIRST, SECOND = GUARANTEES[0], GUARANTEES[1]


def failure(guarantee: object, choices: list[int]) -> Counterexample:
    steps = [SimpleNamespace(choice=c, window=None) for c in choices]
    violation = Violation(guarantee, ("broken",))  # type: ignore[arg-type]
    return counterexample_class(guarantee)([violation], steps)  # type: ignore[arg-type, list-item]


def machine_breaking_when(needed: set[int], otherwise_without: int | None = None) -> type:
    """A stand-in machine: the first guarantee breaks at the step that completes `needed`;
    without the draw `otherwise_without`, the second one breaks there instead (a race)."""

    class Machine:
        config = SimpleNamespace(memo=True)  # replay() turns the verdict memo off meanwhile

        def __init__(self) -> None:
            assert not self.config.memo  # every replay is made for real
            self.made: list[int] = []

        def step(self, choice: int) -> None:
            self.made.append(choice)
            if needed <= set(self.made):
                if otherwise_without is not None and otherwise_without not in self.made:
                    raise failure(SECOND, self.made)
                raise failure(FIRST, self.made)

        def teardown(self) -> None:
            pass

    return Machine


def test_removes_every_step_not_needed() -> None:
    found = failure(FIRST, [7, 2 * ARGUMENTS + 1, 5, 9, 2 * ARGUMENTS + 4])
    smallest = minimize(machine_breaking_when({5, 9}), found)
    assert type(smallest) is type(found)
    assert draws(smallest) == [5, 9]


def test_simplifies_a_step_to_its_first_argument() -> None:
    found = failure(FIRST, [ARGUMENTS + 4, 9])
    smallest = minimize(machine_breaking_when({ARGUMENTS, 9}), found)
    assert draws(smallest) == [ARGUMENTS, 9]


def test_a_replay_that_breaks_another_guarantee_is_not_taken() -> None:
    found = failure(FIRST, [1, 2, 3, 5, 9])
    smallest = minimize(machine_breaking_when({5, 9}, otherwise_without=1), found)
    assert type(smallest) is type(found)
    assert draws(smallest) == [1, 5, 9]


def test_a_failure_that_no_replay_shows_is_kept_as_found() -> None:
    found = failure(FIRST, [1, 2, 3])
    assert minimize(machine_breaking_when({99}), found) is found


def test_a_window_is_one_draw_for_its_two_steps() -> None:
    """A controlled interleaving records two steps made by one draw: replayed once."""
    made = failure(FIRST, [5, 130, 130])
    made.steps[2].window = "made at once with the step before"
    assert draws(made) == [5, 130]


def test_a_failure_with_a_step_no_draw_stands_for_is_not_replayed() -> None:
    """A named step without a draw (machine.choice_of: -1) would replay as another event."""

    class Never:
        config = SimpleNamespace(memo=True)

        def __init__(self) -> None:
            raise AssertionError("replayed")

    found = failure(FIRST, [5, -1, 9])
    assert minimize(Never, found) is found  # type: ignore[arg-type]


def test_one_bound_serves_every_failure_of_a_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pass over a run's failures has one bound: where the first failure's replays spend
    it, the second is kept as Hypothesis left it; with the bound to spare, both are made
    minimal. The clock is the machine's: each step it replays takes 10 s of it."""
    clock = [0.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    base = machine_breaking_when({5, 9})

    class Slow(base):  # type: ignore[misc, valid-type]
        config = SimpleNamespace(memo=True, driver=SimpleNamespace(stop=lambda: None))

        def step(self, choice: int) -> None:
            clock[0] += 10.0
            super().step(choice)

    def made(seconds: float) -> list[list[int]]:
        found = (failure(FIRST, [1, 2, 3, 5, 9]), failure(FIRST, [4, 6, 7, 5, 9]))
        return [draws(f) for f in _minimized(Slow, found, seconds)]  # type: ignore[arg-type]

    started = clock[0]
    minimize(Slow, failure(FIRST, [1, 2, 3, 5, 9]), 10_000.0)  # type: ignore[arg-type]
    first_alone = clock[0] - started
    assert made(10_000.0) == [[5, 9], [5, 9]]
    assert made(first_alone) == [[5, 9], [4, 6, 7, 5, 9]]
