"""The transitions, one event at a time, with the whole state asserted after each step.

Each test runs for both profiles (`documented` and `cpython-3.8`); where they differ the
expected state says which does what.
"""

from __future__ import annotations

import attrs

from model import (
    DOCUMENTED,
    Capped,
    Close,
    Connect,
    Kind,
    Outcome,
    Phase,
    Profile,
    Reaped,
    Release,
    Serve,
    Server,
    SetAttr,
    Shutdown,
    State,
    TimeOut,
    Timeout,
    Worker,
    allowed,
    step,
)
from model.profiles import ThreadClose
from model.table import settle
from tests.model.model_helpers import CPYTHON_38, each_kind, each_profile, run

T = Kind.THREAD
F = Kind.FORK
OPEN, CLOSING, CLOSED = Phase.OPEN, Phase.CLOSING, Phase.CLOSED
RETURN, RAISE = Outcome.RETURN, Outcome.RAISE


def latches(profile: Profile) -> bool:
    return profile.thread_close is ThreadClose.LATCHED_AT_SPAWN


def test_profiles_under_test_are_documented_and_cpython_3_8() -> None:
    assert not latches(DOCUMENTED)
    assert latches(CPYTHON_38)


# --- spawning ---------------------------------------------------------------------------------


@each_kind
@each_profile
def test_Connect_spawns_a_held_worker(profile: Profile, kind: Kind) -> None:
    s = State.initial(kind)
    assert s == State(Server(kind))
    s = step(profile, s, Connect())
    tracked = kind is T and latches(profile)
    assert s == State(Server(kind, threads_list=tracked), (Worker(0, kind, tracked=tracked),))
    s = step(profile, s, Connect())
    assert s == State(
        Server(kind, threads_list=tracked),
        (Worker(0, kind, tracked=tracked), Worker(1, kind, tracked=tracked)),
    )


@each_profile
def test_spawn_sets_daemon_from_daemon_threads_at_spawn(profile: Profile) -> None:
    latched = latches(profile)
    s = step(profile, State.initial(T), SetAttr("daemon_threads", True))
    assert s == State(Server(T, daemon_threads=True))
    s = step(profile, s, Connect())
    # cpython-3.8 creates _threads (block_on_close is true) but never tracks a daemon thread
    assert s == State(Server(T, daemon_threads=True, threads_list=latched), (Worker(0, T, daemon=True),))
    s = step(profile, s, SetAttr("daemon_threads", False))
    assert s.workers == (Worker(0, T, daemon=True),)  # set at spawn: a later change does not reach it
    s = step(profile, s, Connect())
    assert s == State(
        Server(T, daemon_threads=False, threads_list=latched),
        (Worker(0, T, daemon=True), Worker(1, T, daemon=False, tracked=latched)),
    )
    s = step(profile, s, SetAttr("daemon_threads", True))
    assert [w.daemon for w in s.workers] == [True, False]


@each_profile
def test_spawn_never_makes_a_child_a_daemon(profile: Profile) -> None:
    s = step(profile, State.initial(F), SetAttr("daemon_threads", True))
    s = step(profile, s, Connect())
    assert s == State(Server(F, daemon_threads=True), (Worker(0, F),))


@each_kind
@each_profile
def test_SetAttr_changes_only_the_attribute(profile: Profile, kind: Kind) -> None:
    s = step(profile, State.initial(kind), SetAttr("block_on_close", False))
    assert s == State(Server(kind, block_on_close=False))
    s = step(profile, s, SetAttr("daemon_threads", True))
    assert s == State(Server(kind, block_on_close=False, daemon_threads=True))
    s = step(profile, s, SetAttr("block_on_close", True))
    assert s == State(Server(kind, daemon_threads=True))


# --- rejected requests -----------------------------------------------------------------------


def rejected(wid: int, kind: Kind) -> Worker:
    """The record of a request verify_request() said no to: nothing ran for it."""
    return Worker(wid, kind, held=False, rejected=True)


@each_kind
@each_profile
def test_Connect_rejected_appends_a_rejected_record_and_changes_nothing_else(
    profile: Profile, kind: Kind
) -> None:
    s = step(profile, State.initial(kind), SetAttr("daemon_threads", True))
    s = step(profile, s, Connect(rejected=True))
    # no thread or child: no daemon flag, not tracked, and cpython-3.8 creates no _threads list
    assert s == State(Server(kind, daemon_threads=True), (rejected(0, kind),))
    s = step(profile, s, SetAttr("daemon_threads", False))
    s = step(profile, s, Connect())
    tracked = kind is T and latches(profile)
    assert s == State(
        Server(kind, threads_list=tracked), (rejected(0, kind), Worker(1, kind, tracked=tracked))
    )
    s = step(profile, s, Connect(rejected=True))
    assert s == State(
        Server(kind, threads_list=tracked),
        (rejected(0, kind), Worker(1, kind, tracked=tracked), rejected(2, kind)),
    )


@each_kind
@each_profile
def test_Close_neither_awaits_nor_reaps_a_rejected_request(profile: Profile, kind: Kind) -> None:
    s = step(profile, State.initial(kind), Connect(rejected=True))
    assert step(profile, s, Close()) == State(Server(kind, CLOSED, closes=1), (rejected(0, kind),))
    s = step(profile, s, Connect())
    s = step(profile, s, Close())
    tracked = kind is T and latches(profile)
    assert s == State(
        Server(kind, CLOSING, threads_list=tracked, awaited=frozenset({1}), close_blocks=True),
        (rejected(0, kind), Worker(1, kind, tracked=tracked)),
    )
    s = step(profile, s, Release(1))
    assert s == State(
        Server(kind, CLOSED, threads_list=tracked, closes=1),
        (
            rejected(0, kind),  # a blocking fork close reaps every exited child; w0 had none
            Worker(
                1,
                kind,
                held=False,
                outcome=RETURN,
                reaped=Reaped.YES if kind is F else Reaped.NO,
                # every profile lets go of the finished threads as the close returns
            ),
        ),
    )


