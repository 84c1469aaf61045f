"""The replay shrinker: smaller draws that break the same guarantee, never another one."""

from __future__ import annotations

from types import SimpleNamespace

from checker.machine import ARGUMENTS, Counterexample, counterexample_class
from checker.minimize import draws, minimize
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
