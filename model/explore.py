"""The model explored breadth-first within bounds: every reachable state, every guarantee.

A checker samples the model; this walks all of it. From the initial state of a server
(profile, kind, transport) it applies every event the table allows, as the checker would
make it, to every state it reaches, within `Bounds`: requests alive at once, and
optionally events from the start. On every transition it checks every guarantee against
the observation of a server that keeps them (`model.ideal`): a violation there is the
model contradicting itself. It also finds the states where nothing is allowed (deadlocks),
the states from which no run reaches `closed`, and the table's cells no run uses.

Symmetry: a worker that can no longer matter (finished, and joined, reaped or never
spawned, and not awaited) is dropped, and the others renumbered in order, so a bound
counts requests alive at once, not requests ever made; counters only a report reads
(handle_timeout() calls, completed closes) are not part of a state's identity; and a
forking server's running children, which nothing tells apart but their own flags, are
sorted (a thread server's are not: a handler's server_close() joins the threads spawned
before it, so their order matters there).

Each transition is also seen from afar (`Edge`): the server's phase before and after
(open, closing, closed, with the loop, a waiting shutdown() or a call at max_children)
and the event's name. Those edges are the state diagram of `sockcheck docs` and the
transitions whose coverage `sockcheck check` reports.
"""

from __future__ import annotations

import time
import typing
from collections import deque
from collections.abc import Iterator

import attrs

from model.guarantees import StepView, check
from model.ideal import at_stake, ideal_obs
from model.profiles import Profile
from model.state import Capped, Kind, Outcome, Phase, Reaped, Server, State, Timeout, Transport, Worker
from model.table import (
    POLL_INTERVALS,
    TRANSITIONS,
    Close,
    Connect,
    Event,
    HangUp,
    Refused,
    Release,
    Serve,
    SetAttr,
    Shutdown,
    TimeOut,
    allowed,
    listener_held,
    outside_contract,
    step,
)

EVENT_TYPES: tuple[type, ...] = typing.get_args(Event)


@attrs.frozen
class Bounds:
    workers: int = 3  # requests alive at once: held, queued, or still to be joined or reaped
    steps: int | None = None  # events from the initial state; None: until no state is new
    misuse: bool = False  # also the calls outside the documented contract
    with_block: bool = True  # the module has a with-block (2.7's has not)
    symmetry: bool = True  # off: every state as the table makes it (to test the reduction)


@attrs.frozen(order=True)
class Edge:
    """A transition seen from afar: the server's phase before, the event's name, the phase after."""

    before: str
    event: str
    after: str


@attrs.frozen
class Witness:
    """The shortest run found that shows something: its events, as labels, from the start."""

    what: str
    steps: tuple[str, ...]


@attrs.frozen
class Exploration:
    profile: str
    kind: Kind
    transport: Transport
    bounds: Bounds
    states: int
    transitions: int
    seconds: float
    depth: int  # the longest shortest path to a state
    complete: bool  # every state's every successor was explored (no step bound was reached)
    violations: dict[str, Witness]  # by guarantee name: the first (shortest) run breaking it
    deadlocks: tuple[Witness, ...]  # states where no event is allowed
    stuck: tuple[Witness, ...]  # states from which no run reaches closed (complete runs only)
    cells: frozenset[tuple[Phase, type]]  # the table's cells some transition used
    edges: frozenset[Edge]
    # The shortest run that takes each edge: events from the initial state, each naming its
    # workers as the reduced state before it does (see `numbering`).
    runs: dict[Edge, tuple[Event, ...]] = attrs.field(factory=dict, eq=False, repr=False)
    same_as: str | None = None  # the profile whose exploration this one repeats (not walked again)
    # The guarantees at stake on each edge's shortest run (model.ideal.at_stake).
    cases: dict[Edge, frozenset[str]] = attrs.field(factory=dict, eq=False, repr=False)

    @property
    def states_per_second(self) -> float:
        return self.states / self.seconds if self.seconds else float("inf")

    @property
    def unused_cells(self) -> list[tuple[Phase, type]]:
        """Cells holding a transition that no explored run used."""
        return [
            key
            for key, cell in TRANSITIONS.items()
            if not isinstance(cell, Refused) and key not in self.cells
        ]

    @property
    def ok(self) -> bool:
        return not self.violations and not self.deadlocks and not self.stuck


# --- what the checker can do in a state -------------------------------------------------