# --- timeouts ---------------------------------------------------------------------------------


@each_profile
def test_TimeOut_in_a_fork_server_reaps_the_exited_children(profile: Profile) -> None:
    s = step(profile, State.initial(F), Connect())
    s = step(profile, s, Connect())
    s = step(profile, s, Connect(rejected=True))
    s = step(profile, s, Release(0, RAISE))
    assert s == State(Server(F), (Worker(0, F, held=False, outcome=RAISE), Worker(1, F), rejected(2, F)))
    s = step(profile, s, TimeOut())
    # collect_children(blocking=False): w0 has exited; w1 still runs; w2 never had a child
    reaped0 = Worker(0, F, held=False, outcome=RAISE, reaped=Reaped.YES)
    assert s == State(Server(F, timeouts=1), (reaped0, Worker(1, F), rejected(2, F)))
    s = step(profile, s, Release(1))
    assert s == State(
        Server(F, timeouts=1), (reaped0, Worker(1, F, held=False, outcome=RETURN), rejected(2, F))
    )
    s = step(profile, s, TimeOut())
    reaped1 = Worker(1, F, held=False, outcome=RETURN, reaped=Reaped.YES)
    assert s == State(Server(F, timeouts=2), (reaped0, reaped1, rejected(2, F)))
    s = step(profile, s, TimeOut())
    assert s == State(Server(F, timeouts=3), (reaped0, reaped1, rejected(2, F)))


@each_kind
@each_profile
def test_TimeOut_with_no_workers_only_counts(profile: Profile, kind: Kind) -> None:
    s = step(profile, State.initial(kind), TimeOut())
    assert s == State(Server(kind, timeouts=1))
    s = step(profile, s, TimeOut())
    assert s == State(Server(kind, timeouts=2))
    s = step(profile, s, Close())
    assert s == State(Server(kind, CLOSED, timeouts=2, closes=1))


@each_profile
def test_TimeOut_in_a_thread_server_only_counts(profile: Profile) -> None:
    latched = latches(profile)
    s = step(profile, State.initial(T), Connect())
    s = step(profile, s, Connect())
    s = step(profile, s, Connect(rejected=True))
    s = step(profile, s, Release(0))
    finished0 = Worker(0, T, tracked=latched, held=False, outcome=RETURN, may_be_retained=True)
    assert s == State(
        Server(T, threads_list=latched), (finished0, Worker(1, T, tracked=latched), rejected(2, T))
    )
    s = step(profile, s, TimeOut())
    # no process_request(): the finished w0 is not let go of, nothing is reaped
    assert s == State(
        Server(T, threads_list=latched, timeouts=1),
        (finished0, Worker(1, T, tracked=latched), rejected(2, T)),
    )


# --- finished threads the server may still reference (bpo-37193) -----------------------------


@each_profile
def test_thread_release_may_retain_until_the_next_spawn(profile: Profile) -> None:
    latched = latches(profile)
    s = step(profile, State.initial(T), Connect())
    s = step(profile, s, Release(0))
    # cpython-3.8: w0 is in _threads; documented: a non-daemon thread close may have to join
    retained0 = Worker(0, T, tracked=latched, held=False, outcome=RETURN, may_be_retained=True)
    assert s == State(Server(T, threads_list=latched), (retained0,))
    # a rejected request spawns nothing: process_request() (and _threads.append) never runs
    s = step(profile, s, Connect(rejected=True))
    assert s == State(Server(T, threads_list=latched), (retained0, rejected(1, T)))
    s = step(profile, s, TimeOut())
    assert s == State(Server(T, threads_list=latched, timeouts=1), (retained0, rejected(1, T)))
    # the next spawn prunes the finished threads
    s = step(profile, s, Connect())
    assert s == State(
        Server(T, threads_list=latched, timeouts=1),
        (
            Worker(0, T, tracked=latched, held=False, outcome=RETURN),
            rejected(1, T),
            Worker(2, T, tracked=latched),
        ),
    )


@each_profile
def test_thread_spawn_of_a_daemon_thread_also_lets_go_of_finished_threads(profile: Profile) -> None:
    latched = latches(profile)
    s = step(profile, State.initial(T), Connect())
    s = step(profile, s, Release(0, RAISE))
    s = step(profile, s, SetAttr("daemon_threads", True))
    assert s.workers[0].may_be_retained
    s = step(profile, s, Connect())  # _Threads.append reaps before it skips the daemon thread
    assert s == State(
        Server(T, daemon_threads=True, threads_list=latched),
        (Worker(0, T, tracked=latched, held=False, outcome=RAISE), Worker(1, T, daemon=True)),
    )
    s = step(profile, s, Release(1))  # a daemon thread is never referenced once finished
    assert s == State(
        Server(T, daemon_threads=True, threads_list=latched),
        (
            Worker(0, T, tracked=latched, held=False, outcome=RAISE),
            Worker(1, T, daemon=True, held=False, outcome=RETURN),
        ),
    )


@each_profile
def test_thread_release_retains_only_what_the_profile_references(profile: Profile) -> None:
    # block_on_close false at the spawn: cpython-3.8 has no _threads list to keep w0 in;
    # documented keeps every non-daemon thread close may have to join
    s = step(profile, State.initial(T), SetAttr("block_on_close", False))
    s = step(profile, s, Connect())
    s = step(profile, s, Release(0))
    assert s == State(
        Server(T, block_on_close=False),
        (Worker(0, T, held=False, outcome=RETURN, may_be_retained=not latches(profile)),),
    )


