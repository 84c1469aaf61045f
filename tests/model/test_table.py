"""The transition table's structure: one cell per (phase, event), refusals that change nothing."""

from __future__ import annotations

import typing

import attrs
import pytest
from hypothesis import given

from model import (
    ATTRIBUTES,
    TRANSITIONS,
    Capped,
    Close,
    Connect,
    Event,
    HangUp,
    Kind,
    Outcome,
    Phase,
    Profile,
    Reaped,
    Refused,
    Release,
    Serve,
    Server,
    SetAttr,
    Shutdown,
    State,
    StepRefused,
    TimeOut,
    Timeout,
    Transport,
    Worker,
    allowed,
    effective_timeout,
    listener_held,
    outside_contract,
    step,
)
from tests.model.model_helpers import (
    ALL_PROFILES,
    CPYTHON_38,
    DOCUMENTED,
    candidates,
    each_kind,
    each_profile,
    run,
    traces,
)

EVENT_TYPES = typing.get_args(Event)
SAMPLE_EVENTS = {
    Connect: Connect(),
    Release: Release(0),
    SetAttr: SetAttr("block_on_close", False),
    Close: Close(),
    TimeOut: TimeOut(),
    Serve: Serve(),
    Shutdown: Shutdown(),
    HangUp: HangUp(0),
}


def state_in(profile: Profile, kind: Kind, phase: Phase) -> State:
    """A state in `phase` with one held, non-daemon worker w0 (so Release(0) is meaningful)."""
    return state_with(profile, kind, phase, workers=1)


def state_with(profile: Profile, kind: Kind, phase: Phase, workers: int) -> State:
    """A state in `phase` with `workers` held, non-daemon workers.

    block_on_close is false from the start for CLOSED, so that no profile waits (cpython-3.8
    latches a true block_on_close at the first spawn).
    """
    state = State.initial(kind)
    if phase is Phase.CLOSED:
        state = run(profile, state, SetAttr("block_on_close", False))
    state = run(profile, state, *[Connect()] * workers)
    if phase is not Phase.OPEN:
        state = run(profile, state, Close())
    assert state.server.phase is phase
    assert state.held == state.workers
    assert len(state.workers) == workers
    return state


def test_Event_types_are_the_seven_events() -> None:
    assert set(EVENT_TYPES) == {Connect, Release, SetAttr, Close, TimeOut, Serve, Shutdown, HangUp}
    assert set(SAMPLE_EVENTS) == set(EVENT_TYPES)


def test_TRANSITIONS_has_a_cell_for_every_phase_and_event() -> None:
    assert set(TRANSITIONS) == {(phase, kind) for phase in Phase for kind in EVENT_TYPES}
    for cell in TRANSITIONS.values():
        assert isinstance(cell, Refused) or callable(cell)


def test_TRANSITIONS_refuses_connect_close_and_dispatch_while_closing_and_serving_once_closed() -> None:
    refused = {key for key, cell in TRANSITIONS.items() if isinstance(cell, Refused)}
    assert refused == {
        (Phase.CLOSING, Connect),
        (Phase.CLOSING, Close),
        (Phase.CLOSING, TimeOut),
        (Phase.CLOSED, TimeOut),
        (Phase.CLOSING, Serve),
        (Phase.CLOSED, Serve),
    }
    for key in refused:
        reason = TRANSITIONS[key].reason  # type: ignore[union-attr]
        assert reason and "\n" not in reason


REFUSED_CELLS = [key for key, cell in TRANSITIONS.items() if isinstance(cell, Refused)]


@pytest.mark.parametrize(
    ("phase", "event_type"), REFUSED_CELLS, ids=lambda x: getattr(x, "__name__", getattr(x, "value", x))
)
@each_kind
@each_profile
def test_Refused_cell_refuses_and_changes_nothing(
    profile: Profile, kind: Kind, phase: Phase, event_type: type
) -> None:
    state = state_in(profile, kind, phase)
    copy = attrs.evolve(state)
    event = SAMPLE_EVENTS[event_type]
    cell = TRANSITIONS[(phase, event_type)]
    assert isinstance(cell, Refused)
    assert not allowed(state, event)
    with pytest.raises(StepRefused) as refused:
        step(profile, state, event)
    assert str(refused.value) == cell.reason
    assert state == copy  # frozen values: the refused step could not have changed it