def live(state: State) -> int:
    """Requests alive at once: what the worker bound counts."""
    return sum(1 for w in state.workers if not _gone(state, w))


def events(profile: Profile, state: State, bounds: Bounds) -> Iterator[Event]:
    """Every event the table allows here, as the checker makes them (its refinement machine
    draws the same ones; the attribute values are the modelled ones)."""
    for event in _candidates(profile, state, bounds):
        if allowed(state, event) and (bounds.misuse or outside_contract(state, event) is None):
            yield event


def _candidates(profile: Profile, state: State, bounds: Bounds) -> Iterator[Event]:
    server = state.server
    held = [w.wid for w in state.held]
    if server.phase is Phase.OPEN and live(state) < bounds.workers:
        yield from (Connect(), Connect(rejected=True), Connect(fails=True), Connect(hangs_up=True))
    # a UDP probe learns only of a refusal: the checker does not send one that would be answered
    udp_held = server.transport is Transport.UDP and listener_held(profile, state)
    if server.phase is Phase.CLOSED and not udp_held:
        yield Connect()
    for wid in held:
        yield from (Release(wid, outcome) for outcome in Outcome)
        yield HangUp(wid)
    yield from (
        SetAttr(name, value) for name in ("block_on_close", "daemon_threads") for value in (False, True)
    )
    if server.kind is Kind.FORK and held:  # relative to the children running: at the cap, or above
        yield from (SetAttr("max_children", n) for n in range(max(1, len(held)), len(held) + 3))
    yield from _time_outs(server)
    yield Close()
    if bounds.with_block:
        yield Close(by_exit=True)
    if server.kind is Kind.THREAD:
        yield from (Close(by_handler=wid) for wid in held)
    yield from (Serve(poll) for poll in POLL_INTERVALS)
    yield Shutdown()


def _time_outs(server: Server) -> Iterator[TimeOut]:
    """handle_request() with the timeouts the checker sets first, one per distinct pair they
    leave (only whether each is SHORT matters: see `canonical`)."""
    seen = set()
    for timeout in (None, Timeout.NONE, Timeout.LONG, Timeout.SHORT):
        for own in (None, Timeout.LONG, Timeout.SHORT):
            pair = (_passes(timeout or server.timeout), _passes(own or server.socket_timeout))
            if pair not in seen:
                seen.add(pair)
                yield TimeOut(timeout, own)


# --- symmetry ---------------------------------------------------------------------------


def _gone(state: State, w: Worker) -> bool:
    """A worker nothing will ask about again: finished, joined or reaped (or never spawned),
    not awaited by a close, not inside one."""
    server = state.server
    if not w.finished or w.wid in server.awaited or w.wid == server.closer:
        return False
    if w.kind is Kind.FORK:
        return not w.spawned or w.reaped is Reaped.YES
    return not w.tracked and not w.may_be_retained


def numbering(state: State) -> dict[int, int]:
    """Each kept worker's number in the reduced state: gone ones dropped, then queued ones
    in order, tracked threads in order, the others sorted."""
    kept = [w for w in state.workers if not _gone(state, w)]
    queued = [w for w in kept if w.queued]
    tracked = [w for w in kept if w.tracked and not w.queued]
    free = sorted((w for w in kept if not w.queued and not w.tracked), key=lambda w: _content(state, w))
    return {w.wid: i for i, w in enumerate(queued + tracked + free)}


def canonical(state: State, bounds: Bounds) -> State:
    """The representative of the states that behave as this one does (see the module's
    docstring): gone workers dropped, the rest renumbered, what no cell reads evened out."""
    if not bounds.symmetry:
        return state
    server = state.server
    # The oldest queued connection is taken first, and a handler's server_close() joins the
    # tracked threads spawned before it: those two keep their order; the others are sorted.
    number = numbering(state)
    kept = sorted((state.worker(wid) for wid in number), key=lambda w: number[w.wid])
    server = attrs.evolve(
        server,
        awaited=frozenset(number[wid] for wid in server.awaited),
        closer=None if server.closer is None else number[server.closer],
        timeouts=0,  # counted for the report of handle_timeout() calls only
        closes=min(server.closes, 1),
        # only SHORT passes within a run: a long timeout and none wait alike (effective_timeout)
        timeout=_passes(server.timeout),
        socket_timeout=_passes(server.socket_timeout),
        # a cap above every request alive at once is never reached
        max_children=server.max_children if server.max_children <= bounds.workers else 40,
        daemon_threads=server.daemon_threads and server.kind is Kind.THREAD,
        block_on_close=server.block_on_close or server.kind is Kind.SYNC,  # nothing reads it there
    )
    workers = tuple(_settled(w, number[w.wid]) for w in kept)
    return State(server=server, workers=workers)


