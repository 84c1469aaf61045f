"""The refinement machine: every real step must be one the model allows.

Each rule is one model event. The rule asks the model for the next state first (the
model's preconditions are the rules' preconditions), performs the event on the real
server through the driver, then checks the observation against the state the model moved
to. A broken guarantee raises a `Counterexample` whose class is the guarantee's own, so
Hypothesis shrinks each broken guarantee separately and never trades one for another.

The same trace is followed by a shadow copy of the `documented` model; where the target's
profile is not `documented`, the first divergence is recorded (not shrunk) for the report.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from typing import NoReturn

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from checker.driver import Driver, TargetFailure, TargetInfo
from checker.windows import WINDOWS, Plan, Window, intruder_command, plan, possible
from model import (
    ATTRIBUTES,
    DOCUMENTED,
    POLL_INTERVALS,
    Capped,
    Close,
    Connect,
    Event,
    Guarantee,
    HangUp,
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
    StepRefused,
    StepView,
    TimeOut,
    Timeout,
    Transport,
    Violation,
    allowed,
    check,
    listener_held,
    outside_contract,
    step,
)
from model.explore import Edge, edge

MAX_HELD = 4  # held workers at once: enough for every guarantee here, small enough to shrink
# Connection attempts after close, per example. Where a child still holds the listening
# socket, each accepted attempt stays in its accept queue (request_queue_size=5 by default);
# fewer than that keeps every answer a prompt accept or refusal.
MAX_PROBES = 3
ARGUMENTS = 3 * MAX_HELD  # an action's argument: which held worker (÷3) and a variant (%3)
OUTCOMES = (Outcome.RETURN, Outcome.RAISE, Outcome.EXIT)
# TIME_OUT's values, set first (None: left as it is): server.timeout by the argument's index,
# the socket's timeout by its variant.
TIMEOUTS = (None, Timeout.NONE, Timeout.LONG, Timeout.SHORT)
SOCKET_TIMEOUTS = (None, Timeout.LONG, Timeout.SHORT)
# What a step needs of the target module, as TargetInfo.lacks names it.
WITH_BLOCK = ("BaseServer.__enter__", "BaseServer.__exit__")


class Action(enum.Enum):
    """What one step does; the first is what the shrinker prefers."""

    CONNECT = "connect"  # to the open server (a new worker), or a probe of the closed one
    RELEASE = "release"
    CLOSE = "server_close"
    SET_BLOCK_ON_CLOSE = "set block_on_close"
    SET_DAEMON_THREADS = "set daemon_threads"
    SET_MAX_CHILDREN = "set max_children"
    # handle_request() with nothing to accept, server.timeout and the socket's timeout set first
    TIME_OUT = "handle_request with nothing to accept"
    SERVE = "serve_forever"
    SHUTDOWN = "shutdown"
    HANG_UP = "a client hangs up"  # a held request's client, or a new one before dispatch


CHOICES = len(Action) * ARGUMENTS  # one step's draw: (action, argument)
# With interleavings on, the draws go on past CHOICES: (window, argument), checker.windows.
WINDOW_CHOICES = len(WINDOWS) * ARGUMENTS

ATTRIBUTE_OF = {
    Action.SET_BLOCK_ON_CLOSE: "block_on_close",
    Action.SET_DAEMON_THREADS: "daemon_threads",
    Action.SET_MAX_CHILDREN: "max_children",
}
TIMEOUT_ATTRIBUTES = ("timeout", "socket_timeout")  # set by TIME_OUT, just before handle_request()
assert {*ATTRIBUTE_OF.values(), *TIMEOUT_ATTRIBUTES} == set(ATTRIBUTES)


@attrs.frozen
class Step:
    event: Event
    before: State
    after: State
    obs: Observation
    choice: int = 0  # the draw that made it: replaying the draws replays the steps
    # The second of two events made at once (a controlled interleaving): in words, how they
    # overlapped. The model orders them as the steps are listed; one draw made both.
    window: str | None = None


@attrs.frozen
class Divergence:
    """Where a run stopped refining `documented` (informative; not a failure)."""

    violations: tuple[Violation, ...]
    steps: tuple[Step, ...]


class Counterexample(Exception):
    """A guarantee broken at the last of `steps`. Subclassed once per guarantee."""

    guarantee: Guarantee

    def __init__(self, violations: list[Violation], steps: list[Step]) -> None:
        super().__init__(f"{violations[0].guarantee.name}: {violations[0].details[0]}")
        self.violations = tuple(violations)
        self.steps = tuple(steps)


class TargetLeftovers(Exception):
    """An example ended with workers or calls that would not end."""

    def __init__(self, leftovers: list[str], steps: list[Step]) -> None:
        super().__init__("; ".join(leftovers))
        self.leftovers = leftovers
        self.steps = tuple(steps)


class TargetBroke(Exception):
    """The target hung or crashed during the last of `steps` (an event the model allowed);
    `event` None: as an example started or ended, between steps (the agent died there)."""

    def __init__(
        self,
        failure: TargetFailure,
        steps: list[Step],
        event: Event | None,
        choice: int | None,
        before: State | None = None,  # the model's state before `event`
    ) -> None:
        super().__init__(str(failure))
        self.steps = tuple(steps)
        self.event = event
        self.choice = choice
        self.before = before


Failure = Counterexample | TargetBroke | TargetLeftovers
TEARDOWN = -1  # the last element of a verdict key for the end of an example

_COUNTEREXAMPLES: dict[str, type[Counterexample]] = {}


def counterexample_class(guarantee: Guarantee) -> type[Counterexample]:
    cls = _COUNTEREXAMPLES.get(guarantee.name)
    if cls is None:
        name = "Violated_" + guarantee.name.replace("-", "_")
        cls = type(name, (Counterexample,), {"guarantee": guarantee})
        _COUNTEREXAMPLES[guarantee.name] = cls
    return cls


class StepNotAllowed(Exception):
    """A named step that stands for no event the table allows in the machine's state."""