@pytest.mark.parametrize("phase", list(Phase), ids=lambda p: p.value)
@each_kind
@each_profile
def test_allowed_agrees_with_the_table_in_every_phase(profile: Profile, kind: Kind, phase: Phase) -> None:
    state = state_in(profile, kind, phase)
    samples = [*SAMPLE_EVENTS.items(), (Connect, Connect(rejected=True))]
    for event_type, event in samples:
        refused = isinstance(TRANSITIONS[(phase, event_type)], Refused)
        assert allowed(state, event) is not refused, event
        if not refused:
            step(profile, state, event)  # does not raise


def test_State_is_frozen() -> None:
    state = State.initial(Kind.THREAD)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        state.workers = ()  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        state.server.phase = Phase.CLOSED  # type: ignore[misc]


@each_kind
@each_profile
def test_Release_of_an_unknown_worker_is_refused(profile: Profile, kind: Kind) -> None:
    initial = State.initial(kind)
    for wid in (0, 1, -1):
        assert not allowed(initial, Release(wid))
        with pytest.raises(StepRefused, match=f"no worker w{wid}"):
            step(profile, initial, Release(wid))
    one = run(profile, initial, Connect())
    for wid in (1, 2, -1):  # -1 must not wrap round to the last worker
        assert not allowed(one, Release(wid))
        with pytest.raises(StepRefused, match=f"no worker w{wid}"):
            step(profile, one, Release(wid))
    assert one == State(
        server=Server(kind=kind, threads_list=one.server.threads_list),
        workers=(Worker(0, kind, tracked=one.workers[0].tracked),),
    )


@pytest.mark.parametrize("phase", list(Phase), ids=lambda p: p.value)
@each_kind
@each_profile
def test_Release_of_a_released_worker_is_refused(profile: Profile, kind: Kind, phase: Phase) -> None:
    # w0 is released in `phase`, then released again; w1 keeps a close waiting in CLOSING.
    state = run(profile, state_with(profile, kind, phase, workers=2), Release(0, Outcome.RAISE))
    assert state.server.phase is phase
    assert state.workers[0].held is False
    assert state.workers[0].outcome is Outcome.RAISE
    copy = attrs.evolve(state)
    for outcome in Outcome:
        assert not allowed(state, Release(0, outcome))
        with pytest.raises(StepRefused, match="w0 is not running"):
            step(profile, state, Release(0, outcome))
    assert state == copy


@given(traces() | traces(low_cap=True))
def test_allowed_is_exactly_when_step_does_not_refuse(trace: tuple[Profile, list]) -> None:
    profile, steps = trace
    assert profile in ALL_PROFILES
    for before, _, after in steps:
        for state in (before, after):
            for event in candidates(state):
                copy = attrs.evolve(state)
                if allowed(state, event):
                    step(profile, state, event)
                else:
                    with pytest.raises(StepRefused):
                        step(profile, state, event)
                assert state == copy


@pytest.mark.parametrize("phase", [Phase.CLOSING, Phase.CLOSED], ids=lambda p: p.value)
@each_kind
@each_profile
def test_Connect_rejected_is_refused_like_Connect_while_closing_only(
    profile: Profile, kind: Kind, phase: Phase
) -> None:
    state = state_in(profile, kind, phase)
    cell = TRANSITIONS[(phase, Connect)]
    if phase is Phase.CLOSED:  # a probe of the closed server, whether verify_request() would say no
        assert allowed(state, Connect(rejected=True))
        assert step(profile, state, Connect(rejected=True)) == state == step(profile, state, Connect())
        return
    assert isinstance(cell, Refused)
    assert not allowed(state, Connect(rejected=True))
    copy = attrs.evolve(state)
    with pytest.raises(StepRefused) as refused:
        step(profile, state, Connect(rejected=True))
    assert str(refused.value) == cell.reason
    assert state == copy


@pytest.mark.parametrize("phase", list(Phase), ids=lambda p: p.value)
@each_kind
@each_profile
def test_Release_of_a_rejected_request_is_refused(profile: Profile, kind: Kind, phase: Phase) -> None:
    # w0 was rejected (it never ran); w1 is held and keeps a close waiting in CLOSING
    state = run(profile, State.initial(kind), Connect(rejected=True), Connect())
    if phase is Phase.CLOSED:
        state = run(profile, state, SetAttr("block_on_close", False), Close())
        if state.server.phase is Phase.CLOSING:  # cpython-3.8 latched block_on_close at w1's spawn
            state = run(profile, state, Release(1))
    elif phase is Phase.CLOSING:
        state = run(profile, state, Close())
    assert state.server.phase is phase
    assert state.workers[0].rejected
    copy = attrs.evolve(state)
    for outcome in Outcome:
        assert not allowed(state, Release(0, outcome))
        with pytest.raises(StepRefused, match=r"^w0 "):
            step(profile, state, Release(0, outcome))
    assert state == copy