@each_profile
def test_thread_close_lets_go_of_finished_threads(profile: Profile) -> None:
    latched = latches(profile)
    s = step(profile, State.initial(T), Connect())
    s = step(profile, s, Connect())
    s = step(profile, s, Release(0))
    assert s.workers[0].may_be_retained
    s = step(profile, s, Close())
    # cpython-3.8's _Threads.join() holds the list it popped (finished w0 included) until it
    # has joined every thread in it; documented may hold w0 just as long
    assert s == State(
        Server(T, CLOSING, threads_list=latched, awaited=frozenset({1}), close_blocks=True),
        (
            Worker(0, T, tracked=latched, held=False, outcome=RETURN, may_be_retained=True),
            Worker(1, T, tracked=latched),
        ),
    )
    s = step(profile, s, Release(1))
    # every profile lets go of both as the close returns (w1 ended during the close)
    assert s == State(
        Server(T, CLOSED, threads_list=latched, closes=1),
        (
            Worker(0, T, held=False, outcome=RETURN),
            Worker(1, T, held=False, outcome=RETURN),
        ),
    )
    s = step(profile, s, Connect())  # a probe of the closed server spawns nothing
    assert not s.workers[1].may_be_retained
    s = step(profile, s, Close())
    assert s == State(
        Server(T, CLOSED, threads_list=latched, closes=2),
        (Worker(0, T, held=False, outcome=RETURN), Worker(1, T, held=False, outcome=RETURN)),
    )


@each_profile
def test_thread_release_after_close_retains_only_under_documented(profile: Profile) -> None:
    s = step(profile, State.initial(T), SetAttr("block_on_close", False))
    s = step(profile, s, Connect())
    s = step(profile, s, Close())
    assert s == State(Server(T, CLOSED, block_on_close=False, closes=1), (Worker(0, T),))
    s = step(profile, s, Release(0))
    # documented: a non-daemon thread, whenever it ends; cpython-3.8: in no list
    assert s == State(
        Server(T, CLOSED, block_on_close=False, closes=1),
        (Worker(0, T, held=False, outcome=RETURN, may_be_retained=not latches(profile)),),
    )


@each_profile
def test_thread_close_with_nothing_held_lets_go_and_returns(profile: Profile) -> None:
    latched = latches(profile)
    s = step(profile, State.initial(T), Connect())
    s = step(profile, s, Release(0))
    s = step(profile, s, Close())
    assert s == State(
        Server(T, CLOSED, threads_list=latched, closes=1), (Worker(0, T, held=False, outcome=RETURN),)
    )


@each_profile
def test_fork_release_never_retains(profile: Profile) -> None:
    s = step(profile, State.initial(F), Connect())
    s = step(profile, s, Release(0))
    assert s == State(Server(F), (Worker(0, F, held=False, outcome=RETURN),))
    assert not s.workers[0].may_be_retained


# --- the cpython-3.8 latch --------------------------------------------------------------------


@each_profile
def test_thread_close_with_block_on_close_true_at_first_spawn_then_false(profile: Profile) -> None:
    s = step(profile, State.initial(T), Connect())
    s = step(profile, s, SetAttr("block_on_close", False))
    s = step(profile, s, Connect())
    if latches(profile):
        # _threads was created by the first spawn: both threads are in it
        assert s == State(
            Server(T, block_on_close=False, threads_list=True),
            (Worker(0, T, tracked=True), Worker(1, T, tracked=True)),
        )
    else:
        assert s == State(Server(T, block_on_close=False), (Worker(0, T), Worker(1, T)))
    s = step(profile, s, Close())
    if not latches(profile):
        # documented: block_on_close is read at close, and it is false: close returns at once
        assert s == State(Server(T, CLOSED, block_on_close=False, closes=1), (Worker(0, T), Worker(1, T)))
        return
    # cpython-3.8 ignores block_on_close at close and waits for both non-daemon threads
    waiting = Server(T, CLOSING, block_on_close=False, threads_list=True, awaited=frozenset({0, 1}))
    assert s == State(waiting, (Worker(0, T, tracked=True), Worker(1, T, tracked=True)))
    s = step(profile, s, Release(1))
    # w1 stays in the list the close is joining: the server may still reference it
    released1 = Worker(1, T, tracked=True, held=False, outcome=RETURN, may_be_retained=True)
    assert s == State(waiting, (Worker(0, T, tracked=True), released1))
    s = step(profile, s, Release(0, RAISE))
    # the close returns, and with it the list it popped: nothing references either thread
    assert s == State(
        Server(T, CLOSED, block_on_close=False, threads_list=True, closes=1),
        (Worker(0, T, held=False, outcome=RAISE), Worker(1, T, held=False, outcome=RETURN)),
    )


@each_profile
def test_thread_close_with_block_on_close_false_at_every_spawn_then_true(profile: Profile) -> None:
    s = step(profile, State.initial(T), SetAttr("block_on_close", False))
    s = step(profile, s, Connect())
    s = step(profile, s, Connect())
    assert s == State(Server(T, block_on_close=False), (Worker(0, T), Worker(1, T)))
    s = step(profile, s, SetAttr("block_on_close", True))
    s = step(profile, s, Close())
    if latches(profile):
        # no spawn saw block_on_close true: there is no _threads list, nothing to join
        assert s == State(Server(T, CLOSED, closes=1), (Worker(0, T), Worker(1, T)))
        return
    assert s == State(
        Server(T, CLOSING, awaited=frozenset({0, 1}), close_blocks=True), (Worker(0, T), Worker(1, T))
    )
    s = step(profile, s, Release(0))
    # documented: a finished non-daemon thread may still be referenced
    assert s == State(
        Server(T, CLOSING, awaited=frozenset({0, 1}), close_blocks=True),
        (Worker(0, T, held=False, outcome=RETURN, may_be_retained=True), Worker(1, T)),
    )
    s = step(profile, s, Release(1))
    assert s == State(  # the close has returned: neither is retained any more
        Server(T, CLOSED, closes=1),
        (
            Worker(0, T, held=False, outcome=RETURN),
            Worker(1, T, held=False, outcome=RETURN),
        ),
    )