@attrs.define
class RunConfig:
    driver: Driver
    profile: Profile
    kind: Kind
    transport: Transport = Transport.TCP
    # Also make calls outside socketserver's documented contract (model.outside_contract).
    misuse: bool = False
    examples_run: int = 0
    steps_run: int = 0
    # The model transitions the real runs took, seen from afar (model.explore.Edge): what
    # `sockcheck check` reports as its coverage of the model.
    edges: set[Edge] = attrs.field(factory=set)
    divergence: Divergence | None = None
    # The shortest counterexample seen for each guarantee (and the shortest hang or crash,
    # as "TargetBroke"), kept by the machine itself: if Hypothesis gives up on the run (a
    # flaky replay: a crash from outside, an agent killed, does not replay), what was already
    # found is not lost.
    seen: dict[str, Failure] = attrs.field(factory=dict)
    on_example: Callable[[RunConfig], None] | None = None
    # The verdict of every prefix of draws run so far: the failure it ended with, or None
    # (the example went on). See RefinementMachine.step.
    verdicts: dict[tuple[int, ...], Failure | None] = attrs.field(factory=dict)
    memo: bool = True  # off while checker.minimize replays for real
    # Failures seen on a repeat of a prefix that the target answered otherwise than the
    # first time (it races): real, but not raised (Hypothesis would call the run flaky and
    # stop); the report adds them.
    unraised: list[Failure] = attrs.field(factory=list)
    # Guarantees already known broken (sockcheck matrix's later rounds): an example that
    # breaks only these goes no further, so the search looks for the others where these hold.
    muted: frozenset[str] = frozenset()
    # Controlled interleavings (checker.windows): some draws pause a step at a hook point
    # while another call is made. Off, the draws are exactly those of a run without them.
    interleave: bool = False
    jitter: float = 0.0  # seconds: random pauses at the same hook points (the agent's)
    # Window steps made, by point: opened (the server reached the point), missed (it did not:
    # the call was made after the step, which is then an ordinary pair of steps).
    windows_opened: dict[str, int] = attrs.field(factory=dict)
    windows_missed: dict[str, int] = attrs.field(factory=dict)
    # time.monotonic() when the first failure was raised: the search's time to find (issue 7).
    first_failure_at: float | None = None
    # The modelled attributes a --server class starts with (model.State.initial), sorted.
    attributes: tuple[tuple[str, bool | int], ...] = ()

    @property
    def contradicted(self) -> int:
        """Repeats of a prefix that the target answered otherwise than the first time."""
        return len(self.unraised)


