"""The CPython lines' profiles: what each changes from `documented`, step by step.

test_transitions.py spells out documented and cpython-3.8 for every event; this file does the
same for the places where cpython-3.6 and cpython-3.7 differ from them (reference notes
section 4.6: when block_on_close is read, and whether the thread list is pruned).
"""

from __future__ import annotations

import pytest

from model import (
    DOCUMENTED,
    PROFILES,
    Capped,
    Close,
    Connect,
    Kind,
    Outcome,
    Phase,
    Reaped,
    Release,
    Serve,
    Server,
    SetAttr,
    Shutdown,
    State,
    Worker,
    profile_for_version,
    server_sockets,
)
from tests.model.model_helpers import run

T, F = Kind.THREAD, Kind.FORK
OPEN, CLOSING, CLOSED = Phase.OPEN, Phase.CLOSING, Phase.CLOSED
RETURN = Outcome.RETURN
CPYTHON_36, CPYTHON_37, CPYTHON_38, CPYTHON_312 = (
    PROFILES[f"cpython-{line}"] for line in ("3.6", "3.7", "3.8", "3.12")
)


@pytest.mark.parametrize(
    ("version", "name"),
    [
        ((3, 6, 6), "cpython-3.6"),
        ((3, 6, 15), "cpython-3.6"),
        ((3, 7, 0), "cpython-3.7"),
        ((3, 7, 16), "cpython-3.7"),
        ((3, 8, 8), "cpython-3.7"),
        ((3, 8, 9), "cpython-3.8"),
        ((3, 8, 18), "cpython-3.8"),
        ((3, 9, 2), "cpython-3.7"),
        ((3, 9, 3), "cpython-3.8"),
        ((3, 11, 7), "cpython-3.8"),
        ((3, 12, 0), "cpython-3.12"),
        ((3, 13, 0), "cpython-3.12"),
        ((2, 7, 16), "cpython-2.7"),
        ((2, 7, 18), "cpython-2.7"),
    ],
)
def test_each_version_gets_the_profile_of_its_line(version, name) -> None:
    assert profile_for_version(version) == PROFILES[name]


@pytest.mark.parametrize("version", [(2, 7, 15), (3, 5, 10), (3, 6, 5), (3, 14, 0)])
def test_versions_no_profile_models(version) -> None:
    assert profile_for_version(version) is None


def test_the_3_12_profile_differs_from_3_8_only_in_its_classes() -> None:
    assert CPYTHON_312.forking_unix_classes and not CPYTHON_38.forking_unix_classes
    assert DOCUMENTED.forking_unix_classes  # the documentation as of 3.12 names them
    same = {"name", "summary", "forking_unix_classes"}
    for field in CPYTHON_38.__attrs_attrs__:
        if field.name not in same:
            assert getattr(CPYTHON_312, field.name) == getattr(CPYTHON_38, field.name), field.name


# --- 3.7: block_on_close read at spawn and again at close; the list never pruned --------------


def test_37_a_thread_spawned_with_block_on_close_is_not_joined_if_it_is_false_at_close() -> None:
    s = run(CPYTHON_37, State.initial(T), Connect(), SetAttr("block_on_close", False), Close())
    assert s == State(Server(T, CLOSED, block_on_close=False, closes=1), (Worker(0, T, tracked=True),))
    # 3.8.9+ joins it anyway: it is in the latched list
    latched = run(CPYTHON_38, State.initial(T), Connect(), SetAttr("block_on_close", False), Close())
    assert latched.server.phase is CLOSING and latched.server.awaited == {0}


def test_37_a_thread_spawned_without_block_on_close_is_never_joined() -> None:
    events = (SetAttr("block_on_close", False), Connect(), SetAttr("block_on_close", True), Close())
    s = run(CPYTHON_37, State.initial(T), *events)
    assert s == State(Server(T, CLOSED, closes=1), (Worker(0, T),))


def test_37_joins_the_threads_tracked_at_spawn_while_block_on_close_stays_true() -> None:
    s = run(CPYTHON_37, State.initial(T), Connect(), Connect(), SetAttr("daemon_threads", True), Connect())
    s = run(CPYTHON_37, s, Close())
    assert s.server.phase is CLOSING and s.server.awaited == {0, 1}  # not the daemon w2
    s = run(CPYTHON_37, s, Release(0), Release(1))
    assert s.server.phase is CLOSED
    assert [w.tracked for w in s.workers] == [False, False, False]  # `_threads = None`


def test_37_finished_threads_stay_referenced_until_a_close_that_joins() -> None:
    s = run(CPYTHON_37, State.initial(T), Connect(), Release(0), Connect())
    # bpo-37193: no spawn prunes the list (3.8.9+ lets go of w0 at the second spawn)
    assert s.workers[0] == Worker(0, T, tracked=True, held=False, outcome=RETURN, may_be_retained=True)
    assert not run(CPYTHON_38, State.initial(T), Connect(), Release(0), Connect()).workers[0].may_be_retained
    kept = run(CPYTHON_37, s, SetAttr("block_on_close", False), Close())
    assert kept.server.phase is CLOSED and kept.workers[0].may_be_retained  # the list stays
    s = run(CPYTHON_37, s, Close(), Release(1))
    assert s.server.phase is CLOSED
    assert not any(w.may_be_retained or w.tracked for w in s.workers)


