"""Counterexamples made 1-minimal by replaying their draws, without Hypothesis.

Hypothesis shrinks each failure, but it needs a target that answers the same steps the same
way. A server with a race does not: when a candidate fails differently on replay, Hypothesis
gives up on the whole run ("flaky") and leaves a longer counterexample than needed. This pass
replays a counterexample's own draws on a fresh machine and keeps any smaller set of draws
that still breaks the same guarantee: it removes one step, or two neighbouring ones, or makes
one step simpler, until none of these reproduces. Every counterexample reported has gone
through it, so "minimal" means: no single step can be removed or simplified (as far as a
replay shows; one replay per candidate).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from checker.machine import ARGUMENTS, Counterexample, RefinementMachine, TargetBroke, TargetLeftovers

Found = Counterexample | TargetBroke | TargetLeftovers
REPLAYS = 60  # per counterexample: a 20-step one needs about 20 + 20 + 20 replays a round


def draws(failure: Found) -> list[int]:
    """The draws that made a failure's steps (and, for a hang or crash, the step that broke)."""
    made = [step.choice for step in failure.steps if step.window is None]  # one draw made a window's two
    broke_at_a_step = isinstance(failure, TargetBroke) and failure.choice is not None
    return [*made, failure.choice] if broke_at_a_step else made  # type: ignore[union-attr, list-item]


def replayable(failure: Found) -> bool:
    """Whether a failure's draws replay its steps: it has some, and each of its steps was
    drawn or stands for a draw (machine.choice_of: -1 where a named step stands for none)."""
    made = draws(failure)
    return bool(made) and -1 not in made


def replay(machine_class: type[RefinementMachine], choices: list[int]) -> Found | None:
    """Run one example made of these draws, for real (no remembered verdicts); the failure
    it ends with, if any."""
    config = machine_class.config
    config.memo = False
    try:
        machine = machine_class()
        try:
            for choice in choices:
                machine.step(choice)
        finally:
            machine.teardown()
    except (Counterexample, TargetBroke, TargetLeftovers) as failure:
        return failure
    finally:
        config.memo = True
    return None


def minimize(machine_class: type[RefinementMachine], failure: Found, seconds: float = 120.0) -> Found:
    """The smallest failure of the same kind (same guarantee) reachable by single edits."""
    if not replayable(failure):
        return failure
    best = failure
    left = REPLAYS
    end = time.monotonic() + seconds
    improved = True
    while improved:
        improved = False
        for candidate in _edits(draws(best)):
            if left == 0 or time.monotonic() >= end:
                return best
            left -= 1
            found = replay(machine_class, candidate)
            if found is not None and type(found) is type(best) and _key(found) < _key(best):
                best, improved = found, True
                break
    return best


def _key(failure: Found) -> tuple[int, list[int]]:
    choices = draws(failure)
    return len(choices), choices


def _edits(choices: list[int]) -> Iterator[list[int]]:
    """Smaller variants of a list of draws, the likeliest first."""
    n = len(choices)
    for i in reversed(range(n)):  # one step fewer (the last ones are often not needed)
        yield choices[:i] + choices[i + 1 :]
    for i in reversed(range(n - 1)):  # two neighbours: a connect with its release
        yield choices[:i] + choices[i + 2 :]
    for i in range(n):  # the same action with its first argument
        simpler = choices[i] - choices[i] % ARGUMENTS
        if simpler != choices[i]:
            yield [*choices[:i], simpler, *choices[i + 1 :]]