@each_profile
def test_SetAttr_of_an_unmodelled_attribute_is_refused(profile: Profile) -> None:
    state = State.initial(Kind.THREAD)
    assert not allowed(state, SetAttr("allow_reuse_address", True))
    with pytest.raises(StepRefused, match="allow_reuse_address is not a modelled attribute"):
        step(profile, state, SetAttr("allow_reuse_address", True))
    assert state == State.initial(Kind.THREAD)


def test_ATTRIBUTES_are_the_mix_in_attributes_with_their_modelled_values() -> None:
    names = {"block_on_close", "daemon_threads", "max_children", "timeout", "socket_timeout"}
    assert set(ATTRIBUTES) == names
    assert ATTRIBUTES["block_on_close"] == ATTRIBUTES["daemon_threads"] == (False, True)
    assert set(ATTRIBUTES["timeout"]) == set(ATTRIBUTES["socket_timeout"]) == set(Timeout)
    # the checker's servers: a short server.timeout, a socket in blocking mode
    assert (Server(Kind.THREAD).timeout, Server(Kind.THREAD).socket_timeout) == (Timeout.SHORT, Timeout.NONE)
    # at 0, CPython's cap loop spins on an empty set of children: the model starts at 1
    assert ATTRIBUTES["max_children"] and all(type(v) is int and v >= 1 for v in ATTRIBUTES["max_children"])
    assert Server(Kind.FORK).max_children == 40  # ForkingMixIn's default


@pytest.mark.parametrize("phase", list(Phase), ids=lambda p: p.value)
@each_kind
@each_profile
def test_SetAttr_of_max_children_is_allowed_on_any_server_and_changes_only_it(
    profile: Profile, kind: Kind, phase: Phase
) -> None:
    # no loop runs and no call waits at the cap here: the value is only stored
    state = state_in(profile, kind, phase)
    for value in ATTRIBUTES["max_children"]:
        assert allowed(state, SetAttr("max_children", value))
        assert step(profile, state, SetAttr("max_children", value)) == attrs.evolve(
            state, server=attrs.evolve(state.server, max_children=value)
        )


@each_profile
def test_SetAttr_of_a_value_outside_the_modelled_ones_is_refused(profile: Profile) -> None:
    # max_children=0 would cap a loop with no child to wait for; True is not max_children=1
    state = State.initial(Kind.FORK)
    bad = (SetAttr("max_children", 0), SetAttr("max_children", 7), SetAttr("max_children", True))
    for event in (*bad, SetAttr("block_on_close", 5), SetAttr("daemon_threads", 1)):
        assert not allowed(state, event)
        with pytest.raises(StepRefused):
            step(profile, state, event)


# --- the effective timeout rule -------------------------------------------------------------

S, N, L = Timeout.SHORT, Timeout.NONE, Timeout.LONG


@pytest.mark.parametrize(
    ("timeout", "socket_timeout", "effective"),
    # the socket's own timeout, else server.timeout; with both set, the smaller
    [(S, N, S), (N, N, N), (L, N, L), (N, S, S), (N, L, L), (S, L, S), (L, S, S), (L, L, L), (S, S, S)],
)
def test_effective_timeout_is_the_smaller_of_the_two_that_are_set(
    timeout: Timeout, socket_timeout: Timeout, effective: Timeout
) -> None:
    assert effective_timeout(Server(Kind.THREAD, timeout=timeout, socket_timeout=socket_timeout)) is effective


@each_kind
@each_profile
def test_TimeOut_with_no_timeout_that_passes_waits_for_the_next_connection(
    profile: Profile, kind: Kind
) -> None:
    state = step(profile, State.initial(kind), SetAttr("socket_timeout", L))
    state = step(profile, state, SetAttr("timeout", N))
    waiting = step(profile, state, TimeOut())
    assert waiting == attrs.evolve(state, server=attrs.evolve(state.server, listening=True))
    for event in (TimeOut(), Serve(), Close(), Shutdown()):
        assert not allowed(waiting, event), event
    # a timeout changed now is not the waiting call's: it read both as it started
    still = step(profile, waiting, SetAttr("timeout", S))
    assert still.server.listening
    taken = step(profile, still, Connect())
    assert not taken.server.listening and taken.held and taken.server.timeouts == 0