@each_profile
def test_thread_second_close_reads_the_attributes_again(profile: Profile) -> None:
    s = step(profile, State.initial(T), SetAttr("block_on_close", False))
    s = step(profile, s, Connect())
    s = step(profile, s, Close())
    assert s == State(Server(T, CLOSED, block_on_close=False, closes=1), (Worker(0, T),))
    s = step(profile, s, SetAttr("block_on_close", True))
    s = step(profile, s, Close())
    if latches(profile):  # still no _threads list
        assert s == State(Server(T, CLOSED, closes=2), (Worker(0, T),))
    else:
        assert s == State(
            Server(T, CLOSING, awaited=frozenset({0}), close_blocks=True, closes=1), (Worker(0, T),)
        )
        s = step(profile, s, Release(0))
        assert s == State(Server(T, CLOSED, closes=2), (Worker(0, T, held=False, outcome=RETURN),))


# --- daemon threads ---------------------------------------------------------------------------


@each_profile
def test_thread_close_never_waits_for_a_daemon_thread(profile: Profile) -> None:
    s = step(profile, State.initial(T), SetAttr("daemon_threads", True))
    s = step(profile, s, Connect())
    s = step(profile, s, Close())
    latched = latches(profile)
    assert s == State(
        Server(T, CLOSED, daemon_threads=True, threads_list=latched, closes=1), (Worker(0, T, daemon=True),)
    )


@each_profile
def test_thread_close_waits_for_the_non_daemon_threads_only(profile: Profile) -> None:
    latched = latches(profile)
    s = step(profile, State.initial(T), SetAttr("daemon_threads", True))
    s = step(profile, s, Connect())
    s = step(profile, s, SetAttr("daemon_threads", False))
    s = step(profile, s, Connect())
    s = step(profile, s, SetAttr("daemon_threads", True))
    s = step(profile, s, Connect())
    s = step(profile, s, Close())
    daemon0, daemon2 = Worker(0, T, daemon=True), Worker(2, T, daemon=True)
    waiting = Server(
        T, CLOSING, daemon_threads=True, threads_list=latched, awaited=frozenset({1}), close_blocks=True
    )
    assert s == State(waiting, (daemon0, Worker(1, T, tracked=latched), daemon2))
    # releasing a daemon thread does not end the close: it was never awaited, and no profile
    # keeps a reference to a finished daemon thread
    s = step(profile, s, Release(2))
    released2 = Worker(2, T, daemon=True, held=False, outcome=RETURN)
    assert s == State(waiting, (daemon0, Worker(1, T, tracked=latched), released2))
    s = step(profile, s, Release(1))
    assert s == State(
        Server(T, CLOSED, daemon_threads=True, threads_list=latched, closes=1),
        # w1 ended during the close; every profile lets go of it as the close returns
        (daemon0, Worker(1, T, held=False, outcome=RETURN), released2),
    )


# --- server_close() called by a handler thread ----------------------------------------------


@each_profile
def test_thread_close_from_a_handler_never_waits_for_its_own_thread(profile: Profile) -> None:
    """documented: it waits for every other running thread. As built (3.7+): _Threads.join()
    joins the threads before the caller, then raises at the caller ("cannot join current
    thread"); the ones after it are popped and never joined."""
    latched = latches(profile)
    s = run(profile, State.initial(T), Connect(), Connect(), Connect(), Close(by_handler=1))
    awaited = frozenset({0}) if latched else frozenset({0, 2})
    held = tuple(Worker(w, T, tracked=latched) for w in range(3))
    assert s == State(
        Server(
            T,
            CLOSING,
            threads_list=latched,
            awaited=awaited,
            close_blocks=True,
            close_raises=latched,
            closer=1,
        ),
        held,
    )
    assert not allowed(s, Release(1))  # its handler is inside server_close()
    s = step(profile, s, Release(0))
    if not latched:
        assert s.server.phase is CLOSING
        s = step(profile, s, Release(2))
    assert s.server == Server(T, CLOSED, threads_list=latched, closes=1, close_raises=latched)
    # the caller is back in handle(), held; nothing is tracked any more (pop_all)
    assert s.worker(1) == Worker(1, T)
    assert allowed(s, Release(1))


@each_profile
def test_thread_close_from_an_untracked_handler_joins_the_tracked_ones_and_returns(profile: Profile) -> None:
    """As built, a thread spawned before the first spawn that saw block_on_close true is not
    in _threads: its own close joins the others and raises nothing."""
    s = run(profile, State.initial(T), SetAttr("block_on_close", False), Connect())
    s = run(profile, s, SetAttr("block_on_close", True), Connect(), Close(by_handler=0))
    assert s.server.awaited == frozenset({1})
    assert not s.server.close_raises
    s = step(profile, s, Release(1))
    assert s.server.phase is CLOSED and not s.server.close_raises
    assert s.worker(0).held and s.server.closer is None


@each_profile
def test_close_from_a_handler_is_for_running_thread_handlers_only(profile: Profile) -> None:
    fork = run(profile, State.initial(F), Connect())
    assert not allowed(fork, Close(by_handler=0))
    thread = run(profile, State.initial(T), Connect(), Release(0))
    assert not allowed(thread, Close(by_handler=0))  # its handler has returned
    assert not allowed(thread, Close(by_handler=1))  # no such worker
    running = run(profile, State.initial(T), Connect())
    assert allowed(running, Close(by_handler=0))
    assert not allowed(running, Close(by_exit=True, by_handler=0))


# --- forking: waiting and reaping -------------------------------------------------------------


@each_profile
def test_fork_blocking_close_waits_for_every_held_child(profile: Profile) -> None:
    s = step(profile, State.initial(F), Connect())
    s = step(profile, s, Connect())
    s = step(profile, s, Close())
    waiting = Server(F, CLOSING, close_blocks=True, awaited=frozenset({0, 1}))
    assert s == State(waiting, (Worker(0, F), Worker(1, F)))
    s = step(profile, s, Release(0))
    # the close is waiting for w1 and reaps w0 in an order of its own
    assert s == State(waiting, (Worker(0, F, held=False, outcome=RETURN, reaped=Reaped.MAYBE), Worker(1, F)))
    s = step(profile, s, Release(1, RAISE))
    assert s == State(
        Server(F, CLOSED, closes=1),
        (
            Worker(0, F, held=False, outcome=RETURN, reaped=Reaped.YES),
            Worker(1, F, held=False, outcome=RAISE, reaped=Reaped.YES),
        ),
    )