def test_37_a_thread_that_never_started_stays_in_the_list_and_the_close_raises() -> None:
    s = run(CPYTHON_37, State.initial(T), Connect(fails=True), Connect(), Release(1), Close())
    # 3.8.9+'s next append prunes the unstarted thread; 3.7 keeps it, so the join raises there
    assert s.server == Server(T, CLOSED, closes=1, close_raises=True)
    pruned = run(CPYTHON_38, State.initial(T), Connect(fails=True), Connect(), Release(1), Close())
    assert not pruned.server.close_raises


def test_37_a_close_that_does_not_join_does_not_raise_at_the_unstarted_thread() -> None:
    s = run(CPYTHON_37, State.initial(T), Connect(fails=True), SetAttr("block_on_close", False), Close())
    assert not s.server.close_raises


# --- 3.6: block_on_close is not read; the private _block_on_close is False ---------------------


@pytest.mark.parametrize("kind", [T, F], ids=["thread", "fork"])
def test_36_close_waits_for_nothing_whatever_block_on_close_says(kind) -> None:
    s = run(CPYTHON_36, State.initial(kind), SetAttr("block_on_close", True), Connect(), Close())
    assert s.server == Server(kind, CLOSED, closes=1)
    assert s.workers[0].held and not s.workers[0].tracked


def test_36_fork_close_still_reaps_the_children_that_have_exited() -> None:
    s = run(CPYTHON_36, State.initial(F), Connect(), Connect(), Release(0), Close())
    assert [w.reaped for w in s.workers] == [Reaped.YES, Reaped.NO]  # WNOHANG: w1 runs on


def test_36_retains_no_thread_and_raises_at_no_close() -> None:
    s = run(CPYTHON_36, State.initial(T), Connect(fails=True), Connect(), Release(1), Close())
    assert s.server == Server(T, CLOSED, closes=1)
    assert not any(w.may_be_retained for w in s.workers)


def test_36_a_handler_closing_its_own_server_returns() -> None:
    s = run(CPYTHON_36, State.initial(T), Connect(), Connect(), Close(by_handler=0))
    assert s.server == Server(T, CLOSED, closes=1)  # no join: no "cannot join current thread"


# --- 2.7: no server_close() in the mix-ins, no service_actions(), a bare except: --------------

CPYTHON_27 = PROFILES["cpython-2.7"]
CAP_1 = SetAttr("max_children", 1)


@pytest.mark.parametrize("kind", [T, F], ids=["thread", "fork"])
def test_27_close_neither_waits_nor_reaps(kind) -> None:
    s = run(CPYTHON_27, State.initial(kind), Connect(), Connect(), Release(0), Close())
    assert s.server == Server(kind, CLOSED, closes=1)
    assert [w.reaped for w in s.workers] == [Reaped.NO, Reaped.NO]  # w0 stays a zombie
    assert not any(w.tracked or w.may_be_retained for w in s.workers)


def test_27_reaps_before_each_fork_and_never_in_an_idle_loop() -> None:
    s = run(CPYTHON_27, State.initial(F), Connect(), Release(0), Serve())
    assert s.server.loop and s.workers[0].reaped is Reaped.NO  # no service_actions()
    s = run(CPYTHON_27, s, Connect())
    assert s.workers[0].reaped is Reaped.YES and s.workers[1].held  # collect_children(), then fork


def test_27_handle_request_waits_at_the_cap_holding_the_connection() -> None:
    s = run(CPYTHON_27, State.initial(F), Connect(), CAP_1, Connect())
    assert s.server.capped is Capped.FORK and not s.server.loop and s.workers[1].queued
    assert server_sockets(s) == 2  # the listener and the accepted connection
    s = run(CPYTHON_27, s, Release(0))
    assert s.server.capped is None and s.workers[1].held and s.workers[0].reaped is Reaped.YES
    assert server_sockets(s) == 1


def test_27_an_idle_loop_at_the_cap_turns_on_and_stops_at_once() -> None:
    s = run(CPYTHON_27, State.initial(F), Connect(), CAP_1, Serve())
    assert s.server.turning  # documented and 3.x wait in service_actions()
    assert run(CPYTHON_27, s, Shutdown()).server == Server(F, max_children=1, is_shut_down=True)


def test_27_a_loop_forks_what_it_accepted_at_the_cap_even_after_shutdown() -> None:
    s = run(CPYTHON_27, State.initial(F), Connect(), CAP_1, Serve(), Connect(), Connect(), Shutdown())
    assert s.server.capped is Capped.FORK and s.server.shutdown_waits
    assert [w.queued for w in s.workers] == [False, True, True] and server_sockets(s) == 2
    s = run(CPYTHON_27, s, Release(0))
    assert not s.server.loop and not s.server.shutdown_waits
    assert s.workers[1].held and s.workers[2].queued  # w1 forked; w2 stays in the backlog


def test_27_a_rejected_connection_does_not_wait_at_the_cap() -> None:
    s = run(CPYTHON_27, State.initial(F), Connect(), CAP_1, Connect(rejected=True))
    assert s.server.capped is None and not s.workers[1].queued  # verify_request() comes first


def test_27_a_loop_dies_when_its_socket_is_closed() -> None:
    s = run(CPYTHON_27, State.initial(T), Serve(), Close())
    assert s.server == Server(T, CLOSED, closes=1, is_shut_down=True, loop_raised=True)
    spins = run(CPYTHON_38, State.initial(T), Serve(), Close())
    assert spins.server.loop and not spins.server.loop_raised