class RefinementMachine(RuleBasedStateMachine):
    config: RunConfig  # set on the subclass that machine_for() makes

    def __init__(self) -> None:
        super().__init__()
        config = self.config
        self.driver = config.driver
        self.profile = config.profile
        self.state = State.initial(config.kind, config.transport, config.attributes)
        self.shadow: State | None = None if self.profile == DOCUMENTED else self.state
        self.steps: list[Step] = []
        self.draws: list[int] = []  # every draw of this example, no-ops included
        self.probes = 0
        self.failed = False
        # A repeated prefix went otherwise than the first time: the rest of the example
        # only repeats the first run's verdicts (the real server is past the model's state).
        self.diverged = False
        config.examples_run += 1
        if config.on_example is not None:
            config.on_example(config)
        try:
            self.driver.start(config.kind.value, config.transport.value)
        except TargetFailure as failure:  # reported like a step's, never as a traceback
            self._fail(TargetBroke(failure, [], None, None))

    # -- the one rule -----------------------------------------------------------------------
    #
    # One rule with the same draw at every step, rather than a rule per event with
    # preconditions: Hypothesis draws a rule's enable flag the first time that rule is
    # considered, and redraws when it picks a rule whose precondition is false, so with
    # several rules the shape of a step's choices depends on the state, and deleting a
    # step misaligns every step after it (the shrinker then deletes nothing). Here every
    # step is ONE draw, a number that encodes (action, argument), whatever the state; an
    # action the state does not allow is a no-op, which the shrinker removes. One draw,
    # because Hypothesis's deletion passes remove a few consecutive choices at a time: with
    # three choices a step (the draw and Hypothesis's own two), deleting two neighbouring
    # steps at once is within reach, which is how a stray connect-and-release pair goes.
    # The number shrinks towards the first action with the first argument.

    #
    # Hypothesis needs a test that answers the same draws the same way: when a replay of a
    # failing example passes, it stops the whole run as flaky and its shrinking is lost. A
    # racy target does not oblige, so every prefix of draws keeps the verdict of its first
    # run: a repeat that failed before fails again at once, with the same failure; a repeat
    # that went on before but breaks a guarantee now is counted (`contradicted`), kept for
    # the report (`seen`), and the example goes on as the first run did. Every failure
    # reported was seen for real; the replay-shrink (checker.minimize) replays it for real.

    def _draw(self, choice: int) -> None:
        self.draws.append(choice)
        key = tuple(self.draws)
        seen, known = self._verdict(key)
        if known is not None:
            self._fail(known)
        if self.diverged:
            return
        failure = self._step(choice)
        if failure is not None and seen:  # the same draws went on the first time
            self._contradicted(failure)
            failure = None
        self._remember(key, failure)
        if failure is not None:
            self._fail(failure)

    step = rule(choice=st.integers(0, CHOICES - 1))(_draw)

    def _contradicted(self, failure: Failure) -> None:
        self.config.unraised.append(failure)
        self.diverged = True

    def _fail(self, failure: Failure) -> NoReturn:
        """Raise a failure, first seen or repeated, from this one place: Hypothesis tells
        failures apart by type and by where they were raised."""
        self.failed = True
        if self.config.first_failure_at is None:
            self.config.first_failure_at = time.monotonic()
        # A hang or crash is kept here (a counterexample is kept as it is judged): one from
        # outside, an agent killed, does not replay, and Hypothesis would drop it as flaky.
        if isinstance(failure, TargetBroke):
            shortest = self.config.seen.get(type(failure).__name__)
            if shortest is None or len(failure.steps) < len(shortest.steps):
                self.config.seen[type(failure).__name__] = failure
        raise failure.with_traceback(None)

    def _step(self, choice: int) -> Failure | None:
        if choice >= CHOICES:
            return self._window_step(choice)
        action, outcome, value, index = decode(self.state, choice)
        candidate = self._candidate(action, index, outcome, value)
        if candidate is None or not allowed(self.state, candidate[0]):
            return None
        if self.config.misuse or outside_contract(self.state, candidate[0]) is None:
            return self._do(*candidate, choice)
        return None

    def _candidate(
        self, action: Action, index: int, outcome: Outcome, value: bool | int
    ) -> tuple[Event, Callable[[State], Observation]] | None:
        """The event an action stands for in this state, and how to perform it."""
        state = self.state
        held = state.held
        phase = state.server.phase
        driver = self.driver
        if action is Action.CONNECT:
            if phase is Phase.OPEN and has_room(state):
                # the variant: accepted, rejected by verify_request(), or its worker fails to start
                rejected, fails = outcome is Outcome.RAISE, outcome is Outcome.EXIT
                wid = len(state.workers)
                listening = state.server.listening  # a handle_request() waits for it already
                stops = _stops_loop(state)
                return Connect(rejected, fails), lambda after: driver.connect(
                    rejected, after.worker(wid).queued, fails, listening=listening, stops_loop=stops
                )
            if phase is Phase.CLOSED and self.probes < MAX_PROBES and self._probe_answers():
                self.probes += 1
                return Connect(), lambda after: driver.probe()
            return None
        if action is Action.RELEASE:
            if not held:
                return None
            wid = held[index % len(held)].wid
            return Release(wid, outcome), lambda after: driver.release(
                wid,
                outcome,
                close_must_return=_close_must_return(after),
                dispatch_must_return=not _dispatch_waits(after),
                accepted=[w.wid for w in state.queued if not after.worker(w.wid).queued],
                turn=_loop_turns(after),
                shutdown_returns=state.server.shutdown_waits and not after.server.shutdown_waits,
                loop_stops=state.server.loop and after.server.loop_raised,
            )
        if action is Action.HANG_UP:
            return self._hang_up(outcome is Outcome.RETURN, index)
        if action is Action.CLOSE:
            return self._close(outcome, index)
        if action is Action.TIME_OUT:
            return self._time_out(outcome, index)
        if action is Action.SERVE:  # with a shutdown() flag set (misuse), it returns at once
            poll = POLL_INTERVALS[OUTCOMES.index(outcome) % len(POLL_INTERVALS)]
            return Serve(poll), lambda after: driver.serve(
                _loop_turns(after),
                returns=not after.server.loop,
                accepted=[w.wid for w in state.queued if not after.worker(w.wid).queued],
                poll_interval=poll,
            )
        if action is Action.SHUTDOWN:  # it waits for a loop at max_children (or, misuse, for one)
            return Shutdown(), lambda after: driver.shutdown(must_return=not after.server.shutdown_waits)
        name = ATTRIBUTE_OF[action]
        if name == "max_children" and (state.server.kind is not Kind.FORK or not held):
            return None  # a thread server has no use for it; with no child running, nor a fork
        # A running loop re-reads attributes at its next service_actions(), unless it waits
        # at the cap, where it reads max_children only after a child exited.
        # one without poll_interval reads them after its next accept; a synchronous server
        # reads none of them (and its loop may be inside a held handler)
        sync = state.server.polls and state.server.kind is not Kind.SYNC
        return SetAttr(name, value), lambda after: driver.set_attr(name, value, sync)

    def _window_step(self, choice: int) -> Failure | None:
        """A controlled interleaving: the window's step, paused at its hook point while its
        other call is made; judged against the model's orders of the two events."""
        row, argument = divmod(choice - CHOICES, ARGUMENTS)
        index, variant = divmod(argument, len(OUTCOMES))
        state = self.state
        room = has_room(state)
        made = plan(self.profile, state, WINDOWS[row], index, variant, self.config.misuse, room)
        if made is None:
            return None
        if isinstance(made.primary, Release):
            candidate = self._candidate(Action.RELEASE, index, made.primary.outcome, False)
        else:
            action = {Connect: Action.CONNECT, Serve: Action.SERVE, Close: Action.CLOSE}[type(made.primary)]
            candidate = self._candidate(action, index, Outcome.RETURN, False)
        assert candidate is not None and candidate[0] == made.primary, (candidate, made)
        act = candidate[1]
        intended = made.orders[0]
        rid = made.primary.wid if isinstance(made.primary, Release) else None
        try:
            self.driver.window(made.window.point.value, intruder_command(made.intruder), rid)
            act(intended.after)  # the paused step, waited for as the two together leave it
            obs = self.driver.settle(
                close_must_return=_close_must_return(intended.after),
                shutdown_must_return=not intended.after.server.shutdown_waits,
            )
        except TargetFailure as failure:
            return TargetBroke(failure, self.steps, made.primary, choice)
        tally = self.config.windows_missed if self.driver.window_missed else self.config.windows_opened
        tally[made.window.point.value] = tally.get(made.window.point.value, 0) + 1
        return self._judge_window(made, obs, choice)

    def _judge_window(self, made: Plan, obs: Observation, choice: int) -> Counterexample | None:
        """The order of the two events the observation refines; else the intended one (the
        paused step first), broken, unless the event log rules it out.

        Orders the event log rules out are not tried (checker.windows.possible). Where both
        fit what is seen, the model takes the call made at the window first: it really did
        come before the rest of the paused step (the spawn that reads daemon_threads, the
        worker's end), which the model's later steps may depend on."""
        profile, window = self.profile, made.window
        found = [o for o in made.orders if possible(o, obs)] or list(made.orders)
        fits = [o for o in reversed(found) if not check(StepView(profile, o.middle, o.second, o.after, obs))]
        chosen = (fits or found)[0]
        before = self.state
        self.steps.append(Step(chosen.first, before, chosen.middle, obs, choice))
        self.config.edges.add(edge(before, chosen.first, chosen.middle))
        self._follow_documented(chosen.first, obs, judged=False)
        paused = "the first" if chosen.first is made.primary else "the second"
        words = f"made at once with the step before: {paused} paused {window.what} ({window.point.value})"
        return self._judge(chosen.second, chosen.middle, chosen.after, obs, choice, window=words)

    def _time_out(self, variant: Outcome, index: int) -> tuple[Event, Callable[[State], Observation]]:
        """handle_request() with nothing to accept, with server.timeout and the socket's
        timeout first set as the argument says (its first: both left as they are). Setting
        them in the same step makes "a socket timeout an hour long, then handle_request()" one
        step, not two the search would rarely put together."""
        timeout = TIMEOUTS[index % len(TIMEOUTS)]
        socket_timeout = SOCKET_TIMEOUTS[OUTCOMES.index(variant)]
        event = TimeOut(timeout, socket_timeout)
        return event, lambda after: self.driver.time_out(
            must_return=after.server.capped is not Capped.TIMEOUT and not after.server.listening,
            listens=after.server.listening,
            timeout=timeout,
            socket_timeout=socket_timeout,
        )

    def _close(self, variant: Outcome, index: int) -> tuple[Event, Callable[[State], Observation]] | None:
        """server_close(); or the end of a `with server:` block by an exception; or, in a
        thread server with a handler running, server_close() called by that handler."""
        state, driver = self.state, self.driver
        held = state.held
        if variant is Outcome.EXIT and state.server.kind is Kind.THREAD and held:
            wid = held[index % len(held)].wid
            return Close(by_handler=wid), lambda after: driver.close(
                _close_must_return(after), after.server.polls, by_handler=wid
            )
        by_exit = variant is not Outcome.RETURN
        if by_exit and self._lacks(*WITH_BLOCK):
            return None  # 2.7: no with-block to leave
        # misuse: a loop it does not stop goes on turning on the closed socket (2.7: it dies,
        # which the same wait sees)
        return Close(by_exit), lambda after: driver.close(
            _close_must_return(after), state.server.polls, by_exit
        )

    def _lacks(self, *names: str) -> bool:
        return lacks(self.driver.info, *names)

    def _hang_up(self, during: bool, index: int) -> tuple[Event, Callable[[State], Observation]] | None:
        """A held request's client resets its connection (during its handler), or a new client
        connects and resets at once (before it is dispatched)."""
        state, driver = self.state, self.driver
        held = state.held
        if during:
            if not held:
                return None
            wid = held[index % len(held)].wid
            return HangUp(wid), lambda after: driver.hang_up(wid)
        if state.server.phase is not Phase.OPEN or not has_room(state):
            return None
        wid = len(state.workers)
        listening = state.server.listening
        stops = _stops_loop(state)
        return Connect(hangs_up=True), lambda after: driver.connect(
            queued=after.worker(wid).queued, hangs_up=True, listening=listening, stops_loop=stops
        )

    def _probe_answers(self) -> bool:
        """A UDP probe learns only of a refusal; where the model expects none, it would wait
        out the whole deadline, so it is not made."""
        return self.state.server.transport is not Transport.UDP or not listener_held(self.profile, self.state)

    def teardown(self) -> None:
        try:
            leftovers = self.driver.stop()
        except TargetFailure as failure:  # the agent hung or died ending the example
            if self.failed:
                return
            self._fail(TargetBroke(failure, self.steps, None, None))
        # An example that already failed keeps its own failure: a violation often leaves
        # work behind (the agent is restarted for the next example either way).
        if self.failed:
            return
        key = (*self.draws, TEARDOWN)
        seen, known = self._verdict(key)
        if known is not None:
            self._fail(known)
        if leftovers and not self.diverged:
            failure = TargetLeftovers(leftovers, self.steps)
            if seen:  # the same draws ended cleanly the first time
                self._contradicted(failure)
            else:
                self._remember(key, failure)
                self._fail(failure)
        self._remember(key, None)

    def _verdict(self, key: tuple[int, ...]) -> tuple[bool, Failure | None]:
        """Whether these draws ran before, and the failure they ended with then."""
        if not self.config.memo or key not in self.config.verdicts:
            return False, None
        return True, self.config.verdicts[key]

    def _remember(self, key: tuple[int, ...], failure: Failure | None) -> None:
        if self.config.memo:
            self.config.verdicts.setdefault(key, failure)

    # -- one step -------------------------------------------------------------------------

    def play(self, action: Action, outcome: Outcome, value: bool | int, index: int = 0) -> Failure | None:
        """One step named rather than drawn, as a recipe or a test spells it (`index`: which
        held worker): the failure it shows, if any. StepNotAllowed where the action stands
        for no event in this state, or for one the table does not allow."""
        choice = choice_of(self.state, action, outcome, value, index)  # before the state moves
        candidate = self._candidate(action, index, outcome, value)
        if candidate is None or not allowed(self.state, candidate[0]):
            raise StepNotAllowed(f"{action.name.lower()} stands for no allowed event here")
        failure = self._do(*candidate, choice=choice)
        if failure is not None:
            self.failed = True
        return failure

    def play_window(self, window: Window, index: int = 0, variant: int = 0) -> Failure | None:
        """One controlled interleaving named rather than drawn (`index`: which held worker;
        `variant`: the release's outcome, or 1 to set the attribute true): the failure it shows,
        if any. StepNotAllowed where it does not open in this state."""
        argument = index * len(OUTCOMES) + variant
        choice = CHOICES + WINDOWS.index(window) * ARGUMENTS + argument
        steps = len(self.steps)
        failure = self._window_step(choice)
        if len(self.steps) == steps and failure is None:
            raise StepNotAllowed(f"the window {window.what} does not open here")
        if failure is not None:
            self.failed = True
        return failure

    def _do(self, event: Event, act: Callable[[State], Observation], choice: int) -> Failure | None:
        """Perform one event on the real server and check it: the failure it shows, if any."""
        before = self.state
        assert allowed(before, event), event  # the rule only makes events the table allows
        after = step(self.profile, before, event)
        try:
            obs = act(after)
        except TargetFailure as failure:
            return TargetBroke(failure, self.steps, event, choice, before)  # made here, raised by _fail
        return self._judge(event, before, after, obs, choice)

    def _judge(
        self,
        event: Event,
        before: State,
        after: State,
        obs: Observation,
        choice: int,
        window: str | None = None,
    ) -> Counterexample | None:
        self.state = after
        self.steps.append(Step(event, before, after, obs, choice, window))
        self.config.steps_run += 1
        self.config.edges.add(edge(before, event, after))
        self._follow_documented(event, obs)
        violations = check(StepView(self.profile, before, event, after, obs))
        if violations and all(v.guarantee.name in self.config.muted for v in violations):
            self.diverged = True  # past a known break: the model no longer tracks the target
            return None
        if not violations:
            return None
        found = counterexample_class(violations[0].guarantee)(violations, self.steps)
        shortest = self.config.seen.get(found.guarantee.name)
        if shortest is None or len(found.steps) < len(shortest.steps):
            self.config.seen[found.guarantee.name] = found
        return found

    def _follow_documented(self, event: Event, obs: Observation, judged: bool = True) -> None:
        """`judged` false: the first of two events made at once, observed only after both."""
        if self.shadow is None:
            return
        before = self.shadow
        try:
            after = step(DOCUMENTED, before, event)
        except StepRefused:  # the target's profile went where documented does not (2.7's
            self.shadow = None  # idle loop at max_children turns on, and may be closed)
            return
        self.shadow = after
        if not judged:
            return
        violations = check(StepView(DOCUMENTED, before, event, after, obs))
        if violations:
            self.shadow = None  # past a divergence the shadow no longer tracks the target
            if self.config.divergence is None or len(self.steps) < len(self.config.divergence.steps):
                self.config.divergence = Divergence(tuple(violations), tuple(self.steps))