@each_profile
def test_SetAttr_of_socket_timeout_after_close_is_refused(profile: Profile) -> None:
    closed = step(profile, State.initial(Kind.THREAD), Close())
    assert not allowed(closed, SetAttr("socket_timeout", S))
    assert allowed(closed, SetAttr("timeout", N))


# --- the serving loop's own contract (conditions inside the OPEN cells) -----------------------


@each_kind
@each_profile
def test_loop_contract_one_loop_and_no_dispatch_beside_it(profile: Profile, kind: Kind) -> None:
    s = State.initial(kind)
    s = step(profile, s, Serve())
    assert s.server.loop and not s.server.is_shut_down
    for refused in (Serve(), TimeOut()):  # a second loop, handle_request() beside it
        assert not allowed(s, refused)
        with pytest.raises(StepRefused):
            step(profile, s, refused)
    assert allowed(s, Connect()) and allowed(s, SetAttr("block_on_close", False))
    assert outside_contract(s, Shutdown()) is None
    s = step(profile, s, Shutdown())
    assert not s.server.loop and s.server.is_shut_down and not s.server.shutdown_request
    assert allowed(s, Serve()) and allowed(s, TimeOut()) and allowed(s, Close())
    s = step(profile, s, Serve())  # the loop can be started again
    assert s.server.loop and not s.server.is_shut_down


@each_kind
def test_outside_contract_names_exactly_shutdown_without_a_loop_and_close_under_one(kind: Kind) -> None:
    s = State.initial(kind)
    assert "shutdown() with no serve_forever()" in (outside_contract(s, Shutdown()) or "")
    assert outside_contract(s, Close()) is None
    s = step(DOCUMENTED, s, Serve())
    assert outside_contract(s, Shutdown()) is None
    assert "server_close() under a running" in (outside_contract(s, Close()) or "")
    for event in (Connect(), Release(0), SetAttr("block_on_close", False), TimeOut(), Serve()):
        assert outside_contract(s, event) is None
        assert outside_contract(State.initial(kind), event) is None


# --- misuse: calls outside the contract, as BaseServer really answers them -----------------


@each_kind
@each_profile
def test_misuse_shutdown_with_no_loop_ever_run_waits_for_the_next_serve_forever(
    profile: Profile, kind: Kind
) -> None:
    s = step(profile, State.initial(kind), Shutdown())
    assert s.server.shutdown_waits and not s.server.loop
    assert not allowed(s, Shutdown())  # a second one is not modelled
    s = run(profile, s, Connect(), Release(0))  # handle_request() does not look at the flag
    s = step(profile, s, Serve())  # sees the flag before its first poll: returns at once
    assert not s.server.loop and not s.server.shutdown_waits and not s.server.shutdown_request
    if kind is Kind.FORK:  # no service_actions() ran: the exited child is still a zombie
        assert s.workers[0].reaped is Reaped.NO
    s = step(profile, s, Serve())  # the flag was cleared: this one runs
    assert s.server.loop


@each_kind
@each_profile
def test_misuse_shutdown_after_the_loop_stopped_returns_and_stops_the_next_loop_at_once(
    profile: Profile, kind: Kind
) -> None:
    s = run(profile, State.initial(kind), Serve(), Shutdown(), Shutdown())
    assert s.server.shutdown_request and not s.server.shutdown_waits  # returned, flag left set
    s = step(profile, s, Serve())
    assert not s.server.loop and not s.server.shutdown_request
    s = step(profile, s, Serve())
    assert s.server.loop


@each_kind
@each_profile
def test_misuse_close_under_a_running_loop_runs_it_on_until_shutdown(profile: Profile, kind: Kind) -> None:
    s = run(profile, State.initial(kind), Serve(), Connect(), Close())
    assert s.server.phase is Phase.CLOSING and s.server.loop
    s = step(profile, s, Release(0))
    assert s.server.phase is Phase.CLOSED and s.server.loop
    if kind is Kind.FORK:  # its service_actions() still reaps
        assert s.workers[0].reaped is Reaped.YES
    for refused in (Serve(), SetAttr("max_children", 1)):
        assert not allowed(s, refused), refused
    s = step(profile, s, Shutdown())
    assert not s.server.loop and s.server.is_shut_down