@each_profile
def test_fork_child_released_while_open_is_not_reaped(profile: Profile) -> None:
    s = step(profile, State.initial(F), Connect())
    s = step(profile, s, Release(0))
    assert s == State(Server(F), (Worker(0, F, held=False, outcome=RETURN, reaped=Reaped.NO),))


@each_profile
def test_fork_non_blocking_close_reaps_a_finished_child_at_once(profile: Profile) -> None:
    s = step(profile, State.initial(F), Connect())
    s = step(profile, s, Release(0))
    s = step(profile, s, Connect())
    s = step(profile, s, SetAttr("block_on_close", False))
    s = step(profile, s, Close())
    assert s == State(
        Server(F, CLOSED, block_on_close=False, closes=1),
        (Worker(0, F, held=False, outcome=RETURN, reaped=Reaped.YES), Worker(1, F)),
    )
    # the held child finishes after the close: a zombie that nothing reaps
    s = step(profile, s, Release(1))
    assert s == State(
        Server(F, CLOSED, block_on_close=False, closes=1),
        (
            Worker(0, F, held=False, outcome=RETURN, reaped=Reaped.YES),
            Worker(1, F, held=False, outcome=RETURN, reaped=Reaped.NO),
        ),
    )


@each_profile
def test_fork_blocking_close_reaps_a_finished_child_maybe_then_yes(profile: Profile) -> None:
    s = step(profile, State.initial(F), Connect())
    s = step(profile, s, Release(0, RAISE))
    s = step(profile, s, Connect())
    s = step(profile, s, Close())
    assert s == State(
        Server(F, CLOSING, close_blocks=True, awaited=frozenset({1})),
        (Worker(0, F, held=False, outcome=RAISE, reaped=Reaped.MAYBE), Worker(1, F)),
    )
    s = step(profile, s, Release(1))
    assert s == State(
        Server(F, CLOSED, closes=1),
        (
            Worker(0, F, held=False, outcome=RAISE, reaped=Reaped.YES),
            Worker(1, F, held=False, outcome=RETURN, reaped=Reaped.YES),
        ),
    )


@each_profile
def test_fork_blocking_close_with_nothing_held_reaps_and_returns(profile: Profile) -> None:
    s = step(profile, State.initial(F), Connect())
    s = step(profile, s, Release(0))
    s = step(profile, s, Close())
    assert s == State(
        Server(F, CLOSED, closes=1), (Worker(0, F, held=False, outcome=RETURN, reaped=Reaped.YES),)
    )


@each_profile
def test_fork_second_close_reads_block_on_close_again(profile: Profile) -> None:
    s = step(profile, State.initial(F), SetAttr("block_on_close", False))
    s = step(profile, s, Connect())
    s = step(profile, s, Close())
    assert s == State(Server(F, CLOSED, block_on_close=False, closes=1), (Worker(0, F),))
    s = step(profile, s, SetAttr("block_on_close", True))
    s = step(profile, s, Close())
    assert s == State(
        Server(F, CLOSING, close_blocks=True, awaited=frozenset({0}), closes=1), (Worker(0, F),)
    )
    s = step(profile, s, Release(0))
    assert s == State(
        Server(F, CLOSED, closes=2), (Worker(0, F, held=False, outcome=RETURN, reaped=Reaped.YES),)
    )


@each_profile
def test_fork_second_non_blocking_close_reaps_a_zombie(profile: Profile) -> None:
    s = step(profile, State.initial(F), SetAttr("block_on_close", False))
    s = step(profile, s, Connect())
    s = step(profile, s, Close())
    s = step(profile, s, Release(0))
    assert s == State(
        Server(F, CLOSED, block_on_close=False, closes=1), (Worker(0, F, held=False, outcome=RETURN),)
    )
    s = step(profile, s, Close())
    assert s == State(
        Server(F, CLOSED, block_on_close=False, closes=2),
        (Worker(0, F, held=False, outcome=RETURN, reaped=Reaped.YES),),
    )


# --- closing, settling, probing ---------------------------------------------------------------


@each_kind
@each_profile
def test_Close_with_no_workers_returns_at_once(profile: Profile, kind: Kind) -> None:
    s = step(profile, State.initial(kind), Close())
    assert s == State(Server(kind, CLOSED, closes=1))
    s = step(profile, s, Close())
    assert s == State(Server(kind, CLOSED, closes=2))


@each_kind
@each_profile
def test_Connect_after_close_is_a_probe_that_changes_nothing(profile: Profile, kind: Kind) -> None:
    s = step(profile, State.initial(kind), SetAttr("block_on_close", False))
    s = step(profile, s, Connect())
    s = step(profile, s, Close())
    assert step(profile, s, Connect()) == s


@each_kind
@each_profile
def test_settle_ends_the_close_when_the_last_awaited_worker_is_released(profile: Profile, kind: Kind) -> None:
    s = step(profile, State.initial(kind), Connect())
    s = step(profile, s, Connect())
    s = step(profile, s, Close())
    assert s.server.phase is CLOSING
    assert s.server.awaited == {0, 1}
    assert settle(profile, s) == s  # w0 and w1 still run
    s = step(profile, s, Release(1))
    assert (s.server.phase, s.server.awaited, s.server.closes) == (CLOSING, {0, 1}, 0)
    assert settle(profile, s) == s  # w0 still runs
    s = step(profile, s, Release(0))
    assert (s.server.phase, s.server.awaited, s.server.closes) == (CLOSED, frozenset(), 1)
    assert settle(profile, s) == s


