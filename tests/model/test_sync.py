"""The synchronous server's cells: no mix-in, each request handled on the dispatching call."""

from __future__ import annotations

import pytest

from model import (
    DOCUMENTED,
    PROFILES,
    Close,
    Connect,
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
    Timeout,
    Transport,
    allowed,
    server_sockets,
    step,
)
from model.table import awaited_at_close
from tests.model.model_helpers import CPYTHON_38, each_profile, run

S = Kind.SYNC
CPYTHON_27 = PROFILES["cpython-2.7"]


def start(*events: object, profile: Profile = DOCUMENTED, transport: Transport = Transport.TCP) -> State:
    return run(profile, State.initial(S, transport), *events)  # type: ignore[arg-type]


@each_profile
def test_Connect_makes_handle_request_busy_and_the_next_waits(profile: Profile) -> None:
    state = start(Connect(), profile=profile)
    assert state.busy and state.worker(0).held and not state.server.loop
    state = run(profile, state, Connect())
    assert state.worker(1).queued  # handle_request() took exactly one
    state = run(profile, state, Release(0))
    assert not state.busy and state.worker(1).queued  # and nothing takes the other
    assert not allowed(state, Connect()) and not allowed(state, TimeOut())
    state = run(profile, state, Serve())
    assert state.worker(1).held and state.busy and state.server.loop  # the loop's first turn


@each_profile
def test_a_busy_handle_request_refuses_a_second_dispatch_beside_it(profile: Profile) -> None:
    state = start(Connect(), profile=profile)
    assert not allowed(state, TimeOut())
    assert not allowed(state, Serve())
    assert not allowed(state, Serve(Timeout.NONE))
    assert allowed(state, Close()) and allowed(state, SetAttr("block_on_close", False))


def test_a_synchronous_server_starts_no_worker_that_could_fail() -> None:
    assert not allowed(State.initial(S), Connect(fails=True))
    assert not allowed(start(Connect()), Close(by_handler=0))


@pytest.mark.parametrize("poll", [Timeout.SHORT, Timeout.NONE], ids=lambda t: t.value)
@each_profile
def test_the_loop_takes_one_connection_a_turn(profile: Profile, poll: Timeout) -> None:
    state = start(Serve(poll), Connect(), Connect(), Connect(rejected=True), profile=profile)
    assert [w.held for w in state.workers] == [True, False, False]
    assert [w.queued for w in state.workers] == [False, True, True]
    state = run(profile, state, Release(0, Outcome.RAISE))
    assert state.server.loop  # an Exception: handle_error, and the loop goes on
    assert [w.held for w in state.workers] == [False, True, False]
    state = run(profile, state, Release(1))
    # the rejected one is taken, shut down by the server, and the loop is idle again
    assert not state.busy and not state.queued and state.worker(2).rejected


@pytest.mark.parametrize("poll", [Timeout.SHORT, Timeout.NONE], ids=lambda t: t.value)
@each_profile
def test_shutdown_waits_for_the_held_handler_then_takes_nothing(profile: Profile, poll: Timeout) -> None:
    state = start(Serve(poll), Connect(), Connect(), profile=profile)
    state = run(profile, state, Shutdown())
    assert state.server.shutdown_waits and state.server.loop
    state = run(profile, state, Release(0))
    assert not state.server.loop and not state.server.shutdown_waits
    assert state.worker(1).queued  # the loop saw the flag before its next select()


@pytest.mark.parametrize("profile", [DOCUMENTED, PROFILES["cpython-3.6"], CPYTHON_38], ids=lambda p: p.name)
def test_systemexit_propagates_out_of_the_loop(profile: Profile) -> None:
    state = start(Serve(), Connect(), Shutdown(), profile=profile)
    state = run(profile, state, Release(0, Outcome.EXIT))
    assert not state.server.loop and state.server.loop_raised
    assert state.server.is_shut_down and not state.server.shutdown_request  # serve_forever's finally


def test_systemexit_reaches_handle_error_in_2_7_and_the_loop_goes_on() -> None:
    state = start(Serve(), Connect(), Connect(), profile=CPYTHON_27)
    state = run(CPYTHON_27, state, Release(0, Outcome.EXIT))
    assert state.server.loop and not state.server.loop_raised
    assert state.worker(1).held


@each_profile
def test_server_close_waits_for_nothing(profile: Profile) -> None:
    state = start(Connect(), profile=profile)
    assert awaited_at_close(profile, state) == frozenset()
    for event in (Close(), Close(by_exit=True)):
        after = step(profile, state, event)
        assert after.server.phase is Phase.CLOSED and after.busy  # the handler runs on
    state = run(profile, state, SetAttr("block_on_close", True), SetAttr("daemon_threads", False), Close())
    assert state.server.phase is Phase.CLOSED
    assert run(profile, state, Release(0)).server.phase is Phase.CLOSED


def test_the_held_handler_connection_is_the_servers_descriptor() -> None:
    state = start(Serve(), Connect(), Connect())
    assert server_sockets(state) == 2  # the listener and the held request, not the backlog
    assert server_sockets(start(Connect(), transport=Transport.UDP)) == 1
    assert server_sockets(run(DOCUMENTED, start(Serve(), Connect()), Shutdown(), Release(0), Close())) == 0


def test_close_under_a_busy_loop_is_refused_even_as_misuse() -> None:
    state = start(Serve(), Connect())
    assert not allowed(state, Close())
    assert allowed(start(Serve()), Close())  # an idle one: misuse, as for the mix-ins