@each_profile
def test_loop_reaps_exited_children_at_its_next_turn(profile: Profile) -> None:
    """service_actions() reaps every exited child; the checker waits for the loop's next
    whole turn after a start and after a release."""
    s = State.initial(Kind.FORK)
    s = step(profile, s, Connect())
    s = step(profile, s, Release(0))
    assert s.workers[0].reaped is Reaped.NO
    s = step(profile, s, Serve())
    assert s.workers[0].reaped is Reaped.YES
    s = step(profile, s, Connect())
    s = step(profile, s, Release(1))
    assert s.workers[1].reaped is Reaped.YES
    s = step(profile, s, Shutdown())
    s = step(profile, s, TimeOut())
    assert [w.reaped for w in s.workers] == [Reaped.YES, Reaped.YES]


@each_profile
def test_loop_at_max_children_reaps_in_its_own_time(profile: Profile) -> None:
    """At the cap, service_actions() sits in waitpid(-1): it reaps an exited child, but no
    whole turn follows for the checker to wait on, so the child is seen either way."""
    s = State.initial(Kind.FORK)
    s = step(profile, s, Connect())
    s = step(profile, s, Release(0))
    s = step(profile, s, Connect())
    s = step(profile, s, SetAttr("max_children", 1))
    s = step(profile, s, Serve())
    assert s.server.capped is Capped.LOOP
    assert s.workers[0].reaped is Reaped.MAYBE


# --- max_children: what may happen while a call waits at the cap --------------------------


def at_the_cap(profile: Profile, *events: Event) -> State:
    """A forking server with max_children=2 and two held children w0 and w1, then `events`."""
    state = State.initial(Kind.FORK)
    return run(profile, state, SetAttr("max_children", 2), Connect(), Connect(), *events)


@each_profile
def test_cap_TimeOut_at_the_cap_allows_only_releases_and_attributes_meanwhile(profile: Profile) -> None:
    s = at_the_cap(profile, TimeOut())
    assert s.server.capped is Capped.TIMEOUT
    for event in candidates(s):
        if isinstance(event, SetAttr):
            assert allowed(s, event), event
            continue
        if isinstance(event, Release):
            assert allowed(s, event) is (event.wid in (0, 1)), event
            continue
        copy = attrs.evolve(s)
        assert not allowed(s, event), event
        with pytest.raises(StepRefused) as refused:
            step(profile, s, event)
        assert str(refused.value).startswith("handle_request() waits"), refused.value
        assert "at max_children" in str(refused.value), refused.value
        assert s == copy
    s = run(profile, s, Release(0))  # below the cap: handle_request() has returned
    assert s.server.capped is None
    assert all(allowed(s, e) for e in (Connect(), TimeOut(), Serve(), Close()))


@each_profile
def test_cap_Shutdown_waits_until_a_child_exits_and_the_loop_is_below_the_cap(profile: Profile) -> None:
    s = at_the_cap(profile, Serve(), Shutdown())
    assert s.server.capped is Capped.LOOP and s.server.loop and s.server.shutdown_waits
    for refused in (Shutdown(), Close(), Serve(), TimeOut()):
        assert not allowed(s, refused), refused
    # meanwhile connections come (and wait), attributes are set
    s = run(profile, s, Connect(), SetAttr("max_children", 1))
    s = step(profile, s, Release(0))  # one child left: still at max_children=1
    assert s.server.capped is Capped.LOOP and s.server.shutdown_waits
    s = step(profile, s, Release(1))  # below the cap: service_actions() returns, the loop stops
    assert not s.server.loop and not s.server.shutdown_waits and s.server.capped is None
    assert [w.reaped for w in s.workers[:2]] == [Reaped.YES, Reaped.YES]  # its WNOHANG pass
    assert s.workers[2].queued  # the loop stopped without taking it
    s = step(profile, s, Serve())  # a new loop takes it
    assert s.workers[2].held


@each_profile
def test_cap_Release_of_a_connection_waiting_in_the_backlog_is_refused(profile: Profile) -> None:
    # the loop has not taken it: there is no handler to release yet
    s = at_the_cap(profile, Serve(), Connect(), Connect(rejected=True))
    assert [w.wid for w in s.queued] == [2, 3]
    copy = attrs.evolve(s)
    for wid in (2, 3):
        for outcome in Outcome:
            assert not allowed(s, Release(wid, outcome))
            with pytest.raises(StepRefused, match=rf"^w{wid} "):
                step(profile, s, Release(wid, outcome))
    assert s == copy