@each_kind
@each_profile
def test_settle_leaves_open_and_closed_states_alone(profile: Profile, kind: Kind) -> None:
    s = step(profile, State.initial(kind), Connect())
    assert settle(profile, s) == s
    s = step(profile, step(profile, s, Release(0)), Close())
    assert s.server.phase is CLOSED
    assert settle(profile, s) == s


@each_profile
def test_settle_closes_a_closing_state_with_nothing_left_to_wait_for(profile: Profile) -> None:
    finished = Worker(0, F, held=False, outcome=RETURN, reaped=Reaped.MAYBE)
    s = State(Server(F, CLOSING, close_blocks=True, awaited=frozenset({0})), (finished,))
    assert settle(profile, s) == State(
        Server(F, CLOSED, closes=1), (Worker(0, F, held=False, outcome=RETURN, reaped=Reaped.YES),)
    )


# --- max_children: ForkingMixIn's cap ---------------------------------------------------------


def queued(wid: int, rejected: bool = False) -> Worker:
    """A connection waiting in the backlog while the loop sits at max_children: nothing ran yet."""
    return Worker(wid, F, held=False, queued=True, rejected=rejected)


def exited(wid: int, reaped: Reaped, outcome: Outcome = RETURN) -> Worker:
    return Worker(wid, F, held=False, outcome=outcome, reaped=reaped)


@each_profile
def test_cap_Connect_under_a_loop_at_max_children_waits_in_the_backlog(profile: Profile) -> None:
    s = run(profile, State.initial(F), SetAttr("max_children", 2), Serve(), Connect())
    assert s == State(Server(F, loop=True, max_children=2), (Worker(0, F),))
    s = step(profile, s, Connect())
    # the second child reaches the cap: service_actions() waits in waitpid(-1) for one to exit
    capped = Server(F, loop=True, max_children=2, capped=Capped.LOOP)
    assert s == State(capped, (Worker(0, F), Worker(1, F)))
    s = step(profile, s, Connect())
    s = step(profile, s, Connect(rejected=True))  # verify_request() has not even run for it
    assert s == State(capped, (Worker(0, F), Worker(1, F), queued(2), queued(3, rejected=True)))


@each_profile
def test_cap_release_below_the_cap_lets_the_loop_take_the_oldest_waiting_connection(profile: Profile) -> None:
    s = run(
        profile,
        State.initial(F),
        SetAttr("max_children", 2),
        Serve(),
        Connect(),
        Connect(),
        Connect(),
        Connect(rejected=True),
    )
    s = step(profile, s, Release(1))
    # waitpid(-1) reaped w1 (seen either way: the loop reaps in its time); the loop takes w2,
    # which brings it back to the cap, so w3 waits on
    capped = Server(F, loop=True, max_children=2, capped=Capped.LOOP)
    assert s == State(capped, (Worker(0, F), exited(1, Reaped.MAYBE), Worker(2, F), queued(3, rejected=True)))
    s = step(profile, s, Release(0, RAISE))
    # the loop takes w3, which verify_request() rejects: no child, so it stays below the cap
    # and turns freely again: its next service_actions() reaps both
    w0 = exited(0, Reaped.YES, RAISE)
    assert s == State(
        Server(F, loop=True, max_children=2), (w0, exited(1, Reaped.YES), Worker(2, F), rejected(3, F))
    )
    s = step(profile, s, Connect())  # taken at once, and the cap is reached again
    assert s == State(capped, (w0, exited(1, Reaped.YES), Worker(2, F), rejected(3, F), Worker(4, F)))


@each_profile
def test_cap_raising_max_children_while_the_loop_waits_takes_effect_at_the_next_exit(
    profile: Profile,
) -> None:
    s = run(profile, State.initial(F), SetAttr("max_children", 1), Connect(), Serve(), Connect(), Connect())
    assert s == State(
        Server(F, loop=True, max_children=1, capped=Capped.LOOP), (Worker(0, F), queued(1), queued(2))
    )
    s = step(profile, s, SetAttr("max_children", 3))
    # the loop is blocked in waitpid(-1): it reads max_children again only once a child exits
    assert s == State(
        Server(F, loop=True, max_children=3, capped=Capped.LOOP), (Worker(0, F), queued(1), queued(2))
    )
    s = step(profile, s, Release(0))
    # 0 of 3 running: the loop takes both waiting connections, stays below the cap, reaps w0
    assert s == State(
        Server(F, loop=True, max_children=3), (exited(0, Reaped.YES), Worker(1, F), Worker(2, F))
    )


@each_profile
def test_cap_lowering_max_children_while_the_loop_waits_keeps_it_waiting_after_an_exit(
    profile: Profile,
) -> None:
    s = run(profile, State.initial(F), SetAttr("max_children", 2), Connect(), Connect(), Serve(), Connect())
    s = step(profile, s, SetAttr("max_children", 1))
    capped = Server(F, loop=True, max_children=1, capped=Capped.LOOP)
    assert s == State(capped, (Worker(0, F), Worker(1, F), queued(2)))
    s = step(profile, s, Release(0))
    # read again as w0 exits: one running child is still at a cap of one
    assert s == State(capped, (exited(0, Reaped.MAYBE), Worker(1, F), queued(2)))
    s = step(profile, s, Release(1))
    assert s == State(capped, (exited(0, Reaped.MAYBE), exited(1, Reaped.MAYBE), Worker(2, F)))


@each_profile
def test_cap_Serve_with_max_children_running_waits_at_the_cap_at_once(profile: Profile) -> None:
    s = run(
        profile, State.initial(F), SetAttr("max_children", 2), Connect(), Connect(), Connect(), Release(0)
    )
    # handle_request() forks without looking at the cap: three children for a cap of two
    assert s == State(Server(F, max_children=2), (exited(0, Reaped.NO), Worker(1, F), Worker(2, F)))
    s = step(profile, s, Serve())
    # its first service_actions() finds two running children and waits there
    assert s == State(
        Server(F, loop=True, max_children=2, capped=Capped.LOOP),
        (exited(0, Reaped.MAYBE), Worker(1, F), Worker(2, F)),
    )