def _settled(w: Worker, wid: int) -> Worker:
    """A finished worker as it goes on: how its handler left and whether its client hung up
    are read once, as it finishes (the exit status and handle_error() then), never after;
    so all finished ones look as if they returned on a connection that stayed."""
    if w.finished and w.spawned and (w.outcome is not Outcome.RETURN or w.hung_up):
        return attrs.evolve(w, wid=wid, outcome=Outcome.RETURN, hung_up=False)
    return w if w.wid == wid else attrs.evolve(w, wid=wid)


def _passes(timeout: Timeout) -> Timeout:
    return Timeout.SHORT if timeout is Timeout.SHORT else Timeout.NONE


def _content(state: State, w: Worker) -> tuple:
    flags = attrs.astuple(attrs.evolve(w, wid=0), recurse=False)
    return (w.wid in state.server.awaited, tuple("" if f is None else getattr(f, "value", f) for f in flags))


# --- seen from afar -----------------------------------------------------------------------

_CAPPED = {
    Capped.LOOP: "loop waits at max_children",
    Capped.TIMEOUT: "handle_timeout() waits at max_children",
    Capped.CLOSE: "server_close() waits at max_children",
    Capped.FORK: "a fork waits at max_children",
}


def phase_of(state: State) -> str:
    """The server's phase as a person reads a state diagram: no workers, no attributes."""
    server = state.server
    parts = [server.phase.value]
    if server.loop:
        parts.append("serve_forever()" if server.poll_interval is Timeout.SHORT else "serve_forever(None)")
    if server.listening:
        parts.append("handle_request() waits")
    if state.busy:  # a synchronous server: the loop or handle_request() runs a held handler
        parts.append("the loop's handler runs" if server.loop else "handle_request()'s handler runs")
    if server.capped is not None:
        parts.append(_CAPPED[server.capped])
    if server.shutdown_waits:
        parts.append("shutdown() waits")
    elif server.shutdown_request and not server.loop:
        parts.append("shutdown flag left set")  # misuse: the next serve_forever() returns at once
    return ", ".join(parts)


def label(state: State, event: Event) -> str:
    """An event's name in a diagram: which worker, and the values set, left out."""
    if isinstance(event, Connect):
        if state.server.phase is Phase.CLOSED:
            return "connect to the closed server"
        variant = (
            "rejected"
            if event.rejected
            else "spawn fails"
            if event.fails
            else "hangs up"
            if event.hangs_up
            else ""
        )
        return f"connect ({variant})" if variant else "connect"
    if isinstance(event, Release):
        return f"release ({event.outcome.value})"
    if isinstance(event, HangUp):
        return "a client hangs up"
    if isinstance(event, SetAttr):
        return f"set {event.name}" + (f"={event.value}" if isinstance(event.value, bool) else "")
    if isinstance(event, Close):
        return (
            "server_close() from a handler"
            if event.by_handler is not None
            else ("with-block exit" if event.by_exit else "server_close()")
        )
    if isinstance(event, TimeOut):
        return "handle_request() with nothing to accept"
    if isinstance(event, Serve):
        return "serve_forever()" if event.poll_interval is Timeout.SHORT else "serve_forever(None)"
    assert isinstance(event, Shutdown)
    return "shutdown()"


def edge(before: State, event: Event, after: State) -> Edge:
    return Edge(phase_of(before), label(before, event), phase_of(after))


# --- the search -------------------------------------------------------------------------