@each_profile
def test_cap_thread_servers_allow_everything_at_max_children(profile: Profile) -> None:
    s = run(profile, State.initial(Kind.THREAD), SetAttr("max_children", 1), Connect(), Connect())
    assert not s.at_cap
    assert allowed(s, TimeOut()) and allowed(s, Close())
    s = run(profile, s, TimeOut(), Serve(), Connect())
    assert s.server.capped is None and not s.queued
    assert allowed(s, Shutdown())


# --- transports ---------------------------------------------------------------------------


@pytest.mark.parametrize("transport", list(Transport), ids=lambda t: t.value)
@each_profile
def test_listener_held_only_by_running_children_that_keep_it(profile: Profile, transport: Transport) -> None:
    keeps = profile.child_keeps_listener or not transport.stream
    thread = run(profile, State.initial(Kind.THREAD, transport), Connect())
    assert not listener_held(profile, thread)
    fork = run(profile, State.initial(Kind.FORK, transport), Connect())
    assert listener_held(profile, fork) is keeps
    assert not listener_held(profile, run(profile, fork, Release(0)))
    assert not listener_held(
        profile, run(profile, State.initial(Kind.FORK, transport), Connect(rejected=True))
    )


def test_transport_stream_is_tcp_and_unix_only() -> None:
    assert [t for t in Transport if t.stream] == [Transport.TCP, Transport.UNIX]


# --- a worker that fails to start -------------------------------------------------------------


@each_kind
@each_profile
def test_failed_spawn_leaves_a_record_and_no_worker(profile: Profile, kind: Kind) -> None:
    state = run(profile, State.initial(kind), Connect(fails=True))
    (record,) = state.workers
    assert record.failed and not record.held and not record.spawned and not record.exited_child
    assert state.held == () and not state.at_cap


def test_as_built_close_after_a_failed_thread_start_joins_only_the_threads_before_it() -> None:
    # _Threads.join() joins in spawn order and raises at the thread that never started
    profile = CPYTHON_38
    state = run(profile, State.initial(Kind.THREAD), Connect(), Connect(fails=True))
    assert state.worker(1).tracked  # appended before t.start() raised
    closing = step(profile, state, Close())
    assert closing.server.awaited == frozenset({0}) and closing.server.close_raises
    assert step(profile, closing, Release(0)).server.phase is Phase.CLOSED
    # a spawn in between prunes it: no raise, and close waits as usual
    pruned = run(profile, state, Connect())
    assert not pruned.worker(1).tracked
    closing = step(profile, pruned, Close())
    assert closing.server.awaited == frozenset({0, 2}) and not closing.server.close_raises


def test_documented_close_after_a_failed_thread_start_is_a_plain_close() -> None:
    state = run(DOCUMENTED, State.initial(Kind.THREAD), Connect(), Connect(fails=True))
    assert not state.worker(1).tracked
    closing = step(DOCUMENTED, state, Close())
    assert closing.server.awaited == frozenset({0}) and not closing.server.close_raises


# --- clients that hang up ----------------------------------------------------------------------


@each_kind
@each_profile
def test_hang_up_marks_the_request_and_changes_nothing_else(profile: Profile, kind: Kind) -> None:
    before = run(profile, State.initial(kind), Connect(), Connect())
    after = step(profile, before, HangUp(1))
    assert after.worker(1).hung_up and after.worker(1).held
    assert attrs.evolve(after.worker(1), hung_up=False) == before.worker(1)
    assert after.server == before.server and after.worker(0) == before.worker(0)
    early = step(profile, before, Connect(hangs_up=True))  # before it was dispatched
    assert early.worker(2).hung_up and early.worker(2).held


@each_kind
@each_profile
def test_hang_up_is_refused_without_a_connection_to_hang_up(profile: Profile, kind: Kind) -> None:
    s = run(profile, State.initial(kind), Connect(), Connect(), Release(1), HangUp(0))
    for event, words in (
        (HangUp(0), "hung up already"),
        (HangUp(1), "no handler running"),  # released
        (HangUp(2), "no handler running"),  # no such worker
        (Connect(hangs_up=True, rejected=True), "requests that are handled"),
        (Connect(hangs_up=True, fails=True), "requests that are handled"),
    ):
        assert not allowed(s, event), event
        with pytest.raises(StepRefused, match=words):
            step(profile, s, event)
    for transport in (Transport.UDP, Transport.UNIX_DATAGRAM):
        d = run(profile, State.initial(kind, transport), Connect())
        for event in (HangUp(0), Connect(hangs_up=True)):
            assert not allowed(d, event), event
            with pytest.raises(StepRefused, match="datagram client has no connection"):
                step(profile, d, event)