@each_profile
def test_cap_lowering_max_children_under_a_running_loop_makes_it_wait_at_once(profile: Profile) -> None:
    s = run(profile, State.initial(F), Connect(), Serve())
    assert s == State(Server(F, loop=True), (Worker(0, F),))
    s = step(profile, s, SetAttr("max_children", 1))
    capped = Server(F, loop=True, max_children=1, capped=Capped.LOOP)
    assert s == State(capped, (Worker(0, F),))
    s = step(profile, s, Connect())
    assert s == State(capped, (Worker(0, F), queued(1)))


@each_profile
def test_cap_TimeOut_at_the_cap_waits_until_a_child_exits_below_it_then_reaps_every_exited_child(
    profile: Profile,
) -> None:
    s = run(
        profile, State.initial(F), SetAttr("max_children", 2), Connect(), Connect(), Connect(), Release(0)
    )
    s = step(profile, s, TimeOut())
    # the cap loop reaps w0 first, then waits in waitpid(-1): w1 and w2 still run
    assert s == State(
        Server(F, timeouts=1, max_children=2, capped=Capped.TIMEOUT),
        (exited(0, Reaped.YES), Worker(1, F), Worker(2, F)),
    )
    s = step(profile, s, SetAttr("max_children", 1))  # read again only once a child has exited
    s = step(profile, s, Release(1))
    # w1's exit returns the waitpid(-1); one running child is still at a cap of one
    waiting = Server(F, timeouts=1, max_children=1, capped=Capped.TIMEOUT)
    assert s == State(waiting, (exited(0, Reaped.YES), exited(1, Reaped.MAYBE), Worker(2, F)))
    s = step(profile, s, Release(2, RAISE))
    # below the cap: the WNOHANG pass reaps every exited child, then handle_request() returns
    assert s == State(
        Server(F, timeouts=1, max_children=1),
        (exited(0, Reaped.YES), exited(1, Reaped.YES), exited(2, Reaped.YES, RAISE)),
    )


@each_profile
def test_cap_non_blocking_Close_at_the_cap_waits_for_an_exit_only_as_built(profile: Profile) -> None:
    s = run(
        profile,
        State.initial(F),
        SetAttr("block_on_close", False),
        SetAttr("max_children", 2),
        Connect(),
        Connect(),
        Connect(),
        Release(0),
    )
    s = step(profile, s, Close())
    if not profile.cap_blocks_close:
        # documented: block_on_close is false, so close waits for no child, cap or not
        assert s == State(
            Server(F, CLOSED, block_on_close=False, max_children=2, closes=1),
            (exited(0, Reaped.YES), Worker(1, F), Worker(2, F)),
        )
        return
    # cpython-3.8: collect_children() runs its cap loop first; it reaps w0, then waits in
    # waitpid(-1) with nothing to await after it
    assert s == State(
        Server(F, CLOSING, block_on_close=False, max_children=2, capped=Capped.CLOSE),
        (exited(0, Reaped.YES), Worker(1, F), Worker(2, F)),
    )
    s = step(profile, s, Release(2))
    # one below the cap: the WNOHANG pass reaps w2, and close returns while w1 still runs
    assert s == State(
        Server(F, CLOSED, block_on_close=False, max_children=2, closes=1),
        (exited(0, Reaped.YES), Worker(1, F), exited(2, Reaped.YES)),
    )


@each_profile
def test_cap_blocking_Close_at_the_cap_reaps_the_exited_children_before_it_waits(profile: Profile) -> None:
    s = run(
        profile, State.initial(F), SetAttr("max_children", 2), Connect(), Connect(), Connect(), Release(0)
    )
    s = step(profile, s, Close())
    # cpython-3.8's cap loop reaps w0 at once; documented's blocking pass reaps it in its own order
    as_built = profile.cap_blocks_close
    closing = Server(F, CLOSING, max_children=2, close_blocks=True, awaited=frozenset({1, 2}))
    w0 = exited(0, Reaped.YES if as_built else Reaped.MAYBE)
    assert s == State(
        attrs.evolve(closing, capped=Capped.CLOSE if as_built else None), (w0, Worker(1, F), Worker(2, F))
    )
    s = step(profile, s, Release(1))
    # below the cap, cpython-3.8 goes on to the blocking pass: both now wait for w2
    assert s == State(closing, (w0, exited(1, Reaped.MAYBE), Worker(2, F)))
    s = step(profile, s, Release(2))
    assert s == State(
        Server(F, CLOSED, max_children=2, closes=1),
        (exited(0, Reaped.YES), exited(1, Reaped.YES), exited(2, Reaped.YES)),
    )


@each_profile
def test_cap_thread_servers_ignore_max_children(profile: Profile) -> None:
    events = (Connect(), Connect(), TimeOut(), Serve(), Connect(), Release(0), Shutdown(), Close())
    capped = step(profile, State.initial(T), SetAttr("max_children", 1))
    plain = State.initial(T)
    for event in events:  # step by step, the same states but for the attribute itself
        capped, plain = step(profile, capped, event), step(profile, plain, event)
        assert capped == attrs.evolve(plain, server=attrs.evolve(plain.server, max_children=1)), event
    assert len(capped.held) == 2 and not capped.queued


# --- serve_forever(poll_interval=None): a loop that wakes only for a connection -----------------

NO_POLL = Serve(Timeout.NONE)


def waiting(wid: int, kind: Kind) -> Worker:
    """A connection in the backlog that no loop accepted: nothing ran for it."""
    return Worker(wid, kind, held=False, queued=True)