def has_room(state: State) -> bool:
    """A new connection may be made: fewer than MAX_HELD requests held or waiting."""
    return len(state.held) + len(state.queued) < MAX_HELD


def _loop_turns(after: State) -> bool:
    """A forking server's loop polls: its next whole turn reaps the exited children."""
    return after.server.kind is Kind.FORK and after.server.polls


def _stops_loop(before: State) -> bool:
    """A connection now wakes a loop without poll_interval to the flag a shutdown() set."""
    return before.server.waits_in_select and before.server.shutdown_request


def _dispatch_waits(after: State) -> bool:
    """handle_request() waits: at max_children, in handle_timeout() or (2.7) before its fork;
    or in select(), for a connection (a release does not make it return, so waiting for it to
    would only wait out the deadline)."""
    capped = after.server.capped
    return (
        after.server.listening
        or capped is Capped.TIMEOUT
        or (capped is Capped.FORK and not after.server.loop)
    )


def _close_must_return(after: State) -> bool:
    return after.server.phase is not Phase.CLOSING


def decode(state: State, choice: int) -> tuple[Action, Outcome, bool | int, int]:
    """The named step (as RefinementMachine.play takes it) that one draw stands for here."""
    action_index, argument = divmod(choice, ARGUMENTS)
    action = list(Action)[action_index]
    index, variant = divmod(argument, len(OUTCOMES))  # which held worker; how / reject / value
    outcome = OUTCOMES[variant]
    value: bool | int = variant == 1
    if action is Action.SET_MAX_CHILDREN:
        # Relative to the children running now (exactly at the cap, or one or two above),
        # so that deleting an unrelated connect while shrinking keeps the cap where it was.
        offset = (0, 1, 2)[argument % 3]
        value = max(1, len(state.held) + offset)
    elif action in ATTRIBUTE_OF:
        values = ATTRIBUTES[ATTRIBUTE_OF[action]]
        value = values[argument % len(values)]
    return action, outcome, value, index


