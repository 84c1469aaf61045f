"""Controlled interleavings: one step paused at a hook point while another call is made.

A *window* is a place inside one of the server's steps where a race can live: a request
accepted but not yet spawned, a worker whose handler has returned but whose request is not
yet shut down, a loop whose select() has just said a request is ready, a loop turn in
service_actions(), a server_close() just begun (`Point`). The checker opens it
on purpose: the agent stops the server's thread at that hook point, makes the window's
other call (server_close(), shutdown(), an attribute) from a thread of its own, lets it
settle (returned, or blocked), and lets the paused thread go on.

The model's steps are atomic, so the verdict is linearizability: what is observed once both
calls have settled must be what the model shows after the two events in some order (the
paused step first, as the window intends, or the other call first). An implementation
that is correct only when its steps do not overlap fails here, and only here.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

from checker.driver import TIMEOUT_SECONDS
from model import (
    Close,
    Connect,
    Event,
    Kind,
    Observation,
    Outcome,
    Phase,
    Profile,
    Release,
    Serve,
    SetAttr,
    Shutdown,
    State,
    Timeout,
    allowed,
    outside_contract,
    step,
)


class Point(enum.Enum):
    """Where the agent stops the server's thread (its hook overrides call super() after)."""

    ACCEPTED = "accepted"  # in verify_request(): accepted, no worker spawned yet
    SELECTED = "selected"  # in _handle_request_noblock(): select() said ready, nothing accepted
    FINISHED = "finished"  # in a worker's shutdown_request(): finish_request() has returned
    TURN = "turn"  # in service_actions(): before ForkingMixIn's collect_children()
    CLOSING = "closing"  # server_close() has begun: before the base class closes anything


@attrs.frozen
class Window:
    point: Point
    primary: str  # the step that is paused: "connect", "release", "serve" or "server_close"
    intruder: str  # the call made meanwhile: "server_close", "shutdown", or an attribute's name
    what: str  # in words, as the report says it

    @property
    def thread_only(self) -> bool:
        """A worker's point: a forked child's hooks run in another process."""
        return self.point is Point.FINISHED


ACCEPTED = "while the request is between accept and spawn"
FINISHED = "between its finish_request() and shutdown_request()"
WINDOWS = (
    Window(Point.ACCEPTED, "connect", "server_close", ACCEPTED),
    Window(Point.ACCEPTED, "connect", "block_on_close", ACCEPTED),
    Window(Point.ACCEPTED, "connect", "daemon_threads", ACCEPTED),
    Window(Point.ACCEPTED, "connect", "shutdown", "while the loop is between accept and spawn"),
    Window(Point.SELECTED, "connect", "shutdown", "while the loop's select() has just returned"),
    Window(Point.FINISHED, "release", "server_close", FINISHED),
    Window(Point.FINISHED, "release", "block_on_close", FINISHED),
    Window(Point.TURN, "serve", "shutdown", "while the loop's first turn is in service_actions()"),
    Window(Point.CLOSING, "server_close", "block_on_close", "as server_close() begins"),
)


def intruder_event(window: Window, value: bool) -> Event:
    if window.intruder == "server_close":
        return Close()
    if window.intruder == "shutdown":
        return Shutdown()
    return SetAttr(window.intruder, value)


def intruder_command(event: Event) -> dict[str, Any]:
    """The intruder as the agent makes it."""
    if isinstance(event, Close):
        return {"op": "close"}
    if isinstance(event, Shutdown):
        return {"op": "shutdown"}
    assert isinstance(event, SetAttr)
    value = TIMEOUT_SECONDS[event.value] if isinstance(event.value, Timeout) else event.value
    return {"op": "set", "name": event.name, "value": value}


def opens(window: Window, before: State, primary: Event, after: State) -> bool:
    """Whether the paused step really passes the window's point, as the model says it goes."""
    server = before.server
    if window.thread_only and server.kind is not Kind.THREAD:
        return False
    if isinstance(primary, Release | Close):
        return True  # every worker's thread shuts its request down as it ends; every close begins
    if isinstance(primary, Serve):
        return after.server.loop  # it runs (a misuse flag would stop it before its first turn)
    assert isinstance(primary, Connect)
    if server.capped is not None or (server.waits_in_select and server.shutdown_request):
        return False  # it waits in the backlog: no dispatch to pause
    if server.waits_in_select and window.intruder == "shutdown":
        # A loop without poll_interval stops at the end of the turn the flag was set in; the
        # model's connect ends that turn back in select(), where the flag would wait for the
        # next connection: a grain finer than the model's steps, so not a window it can judge.
        return False
    wid = len(before.workers)
    dispatched = not after.worker(wid).queued and after.server.capped is None
    loop_window = window.point is Point.SELECTED or window.intruder == "shutdown"
    return dispatched and server.loop == loop_window


@attrs.frozen
class Order:
    """One way to put the two events in a row, with the states it passes."""

    first: Event
    second: Event
    middle: State
    after: State


def orders(profile: Profile, before: State, primary: Event, intruder: Event, misuse: bool) -> list[Order]:
    """The linearizations the model allows: the paused step first (as the window intends),
    then the intruder first."""
    found = []
    for first, second in ((primary, intruder), (intruder, primary)):
        middle = _step(profile, before, first, misuse)
        after = None if middle is None else _step(profile, middle, second, misuse)
        if middle is not None and after is not None:
            found.append(Order(first, second, middle, after))
    return found


OUTCOMES = (Outcome.RETURN, Outcome.RAISE, Outcome.EXIT)  # a released handler's, by variant


@attrs.frozen
class Plan:
    """A window made concrete in a state: its two events, and the orders the model allows
    (the paused step first, then the other call first)."""

    window: Window
    primary: Event
    intruder: Event
    orders: tuple[Order, ...]


def plan(
    profile: Profile, state: State, window: Window, index: int, variant: int, misuse: bool, room: bool
) -> Plan | None:
    """The window in this state, if it opens here: `index` picks the held worker to release,
    `variant` its outcome (or, 1, the attribute set true); `room`: a new connection may be made."""
    if state.server.phase is not Phase.OPEN:
        return None
    primary: Event
    if window.primary == "connect":
        if not room:
            return None
        primary = Connect()
    elif window.primary == "serve":
        primary = Serve(Timeout.SHORT)  # a loop that polls: its first turn ends in service_actions()
    elif window.primary == "server_close":
        primary = Close()
    else:
        if not state.held:
            return None
        primary = Release(state.held[index % len(state.held)].wid, OUTCOMES[variant % len(OUTCOMES)])
    intruder = intruder_event(window, variant == 1)
    found = orders(profile, state, primary, intruder, misuse)
    if not found or found[0].first != primary or not opens(window, state, primary, found[0].middle):
        return None
    return Plan(window, primary, intruder, tuple(found))


def possible(order: Order, obs: Observation) -> bool:
    """Whether what was seen allows this order: an event can come first only if it was over
    before the other was. A worker whose end (its own close_request()) came after a
    server_close() had already returned cannot have ended before that close."""
    if isinstance(order.first, Release) and isinstance(order.second, Close):
        worker = next((o for o in obs.workers if o.wid == order.first.wid), None)
        returned = obs.close_return_seq
        if worker is not None and worker.ended_seq is not None and returned is not None:
            return worker.ended_seq < returned
    return True


def _step(profile: Profile, state: State, event: Event, misuse: bool) -> State | None:
    if not allowed(state, event) or (not misuse and outside_contract(state, event) is not None):
        return None
    return step(profile, state, event)