@each_kind
@each_profile
def test_no_poll_Shutdown_waits_until_a_connection_stops_the_loop_unaccepted(
    profile: Profile, kind: Kind
) -> None:
    s = run(profile, State.initial(kind), NO_POLL)
    loop = Server(kind, loop=True, poll_interval=Timeout.NONE)
    assert s == State(loop)
    s = step(profile, s, Shutdown())
    # the loop sleeps in select(): nothing wakes it to look at the flag
    assert s == State(attrs.evolve(loop, shutdown_request=True))
    assert s.server.shutdown_waits
    s = step(profile, s, Connect())
    # bpo-35017: woken, it sees the flag before accepting; the connection waits in the backlog
    stopped = Server(kind, poll_interval=Timeout.NONE, is_shut_down=True)
    assert s == State(stopped, (waiting(0, kind),))
    assert not allowed(s, Connect()) and not allowed(s, Close())  # as after a stop at the cap
    s = step(profile, s, Serve())  # the next loop takes it at once
    assert s.server.loop and s.workers[0].held and not s.workers[0].queued


@each_kind
@each_profile
def test_no_poll_the_woken_loop_leaves_a_rejected_or_failing_connection_untouched(
    profile: Profile, kind: Kind
) -> None:
    for connect in (Connect(rejected=True), Connect(fails=True), Connect(hangs_up=True)):
        s = run(profile, State.initial(kind), NO_POLL, Shutdown(), connect)
        assert not s.server.loop and not s.server.shutdown_waits
        (w0,) = s.workers
        assert w0.queued and not w0.held
        assert (w0.rejected, w0.failed, w0.hung_up) == (connect.rejected, connect.fails, connect.hangs_up)


@each_kind
@each_profile
def test_no_poll_a_connection_without_shutdown_is_served_as_by_a_loop_that_polls(
    profile: Profile, kind: Kind
) -> None:
    polled = run(profile, State.initial(kind), Serve(), Connect(), Connect(rejected=True), Release(0))
    woken = run(profile, State.initial(kind), NO_POLL, Connect(), Connect(rejected=True), Release(0))
    if kind is T:  # nothing to reap: the same states but for the poll interval
        assert woken == attrs.evolve(polled, server=attrs.evolve(polled.server, poll_interval=Timeout.NONE))
    assert [(w.held, w.rejected, w.outcome) for w in woken.workers] == [
        (w.held, w.rejected, w.outcome) for w in polled.workers
    ]


@each_profile
def test_no_poll_the_loop_reaps_only_after_it_took_a_connection(profile: Profile) -> None:
    s = run(profile, State.initial(F), Connect(), Release(0), NO_POLL)
    # no first poll: no service_actions() until a connection arrives
    assert s.workers == (exited(0, Reaped.NO),)
    s = step(profile, s, Connect())  # taken, then service_actions() reaps w0
    assert s.workers == (exited(0, Reaped.YES), Worker(1, F))
    s = step(profile, s, Release(1))  # the exit does not wake select()
    assert s.workers == (exited(0, Reaped.YES), exited(1, Reaped.NO))
    s = run(profile, s, Shutdown(), Connect())  # woken, it stops before service_actions()
    assert s.workers == (exited(0, Reaped.YES), exited(1, Reaped.NO), queued(2))
    assert not s.server.loop


@each_profile
def test_no_poll_the_loop_looks_at_max_children_only_after_an_accept(profile: Profile) -> None:
    s = run(profile, State.initial(F), SetAttr("max_children", 1), Connect(), NO_POLL)
    # at the cap, but in select(): not in the cap loop
    assert s.server == Server(F, loop=True, poll_interval=Timeout.NONE, max_children=1)
    s = step(profile, s, Connect())  # accepted beyond the cap; then service_actions() waits there
    capped = Server(F, loop=True, poll_interval=Timeout.NONE, max_children=1, capped=Capped.LOOP)
    assert s == State(capped, (Worker(0, F), Worker(1, F)))
    s = run(profile, s, Connect(), Release(0))  # w1 alone is still at the cap
    assert s == State(capped, (exited(0, Reaped.MAYBE), Worker(1, F), queued(2)))
    s = step(profile, s, Release(1))
    # below it: the WNOHANG pass reaps both, select() returns at once for w2, and the cap is
    # reached again after it
    assert s == State(capped, (exited(0, Reaped.YES), exited(1, Reaped.YES), Worker(2, F)))


@each_profile
def test_no_poll_Shutdown_at_the_cap_waits_for_a_child_as_with_a_poll(profile: Profile) -> None:
    s = run(profile, State.initial(F), SetAttr("max_children", 1), NO_POLL, Connect(), Shutdown())
    assert s.server.capped is Capped.LOOP and s.server.shutdown_waits
    s = step(profile, s, Release(0))
    assert s == State(
        Server(F, poll_interval=Timeout.NONE, max_children=1, is_shut_down=True), (exited(0, Reaped.YES),)
    )


@each_kind
def test_no_poll_refusals_close_under_the_loop_and_other_poll_intervals(kind: Kind) -> None:
    s = run(DOCUMENTED, State.initial(kind), NO_POLL)
    assert not allowed(s, Close()) and not allowed(s, Close(by_exit=True))
    assert not allowed(State.initial(kind), Serve(Timeout.LONG))
    assert allowed(run(DOCUMENTED, State.initial(kind), Serve()), Close())  # misuse, modelled


@each_profile
def test_no_poll_a_new_loop_takes_one_waiting_connection_before_it_looks_at_the_cap(profile: Profile) -> None:
    s = run(profile, State.initial(F), SetAttr("max_children", 2), Serve(), Connect(), Connect())
    s = run(profile, s, Connect(), Connect(), Shutdown(), Release(0))  # stopped with w2, w3 waiting
    s = step(profile, s, SetAttr("max_children", 1))
    assert s == State(
        Server(F, max_children=1, is_shut_down=True),
        (exited(0, Reaped.YES), Worker(1, F), queued(2), queued(3)),
    )
    s = step(profile, s, NO_POLL)
    # select() returns at once for w2: accepted, then service_actions() waits at the cap
    capped = Server(F, loop=True, poll_interval=Timeout.NONE, max_children=1, capped=Capped.LOOP)
    assert s == State(capped, (exited(0, Reaped.YES), Worker(1, F), Worker(2, F), queued(3)))