def choice_of(state: State, action: Action, outcome: Outcome, value: bool | int, index: int) -> int:
    """The draw that `decode` makes into this named step in this state (its inverse), so a
    failure of named steps replays from its draws like a drawn one's (checker.minimize, replay
    scripts). -1 where no draw stands for it."""
    variant = OUTCOMES.index(outcome)
    argument = index * len(OUTCOMES) + variant
    if action is Action.SET_MAX_CHILDREN:  # relative to the children running now
        offsets = [o for o in range(3) if max(1, len(state.held) + o) == value]
        argument = offsets[0] if offsets else -1
    elif action in ATTRIBUTE_OF:
        values = ATTRIBUTES[ATTRIBUTE_OF[action]]
        argument = values.index(value) if value in values else -1
    if not 0 <= argument < ARGUMENTS:
        return -1
    return list(Action).index(action) * ARGUMENTS + argument


def lacks(info: TargetInfo | None, *names: str) -> bool:
    """Whether the target module lacks any of these (as its agent reported at load)."""
    return info is not None and any(name in info.lacks for name in names)


def machine_for(config: RunConfig) -> type[RefinementMachine]:
    """A machine class bound to one run's driver, profile and kind."""
    namespace: dict[str, object] = {"config": config}
    if config.interleave:  # the same rule, drawing windows too
        namespace["step"] = rule(choice=st.integers(0, CHOICES + WINDOW_CHOICES - 1))(RefinementMachine._draw)
    return type("RefinementMachine", (RefinementMachine,), namespace)
