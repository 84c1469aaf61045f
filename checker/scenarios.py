"""The reference notes' black-box recipes as scripted step sequences, replayed in each matrix cell.

The random search finds most divergences, but one seed can miss even a short sequence, and
a version matrix must not depend on luck for the history it shows. Each scenario here is one
recipe of the reference notes (the section it comes from is named), written in the machine's
own actions, so it runs through the same driver and is judged by the same guarantees as any
drawn example: against `documented` it shows where a version differs, against the version's
own profile it must pass like any other run.
"""

from __future__ import annotations

import attrs

from checker.driver import Driver
from checker.machine import (
    Action,
    Counterexample,
    RunConfig,
    StepNotAllowed,
    TargetBroke,
    TargetLeftovers,
    machine_for,
)
from checker.results import failure_json, failure_lines
from model import Kind, Outcome, Profile, Transport

RETURN, RAISE, EXIT = Outcome.RETURN, Outcome.RAISE, Outcome.EXIT

# One step: an action, its variant (as the machine reads it), and its value or worker index.
Step = tuple[Action, Outcome, bool | int]


@attrs.frozen
class Scenario:
    name: str
    recipe: str  # what it does, in words
    where: str  # the reference notes' section
    kinds: tuple[Kind, ...]
    steps: tuple[Step, ...]
    streams_only: bool = False  # it needs a connection a closed server could still accept


BOTH = (Kind.THREAD, Kind.FORK)
CONNECT: Step = (Action.CONNECT, RETURN, False)
CLOSE: Step = (Action.CLOSE, RETURN, False)
SPAWN_FAILS: Step = (Action.CONNECT, EXIT, False)


def _set(action: Action, value: bool | int) -> Step:
    return (action, RETURN, value)


def _release(outcome: Outcome = RETURN, index: int = 0) -> Step:
    return (Action.RELEASE, outcome, index)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "close-while-a-request-runs",
        "connect; server_close() while its handler runs",
        "2.1, 2.2 (bpo-31151, bpo-31233)",
        BOTH,
        (CONNECT, CLOSE),
    ),
    Scenario(
        "block_on_close-true-at-spawn-false-at-close",
        "connect; block_on_close = False; server_close()",
        "4.6, E4 (bpo-33540)",
        BOTH,
        (CONNECT, _set(Action.SET_BLOCK_ON_CLOSE, False), CLOSE),
    ),
    Scenario(
        "block_on_close-false-at-spawn-true-at-close",
        "block_on_close = False; connect; block_on_close = True; server_close()",
        "4.6, E4 (bpo-33540)",
        BOTH,
        (_set(Action.SET_BLOCK_ON_CLOSE, False), CONNECT, _set(Action.SET_BLOCK_ON_CLOSE, True), CLOSE),
    ),
    Scenario(
        "finished-thread-then-a-spawn",
        "connect; its handler returns; connect",
        "2.4, E5 (bpo-37193)",
        (Kind.THREAD,),
        (CONNECT, _release(), CONNECT),
    ),
    Scenario(
        "close-after-a-thread-failed-to-start",
        "connect whose thread cannot start; server_close()",
        "4.6, E20",
        (Kind.THREAD,),
        (SPAWN_FAILS, CLOSE),
    ),
    Scenario(
        "close-from-a-handler",
        "connect; connect; the second handler calls server_close(); the first returns",
        "4.6, E13",
        (Kind.THREAD,),
        (CONNECT, CONNECT, (Action.CLOSE, EXIT, 1), _release()),
    ),
    Scenario(
        "handler-raises-systemexit",
        "connect; its handler raises SystemExit",
        "2.10 (bpo-23430)",
        BOTH,
        (CONNECT, _release(EXIT)),
    ),
    Scenario(
        "handle_request-beyond-max_children",
        "connect; max_children = 1; connect (handle_request() alone)",
        "2.8, E6 (bpo-11109)",
        (Kind.FORK,),
        (CONNECT, _set(Action.SET_MAX_CHILDREN, 1), CONNECT),
    ),
    Scenario(
        "non-blocking-close-at-max_children",
        "connect; max_children = 1; block_on_close = False; server_close()",
        "4.7, E26",
        (Kind.FORK,),
        (CONNECT, _set(Action.SET_MAX_CHILDREN, 1), _set(Action.SET_BLOCK_ON_CLOSE, False), CLOSE),
    ),
    Scenario(
        "child-holds-the-closed-listener",
        "connect; block_on_close = False; server_close(); connect to the closed server",
        "2.13, E9",
        (Kind.FORK,),
        (CONNECT, _set(Action.SET_BLOCK_ON_CLOSE, False), CLOSE, CONNECT),
        streams_only=True,
    ),
    Scenario(
        "idle-loop-reaps",
        "connect; its handler returns; serve_forever()",
        "2.8, E7 (bpo-11109)",
        (Kind.FORK,),
        (CONNECT, _release(), (Action.SERVE, RETURN, False)),
    ),
)


def applies(scenario: Scenario, kind: Kind, transport: Transport) -> bool:
    return kind in scenario.kinds and (transport.stream or not scenario.streams_only)


def replay(driver: Driver, profile: Profile, kind: Kind, transport: Transport, scenario: Scenario) -> dict:
    """Run one scenario for real; what it broke, as the matrix's JSON has it."""
    config = RunConfig(driver=driver, profile=profile, kind=kind, transport=transport, memo=False)
    machine = machine_for(config)()
    failure: Counterexample | TargetBroke | TargetLeftovers | None = None
    ran = 0
    try:
        for action, outcome, value in scenario.steps:
            index = value if action in (Action.RELEASE, Action.CLOSE) and isinstance(value, int) else 0
            try:
                failure = machine.play(action, outcome, value, int(index))
            except StepNotAllowed:
                return {"name": scenario.name, "ran": False, "why": f"step {ran + 1} is not allowed here"}
            ran += 1
            if failure is not None:
                break
    finally:
        try:
            machine.teardown()
        except TargetLeftovers as leftovers:
            failure = failure or leftovers
    result: dict = {"name": scenario.name, "ran": True, "steps": ran, "broken": None, "text": []}
    if failure is not None:
        result["broken"] = failure_json(failure)["guarantee"] or failure_json(failure)["kind"]
        result["text"] = failure_lines(failure)
    return result
