"""No false alarm: impl refines `documented`, the running stdlib refines its own profile.

These run the checker in-process (the library, not the command line), over several seeds.
`SOCKCHECK_EXAMPLES` raises the number of examples per run for a heavier, opt-in check.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from checker.driver import Driver
from checker.machine import Action, Counterexample, RefinementMachine, RunConfig, StepNotAllowed, machine_for
from checker.results import failure_lines
from checker.run import KindResult, check_kind
from checker.targets import resolve
from model import (
    DOCUMENTED,
    Event,
    Kind,
    Outcome,
    Profile,
    Transport,
    outside_contract,
    profile_for_version,
)

EXAMPLES = int(os.environ.get("SOCKCHECK_EXAMPLES", "40"))
# Two seeds on TCP, one on each other transport: the transports share all but the socket.
# One more on TCP in misuse mode: calls outside the contract, as BaseServer answers them.
RUNS = [
    (Transport.TCP, 0, False),
    (Transport.TCP, 1, False),
    (Transport.UDP, 0, False),
    (Transport.UNIX, 0, False),
    (Transport.UNIX_DATAGRAM, 0, False),
    (Transport.TCP, 2, True),
]


@pytest.fixture(scope="module", params=["impl", "stdlib"])
def driver(request: pytest.FixtureRequest) -> Iterator[Driver]:
    driver = Driver(resolve(request.param, None), deadline=1.0)
    driver.load()
    yield driver
    driver.quit()


@pytest.mark.parametrize(
    ("transport", "seed", "misuse"),
    RUNS,
    ids=[f"{t.value}-{s}" + ("-misuse" if m else "") for t, s, m in RUNS],
)
@pytest.mark.parametrize("kind", [Kind.THREAD, Kind.FORK], ids=lambda k: k.value)
def test_target_refines_its_profile(
    driver: Driver, kind: Kind, transport: Transport, seed: int, misuse: bool
) -> None:
    result = check_kind(
        driver, _profile(driver), kind, transport=transport, examples=EXAMPLES, seed=seed, misuse=misuse
    )
    assert result.passed, _report(result)
    assert result.examples >= EXAMPLES
    assert result.steps > result.examples  # the examples did something


def _report(result: KindResult) -> str:
    """A failed run's counterexamples, as the command line prints them."""
    return "\n".join(line for failure in result.failures for line in failure_lines(failure))


def _profile(driver: Driver) -> Profile:
    if driver.target.label == "impl":
        return DOCUMENTED
    profile = profile_for_version(sys.version_info[:3])
    assert profile is not None
    return profile


