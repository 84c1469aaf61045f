"""How much of the model a check's real runs took: its transitions, seen from afar.

The denominator is what the explorer reaches from the same initial state under the same
profile, making the same events (with misuse only in misuse mode, with-block exits only
where the module has a with-block), within `WORKERS` requests alive at once: the
transitions a run must be able to take. The real runs are bounded otherwise (at most
`machine.MAX_HELD` requests held, `run.STEPS_PER_EXAMPLE` steps an example), so they may
also take transitions the explorer reaches only with more requests alive: counted apart.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import attrs

from checker import cache
from checker.machine import (
    ATTRIBUTE_OF,
    OUTCOMES,
    SOCKET_TIMEOUTS,
    TIMEOUTS,
    Action,
    Failure,
    RefinementMachine,
    StepNotAllowed,
    TargetLeftovers,
    has_room,
)
from checker.windows import WINDOWS, Window, plan
from model import (
    POLL_INTERVALS,
    Close,
    Connect,
    Event,
    HangUp,
    Kind,
    Outcome,
    Phase,
    Profile,
    Release,
    Serve,
    SetAttr,
    Shutdown,
    State,
    TimeOut,
    Transport,
    step,
)
from model.explore import Bounds, Edge, Exploration, explore, numbering

if TYPE_CHECKING:
    from checker.run import KindResult

WORKERS = 1  # about 2 s an exploration; 2 take 20 to 50 s, too long to pay on every check


@attrs.frozen
class Coverage:
    taken: frozenset[Edge]  # what the runs took that the explorer reaches
    reachable: frozenset[Edge]
    beyond: frozenset[Edge]  # what the runs took beyond the explorer's bound
    # Guarantee cases: a guarantee on an edge where one changed observation breaks it.
    cases: frozenset[tuple[str, Edge]] = frozenset()
    cases_taken: frozenset[tuple[str, Edge]] = frozenset()

    @property
    def missed(self) -> list[Edge]:
        return sorted(self.reachable - self.taken)

    @property
    def share(self) -> float:
        return len(self.taken) / len(self.reachable) if self.reachable else 1.0


@functools.cache
def exploration(
    profile: Profile,
    kind: Kind,
    transport: Transport,
    misuse: bool,
    with_block: bool,
    attributes: tuple[tuple[str, bool | int], ...] = (),
) -> Exploration:
    """The explorer's run from the server's first state (`attributes`: a --server class's own)."""
    bounds = Bounds(workers=WORKERS, misuse=misuse, with_block=with_block)
    key = (profile, kind, transport, bounds, *((attributes,) if attributes else ()))
    return cache.cached(
        "exploration",
        key,
        lambda: explore(profile, kind, transport, bounds, judge=False, attributes=attributes),
    )


def of(result: KindResult) -> Coverage:
    ex = exploration(
        result.profile, result.kind, result.transport, result.misuse, result.with_block, result.attributes
    )
    reach = ex.edges
    cases = frozenset((g, e) for e, stake in ex.cases.items() for g in stake)
    return Coverage(
        taken=result.edges & reach,
        reachable=reach,
        beyond=result.edges - reach,
        cases=cases,
        cases_taken=frozenset(c for c in cases if c[1] in result.edges),
    )


def lines(coverage: Coverage, shown: int = 8) -> list[str]:
    found = (
        f"model transitions: {len(coverage.taken)} of the {len(coverage.reachable)} the explorer reaches "
        f"with {WORKERS} request alive at once ({coverage.share:.0%})"
    )
    if coverage.beyond:
        found += f", and {len(coverage.beyond)} it reaches only with more"
    out = [found]
    if coverage.cases:
        share = len(coverage.cases_taken) / len(coverage.cases)
        out.append(
            f"guarantee cases: {len(coverage.cases_taken)} of {len(coverage.cases)} ({share:.0%}): a "
            "guarantee on a transition where one changed observation would break it"
        )
    missed = coverage.missed
    for e in missed[:shown]:
        out.append(f"  not taken: {describe(e)}")
    if len(missed) > shown:
        out.append(f"  ... and {len(missed) - shown} more (--json lists them all)")
    return out


def describe(e: Edge) -> str:
    return f"{e.before} --{e.event}--> {e.after}"


def to_json(coverage: Coverage) -> dict:
    return {
        "explorer_workers": WORKERS,
        "taken": len(coverage.taken),
        "reachable": len(coverage.reachable),
        "share": round(coverage.share, 4),
        "beyond_the_bound": len(coverage.beyond),
        "missed": [describe(e) for e in coverage.missed],
        "guarantee_cases": {"taken": len(coverage.cases_taken), "at_stake": len(coverage.cases)},
    }


# --- taking what the search left -------------------------------------------------------------
#
# The search draws its steps at random, and a transition that needs three particular steps in
# a row is rare in a hundred examples (about half of them stay untaken, by measure). The
# explorer knows the shortest run to each: after the search, each untaken one is played,
# step by step, through a fresh machine, against the real target, and judged like any step.


def take_the_rest(machine: type[RefinementMachine], ex: Exploration) -> list[Failure]:
    """Play the explorer's shortest run to every edge no run has taken yet: the failures seen,
    one per guarantee (or kind of failure): the shortest, as the runs go shortest first."""
    config = machine.config
    found: dict[str, Failure] = {}
    for target in sorted(ex.runs, key=lambda e: (len(ex.runs[e]), e)):
        if target in config.edges:  # taken by the search, or on the way to an earlier one
            continue
        failure = _take(machine, ex.runs[target])
        if failure is not None:
            found.setdefault(type(failure).__name__, failure)
    return list(found.values())


# --- every window, in the first states where it opens --------------------------------------
#
# A window needs a particular state and then one draw among many: the search opens each only
# now and then. With interleavings on, each window (with each value it sets) is also opened
# in the first `PER_WINDOW` states where it can be, shortest run first, after the search.

PER_WINDOW = 3


def take_the_windows(machine: type[RefinementMachine], ex: Exploration) -> list[Failure]:
    """Open every window in the first states where it opens: the failures seen, one per
    guarantee (or kind of failure), the shortest."""
    config = machine.config
    ends = _run_ends(config.profile, State.initial(config.kind, config.transport, config.attributes), ex)
    found: dict[str, Failure] = {}
    for window in WINDOWS:
        for variant in _variants(window):
            opened = 0
            for run, state in ends:
                if opened == PER_WINDOW:
                    break
                room = has_room(state)
                if plan(config.profile, state, window, 0, variant, config.misuse, room) is None:
                    continue
                opened += 1
                failure = _take(machine, run, (window, variant))
                if failure is not None:
                    found.setdefault(type(failure).__name__, failure)
    return list(found.values())


def _variants(window: Window) -> tuple[int, ...]:
    """The values a window's call sets (false, true), or the one way it is made."""
    return (0, 1) if window.intruder not in ("server_close", "shutdown") else (0,)


def _run_ends(profile: Profile, initial: State, ex: Exploration) -> list[tuple[tuple[Event, ...], State]]:
    """Each distinct state the explorer's shortest runs end in (the initial state first), with
    the run, shortest first: where the machine is after playing it."""
    ends: dict[State, tuple[Event, ...]] = {initial: ()}
    for _, run in sorted(ex.runs.items(), key=lambda item: (len(item[1]), item[0])):
        state = initial
        for event in run:
            state = step(profile, state, _renumbered(state, event))
        ends.setdefault(state, run)
    return [(run, state) for state, run in ends.items()]


def _take(
    machine: type[RefinementMachine], run: tuple[Event, ...], then: tuple[Window, int] | None = None
) -> Failure | None:
    """Play a run of the explorer's through a fresh machine, and `then` a window at its end."""
    config = machine.config
    config.memo = False  # a replay for real, as checker.minimize makes them
    failure: Failure | None = None
    try:
        m = machine()
        try:
            for event in run:
                raw = _renumbered(m.state, event)
                try:
                    failure = m.play(*as_step(m.state, raw))
                except StepNotAllowed:  # one the checker does not make (a UDP probe, the 4th probe)
                    break
                if failure is not None:
                    break
            else:
                if then is not None:
                    failure = m.play_window(*then)
        finally:
            try:
                m.teardown()
            except TargetLeftovers as leftovers:
                failure = failure or leftovers
    finally:
        config.memo = True
    return failure


def _renumbered(state: State, event: Event) -> Event:
    """The event as it names the workers of this state (the explorer's run names them as
    the reduced state does)."""
    raw = {reduced: wid for wid, reduced in numbering(state).items()}
    if isinstance(event, Release | HangUp):
        return attrs.evolve(event, wid=raw[event.wid])
    if isinstance(event, Close) and event.by_handler is not None:
        return attrs.evolve(event, by_handler=raw[event.by_handler])
    return event


_SETTERS = {name: action for action, name in ATTRIBUTE_OF.items()}


def as_step(state: State, event: Event) -> tuple[Action, Outcome, bool | int, int]:
    """The machine's named step (RefinementMachine.play) that stands for this event here."""
    held = [w.wid for w in state.held]
    ret = Outcome.RETURN
    if isinstance(event, Connect):
        if state.server.phase is Phase.CLOSED:
            return Action.CONNECT, ret, False, 0
        if event.hangs_up:
            return Action.HANG_UP, Outcome.RAISE, False, 0  # a new client that hangs up at once
        variant = Outcome.RAISE if event.rejected else Outcome.EXIT if event.fails else ret
        return Action.CONNECT, variant, False, 0
    if isinstance(event, Release):
        return Action.RELEASE, event.outcome, False, held.index(event.wid)
    if isinstance(event, HangUp):
        return Action.HANG_UP, ret, False, held.index(event.wid)
    if isinstance(event, SetAttr):
        return _SETTERS[event.name], ret, event.value, 0  # type: ignore[return-value]
    if isinstance(event, Close):
        if event.by_handler is not None:
            return Action.CLOSE, Outcome.EXIT, False, held.index(event.by_handler)
        return Action.CLOSE, Outcome.RAISE if event.by_exit else ret, False, 0
    if isinstance(event, TimeOut):
        variant = OUTCOMES[SOCKET_TIMEOUTS.index(event.socket_timeout)]
        return Action.TIME_OUT, variant, False, TIMEOUTS.index(event.timeout)
    if isinstance(event, Serve):
        return Action.SERVE, OUTCOMES[POLL_INTERVALS.index(event.poll_interval)], False, 0
    assert isinstance(event, Shutdown)
    return Action.SHUTDOWN, ret, False, 0