def explore(
    profile: Profile,
    kind: Kind,
    transport: Transport = Transport.TCP,
    bounds: Bounds = Bounds(),
    judge: bool = True,  # check the guarantees (off: only the states and transitions, twice as fast)
    attributes: tuple[tuple[str, bool | int], ...] = (),  # what the server starts with (State.initial)
) -> Exploration:
    started = time.monotonic()
    initial = State.initial(kind, transport, attributes)
    index: dict[State, int] = {initial: 0}
    states: list[State] = [initial]
    parent: list[tuple[int, str, Event] | None] = [None]
    first: dict[Edge, tuple[int, Event]] = {}
    cases: dict[Edge, frozenset[str]] = {}  # where each edge was first taken: the shortest run
    depth = [0]
    successors: list[list[int]] = [[]]
    violations: dict[str, Witness] = {}
    deadlocks: list[Witness] = []
    cells: set[tuple[Phase, type]] = set()
    edges: set[Edge] = set()
    transitions = 0
    complete = True
    frontier: deque[int] = deque([0])
    expanded: list[bool] = [False]
    limited: set[int] = set()

    def trace(i: int, last: str | None = None) -> tuple[str, ...]:
        steps = [] if last is None else [last]
        while parent[i] is not None:
            i, name, _ = parent[i]  # type: ignore[misc]
            steps.append(name)
        return tuple(reversed(steps))

    def run_to(i: int) -> tuple[Event, ...]:
        events: list[Event] = []
        while parent[i] is not None:
            i, _, event = parent[i]  # type: ignore[misc]
            events.append(event)
        return tuple(reversed(events))

    while frontier:
        i = frontier.popleft()
        state = states[i]
        if bounds.steps is not None and depth[i] >= bounds.steps:
            complete = False
            continue
        expanded[i] = True
        moves = 0
        for event in events(profile, state, bounds):
            moves += 1
            transitions += 1
            after = step(profile, state, event)
            name = label(state, event)
            cells.add((state.server.phase, type(event)))
            seen = edge(state, event, after)
            if seen not in edges:
                edges.add(seen)
                first[seen] = (i, event)
                cases[seen] = at_stake(profile, state, event, after)  # on its shortest run
            view = (
                StepView(profile, state, event, after, ideal_obs(profile, state, event, after))
                if judge
                else None
            )
            for violation in check(view) if view is not None else ():
                if violation.guarantee.name not in violations:
                    details = "; ".join(violation.details)
                    violations[violation.guarantee.name] = Witness(details, trace(i, name))
            rep = canonical(after, bounds)
            j = index.get(rep)
            if j is None:
                j = index[rep] = len(states)
                states.append(rep)
                parent.append((i, name, event))
                depth.append(depth[i] + 1)
                successors.append([])
                expanded.append(False)
                frontier.append(j)
            successors[i].append(j)
        if not moves:
            deadlocks.append(Witness(phase_of(state), trace(i)))
        if state.server.phase is Phase.OPEN and live(state) >= bounds.workers and allowed(state, Connect()):
            limited.add(i)  # a connection the bound withholds would move it on
    stuck = _cannot_close(states, successors, expanded, limited, trace) if complete else []
    return Exploration(
        profile=profile.name,
        kind=kind,
        transport=transport,
        bounds=bounds,
        states=len(states),
        transitions=transitions,
        seconds=time.monotonic() - started,
        depth=max(depth),
        complete=complete,
        violations=violations,
        deadlocks=tuple(deadlocks),
        stuck=tuple(stuck),
        cells=frozenset(cells),
        edges=frozenset(edges),
        runs={e: (*run_to(i), event) for e, (i, event) in first.items()},
        cases=cases,
    )


def _cannot_close(
    states: list[State],
    successors: list[list[int]],
    expanded: list[bool],
    limited: set[int],
    trace: typing.Callable,
) -> list[Witness]:
    """The states from which no run reaches a closed server (the first few, shortest first).
    A state where only a connection beyond the worker bound would move the server on (a
    handle_request() waiting for one, with the bound reached) counts as reaching it: the
    bound stops it, not the table."""
    predecessors: list[list[int]] = [[] for _ in states]
    for i, nexts in enumerate(successors):
        for j in nexts:
            predecessors[j].append(i)
    reaches = [s.server.phase is Phase.CLOSED or i in limited for i, s in enumerate(states)]
    queue = deque(i for i, r in enumerate(reaches) if r)
    while queue:
        j = queue.popleft()
        for i in predecessors[j]:
            if not reaches[i]:
                reaches[i] = True
                queue.append(i)
    stuck = [i for i, r in enumerate(reaches) if not r and expanded[i]]
    return [Witness(phase_of(states[i]), trace(i)) for i in stuck[:5]]


def structure() -> list[str]:
    """What is wrong with the table's shape: a phase and event type with no cell."""
    return [
        f"no cell for {event.__name__} in {phase.value}"
        for phase in Phase
        for event in EVENT_TYPES
        if (phase, event) not in TRANSITIONS
    ]