@pytest.mark.parametrize("misuse", [False, True], ids=["default", "misuse"])
def test_calls_outside_the_contract_are_made_only_in_misuse_mode(
    driver: Driver, misuse: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside: list[str] = []
    do = RefinementMachine._do

    def recording(machine: RefinementMachine, event: Event, *args: Any, **kwargs: Any) -> None:
        reason = outside_contract(machine.state, event)
        if reason is not None:
            outside.append(reason)
        do(machine, event, *args, **kwargs)

    monkeypatch.setattr(RefinementMachine, "_do", recording)
    # enough examples that a close under a running loop comes up too (it needs both in turn)
    result = check_kind(driver, _profile(driver), Kind.THREAD, examples=100, seed=3, misuse=misuse)
    assert result.passed, _report(result)
    if misuse:  # both kinds of misuse were made
        assert {reason.split()[0] for reason in outside} == {"shutdown()", "server_close()"}, outside
    else:
        assert outside == []


def replay(
    driver: Driver,
    profile: Profile,
    kind: Kind,
    actions: list[tuple[Action, bool]],
    transport: Transport = Transport.TCP,
) -> str | None:
    """Run fixed steps through the refinement machine; the guarantee broken, if any."""
    machine = machine_for(RunConfig(driver=driver, profile=profile, kind=kind, transport=transport))()
    try:
        for action, value in actions:
            broken = machine.play(action, Outcome.RETURN, value)  # the failure it shows, if any
            if broken is not None:
                assert isinstance(broken, Counterexample), broken
                return broken.guarantee.name
    finally:
        machine.teardown()
    return None


LATCH = [(Action.CONNECT, False), (Action.SET_BLOCK_ON_CLOSE, False), (Action.CLOSE, False)]
CHILD_LISTENS = [*LATCH, (Action.CONNECT, False)]


@pytest.mark.parametrize(
    ("kind", "actions", "guarantee"),
    [(Kind.THREAD, LATCH, "close-returns"), (Kind.FORK, CHILD_LISTENS, "closed-refuses")],
    ids=["thread-latch", "fork-child-listens"],
)
def test_stdlib_diverges_from_documented_where_the_history_says(
    kind: Kind, actions: list[tuple[Action, bool]], guarantee: str
) -> None:
    """3.8.9+ latches block_on_close at spawn; its children keep the listening socket.

    The same steps refine the stdlib's own profile.
    """
    as_built = profile_for_version(sys.version_info[:3])
    assert as_built is not None
    driver = Driver(resolve("stdlib", None), deadline=1.0)
    try:
        driver.load()
        assert replay(driver, DOCUMENTED, kind, actions) == guarantee
        assert replay(driver, as_built, kind, actions) is None
    finally:
        driver.quit()


# A connection left waiting by a loop stopped at max_children is taken by the next loop.
RESTART_AT_CAP: list[tuple[Action, bool | int]] = [
    (Action.CONNECT, False),
    (Action.SET_MAX_CHILDREN, 1),
    (Action.SERVE, False),
    (Action.CONNECT, False),  # w1 waits in the backlog
    (Action.SHUTDOWN, False),  # waits: the loop sits at max_children
    (Action.RELEASE, False),  # below the cap: the loop stops, w1 still waits
    (Action.SERVE, False),  # the new loop takes w1
    (Action.RELEASE, False),
]


@pytest.mark.parametrize("target", ["stdlib", "impl"])
def test_a_restarted_loop_takes_the_connection_a_stopped_one_left_waiting(target: str) -> None:
    """Once a false alarm: the checker did not wait for the new loop to take w1, so w1's
    child went unseen and looked ended while held (worker-lifecycle)."""
    profile = DOCUMENTED if target == "impl" else profile_for_version(sys.version_info[:3])
    assert profile is not None
    driver = Driver(resolve(target, None), deadline=1.0)
    try:
        driver.load()
        assert replay(driver, profile, Kind.FORK, RESTART_AT_CAP) is None  # type: ignore[arg-type]
    finally:
        driver.quit()


@pytest.mark.parametrize("transport", [Transport.UDP, Transport.UNIX_DATAGRAM], ids=lambda t: t.value)
def test_a_datagram_child_holds_the_server_socket_under_every_profile(transport: Transport) -> None:
    """The divergence above is a stream one: a datagram child needs the server socket."""
    as_built = profile_for_version(sys.version_info[:3])
    assert as_built is not None
    steps = [*LATCH, (Action.CONNECT, False)] if transport is Transport.UNIX_DATAGRAM else LATCH
    for target in ("stdlib", "impl"):
        driver = Driver(resolve(target, None), deadline=1.0)
        try:
            driver.load()
            for profile in (DOCUMENTED, as_built):
                assert replay(driver, profile, Kind.FORK, steps, transport) is None, (target, profile.name)
        finally:
            driver.quit()


# serve_forever(poll_interval=None) (SERVE with the second variant): the loop reaps only after
# it took a connection, and a shutdown() waits for the next one, which stops it unaccepted.
RETURN, NO_POLL = Outcome.RETURN, Outcome.RAISE
WINDOW: list[tuple[Action, Outcome]] = [
    (Action.CONNECT, RETURN),
    (Action.RELEASE, RETURN),  # w0 ends before any loop runs
    (Action.SERVE, NO_POLL),  # in select(): no first turn, so nothing reaped
    (Action.CONNECT, RETURN),  # taken; the turn ends in service_actions(), which reaps w0
    (Action.RELEASE, RETURN),  # w1's exit does not wake select()
    (Action.SHUTDOWN, RETURN),  # waits: nothing wakes the loop but a connection
    (Action.CONNECT, RETURN),  # wakes it to the flag: w2 waits in the backlog (bpo-35017)
    (Action.SERVE, RETURN),  # a loop that polls takes w2, and reaps w1
    (Action.RELEASE, RETURN),
]


@pytest.mark.parametrize("kind", [Kind.THREAD, Kind.FORK], ids=lambda k: k.value)
@pytest.mark.parametrize("target", ["stdlib", "impl"])
def test_a_loop_without_poll_interval_is_woken_only_by_connections(target: str, kind: Kind) -> None:
    profile = DOCUMENTED if target == "impl" else profile_for_version(sys.version_info[:3])
    assert profile is not None
    driver = Driver(resolve(target, None), deadline=1.0)
    driver.load()
    machine = machine_for(RunConfig(driver=driver, profile=profile, kind=kind))()
    seen = []
    try:
        for action, variant in WINDOW:
            assert machine.play(action, variant, False) is None, action
            seen.append(machine.steps[-1])
    finally:
        machine.teardown()
        driver.quit()
    woken = seen[6]
    assert woken.before.server.shutdown_waits and woken.after.worker(2).queued
    assert not woken.obs.workers[2].entered  # it was not accepted, and both calls returned
    assert (woken.obs.shutdown.value, woken.obs.loop.value) == ("returned", "returned")
    if kind is Kind.FORK:  # what each step observed of the children's reaping
        children = [[o.child.value for o in step.obs.workers[:2] if o.child] for step in seen[2:7]]
        assert children == [
            ["exited, not reaped"],
            ["reaped", "running"],
            ["reaped", "exited, not reaped"],
            ["reaped", "exited, not reaped"],
            ["reaped", "exited, not reaped"],
        ]


def test_a_named_step_that_stands_for_no_allowed_event_is_refused() -> None:
    """play() refuses a release with no worker held, without taking a step; an allowed step
    still runs after the refusal."""
    driver = Driver(resolve("impl", None), deadline=1.0)
    driver.load()
    machine = machine_for(RunConfig(driver=driver, profile=DOCUMENTED, kind=Kind.THREAD))()
    try:
        with pytest.raises(StepNotAllowed):
            machine.play(Action.RELEASE, Outcome.RETURN, False)
        assert machine.steps == []
        assert machine.play(Action.CONNECT, Outcome.RETURN, False) is None
        assert len(machine.steps) == 1 and len(machine.state.held) == 1
    finally:
        machine.teardown()
        driver.quit()
