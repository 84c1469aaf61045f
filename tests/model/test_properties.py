"""Properties of every run of the model: random allowed event sequences, checked at each step."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from model import (
    DOCUMENTED,
    Capped,
    Close,
    Connect,
    Event,
    Kind,
    Outcome,
    Phase,
    Profile,
    Reaped,
    Release,
    Serve,
    Server,
    SetAttr,
    State,
    TimeOut,
    Timeout,
    Worker,
    allowed,
    step,
)
from model.profiles import ThreadClose
from tests.model.model_helpers import CPYTHON_38, run, traces

Trace = tuple[Profile, list[tuple[State, Event, State]]]

# Runs of either kind, some of them started with a low max_children and a few connections so
# that a forking server reaches its cap; the cap's own properties use only those.
RUNS = traces(max_steps=24) | traces(max_steps=24, low_cap=True)
# The documented contract against cpython-3.8: the two that differ least for children.
FORK_RUNS = st.one_of(
    traces(max_steps=24, kind=Kind.FORK, profile=p, low_cap=low)
    for p in (DOCUMENTED, CPYTHON_38)
    for low in (False, True)
)
CAPPED_FORK_RUNS = traces(max_steps=24, kind=Kind.FORK, low_cap=True)


def assert_well_formed(state: State, profile: Profile = DOCUMENTED) -> None:
    server = state.server
    if server.kind is Kind.SYNC:  # one handler at a time, on its dispatching call
        assert len(state.held) <= 1, state.held
        assert not state.busy or not (server.listening or server.capped), server
    if server.phase is Phase.CLOSING:
        waits_for_a_worker = any(state.worker(w).held for w in server.awaited)
        # as built, a close may also wait at max_children with nothing to await after it
        assert waits_for_a_worker or server.capped is Capped.CLOSE, (
            "CLOSING with nothing to wait for: settle should have closed it"
        )
        assert server.awaited <= {w.wid for w in state.workers}
        if server.kind is Kind.FORK:  # collect_children(blocking=...) waits for every child or none
            held = {w.wid for w in state.held}
            assert held <= server.awaited if server.close_blocks else not server.awaited
    else:
        assert server.awaited == frozenset()
        assert not server.close_blocks
    assert_cap_well_formed(state, profile)
    for index, worker in enumerate(state.workers):
        assert worker.wid == index
        assert worker.kind is server.kind
        if worker.hung_up:  # a stream client, of a request that was to be handled
            assert server.transport.stream and worker.spawned, worker
        if worker.queued:
            assert_queued(worker)
            # a thread server's only backlog: a connection that woke a loop to its shutdown()
            assert worker.kind is not Kind.THREAD or not server.loop, (
                f"w{worker.wid} queued under a thread server's loop"
            )
            continue
        if not worker.spawned:
            assert_rejected_record(worker)
            continue
        assert (worker.outcome is None) == worker.held
        if worker.may_be_retained:
            assert worker.kind is Kind.THREAD and worker.finished, f"w{worker.wid} retained: {worker}"
        if worker.held:
            assert worker.reaped is Reaped.NO, f"w{worker.wid} is held but marked reaped {worker.reaped}"
        if worker.kind is Kind.FORK:
            assert not worker.daemon
            assert not worker.tracked
            # service_actions() reaps it in its time (without a poll_interval, at a connection;
            # 2.7 has none)
            polls = server.poll_interval is Timeout.SHORT and profile.service_actions
            if server.loop and polls and worker.exited_child:
                assert worker.reaped is not Reaped.NO, f"w{worker.wid} is beyond the running loop's reach"
        else:
            assert worker.reaped is Reaped.NO


def assert_cap_well_formed(state: State, profile: Profile) -> None:
    """Who waits at max_children, and the backlog that builds up behind a waiting loop."""
    server = state.server
    queued = [w.wid for w in state.queued]
    # the newest connections, and only while serve_forever() waits at the cap: the loop takes
    # them oldest first as soon as it is below it
    assert queued == list(range(len(state.workers) - len(queued), len(state.workers))), queued
    if queued:  # or a shutdown() stopped the loop there, leaving them in the backlog
        waiting = server.capped in (Capped.LOOP, Capped.FORK) or not server.loop
        waiting = waiting or state.busy  # sync: the loop is inside a held handler
        assert waiting, f"{_names(queued)} wait, but the loop does not: {server}"
        assert server.phase is Phase.OPEN
    if server.capped is None:
        # else it is in select(), or (2.7) runs on at the cap
        if server.loop and server.poll_interval is Timeout.SHORT and profile.service_actions:
            assert not state.at_cap, "serve_forever() runs on at max_children"
        return
    assert server.kind is Kind.FORK, "only ForkingMixIn has max_children"
    # it is waiting for a child to exit: there is one (so some Release is always allowed)
    assert state.held, f"{server.capped.value} waits at max_children with no child running"
    where = {
        Capped.LOOP: {(Phase.OPEN, True)},
        Capped.TIMEOUT: {(Phase.OPEN, False)},
        Capped.CLOSE: {(Phase.CLOSING, False)},
        Capped.FORK: {(Phase.OPEN, True), (Phase.OPEN, False)},  # the loop, or handle_request()
    }
    assert (server.phase, server.loop) in where[server.capped], server
    if server.capped is Capped.FORK:  # 2.7: the connection it accepted waits to be forked
        assert not profile.service_actions and state.queued and not state.queued[0].rejected, state
    if server.capped is not Capped.LOOP:  # the cap loop reaped the exited children before it waited
        for worker in state.workers:
            if worker.exited_child:
                assert worker.reaped is not Reaped.NO, (server.capped, worker)


def assert_queued(worker: Worker) -> None:
    """A connection in the backlog: nothing has run for it, not even verify_request()."""
    assert not worker.held, f"queued w{worker.wid} is held"
    assert worker.outcome is None
    assert worker.reaped is Reaped.NO, f"queued w{worker.wid} was reaped: it has no child yet"
    assert not worker.tracked and not worker.daemon and not worker.may_be_retained
    assert not worker.finished and not worker.exited_child


def _names(wids: list[int]) -> str:
    return ", ".join(f"w{w}" for w in wids)


def assert_rejected_record(worker: Worker) -> None:
    """verify_request() said no, or the worker failed to start: a record, and nothing ran."""
    assert worker.rejected != worker.failed  # one or the other
    assert not worker.held, f"rejected w{worker.wid} is held"
    assert worker.outcome is None
    assert worker.reaped is Reaped.NO, f"rejected w{worker.wid} was reaped: it had no child"
    if worker.tracked:  # as built, a thread that never started stays in _threads for a while
        assert worker.failed and worker.kind is Kind.THREAD, f"w{worker.wid} is tracked: it had no thread"
    assert worker.failed or not worker.daemon  # a failed thread was made before start() raised
    assert not worker.may_be_retained
    assert not worker.exited_child


def assert_monotonic(before: State, after: State) -> None:
    assert after.server.closes >= before.server.closes
    assert after.server.timeouts >= before.server.timeouts
    assert len(after.workers) - len(before.workers) in (0, 1)
    for old, new in zip(before.workers, after.workers, strict=False):
        assert (old.wid, old.kind, old.rejected, old.failed) == (new.wid, new.kind, new.rejected, new.failed)
        assert new.queued <= old.queued, "a connection the loop took cannot wait in the backlog again"
        if old.queued and not new.queued:  # the loop took it: a fresh child, or a record of none
            taken = Worker(
                old.wid,
                old.kind,
                held=old.spawned,
                rejected=old.rejected,
                failed=old.failed,
                hung_up=old.hung_up,
            )
            if new.kind is Kind.THREAD:  # one a woken loop left: its thread is made as it is taken
                taken = attrs.evolve(taken, daemon=new.daemon, tracked=new.tracked)
            assert new == taken, (old, new)
            continue
        assert old.daemon == new.daemon
        if old.rejected:
            assert old == new, "a rejected request's record never changes"
        assert new.held <= old.held, "a finished worker cannot be held again"
        assert new.hung_up >= old.hung_up, "a client that hung up cannot come back"
        assert not (old.reaped is Reaped.YES and new.reaped is not Reaped.YES), "unreaped again"


@given(RUNS)
def test_model_runs_keep_the_state_well_formed(trace: Trace) -> None:
    profile, steps = trace
    for before, event, after in steps:
        assert step(profile, before, event) == after  # deterministic
        assert_well_formed(after, profile)
        assert_monotonic(before, after)
        if after.server.capped is Capped.CLOSE:
            assert profile.cap_blocks_close, "documented: server_close() never waits at max_children"
        grew = len(after.workers) - len(before.workers)
        assert grew == (isinstance(event, Connect) and before.server.phase is Phase.OPEN)
        if grew:
            assert isinstance(event, Connect) and after.workers[-1].rejected == event.rejected
        ticked = after.server.timeouts - before.server.timeouts
        assert ticked == (isinstance(event, TimeOut) and not after.server.listening)


@given(RUNS)
def test_model_rejected_connect_changes_nothing_but_appends_its_record(trace: Trace) -> None:
    profile, steps = trace
    for before, event, after in steps:
        if not (isinstance(event, Connect) and event.rejected and before.server.phase is Phase.OPEN):
            continue
        *kept, record = after.workers
        if record.queued and before.busy:  # sync: the dispatching call is in a held handler
            assert State(after.server, tuple(kept)) == before
            continue
        if record.queued and not after.server.loop:  # it woke a loop to its shutdown()
            assert before.server.waits_in_select  # (test_transitions has the rest)
            continue
        assert not after.server.listening  # a handle_request() waiting for it took it
        server = attrs.evolve(after.server, listening=before.server.listening)
        expected = before
        # the turn it woke ends in service_actions(), which reaps (2.7 has none), and, with
        # max_children children still running, waits there for one to exit
        if before.server.waits_in_select and profile.service_actions:
            reaped = [attrs.evolve(w, reaped=Reaped.YES) if w.exited_child else w for w in before.workers]
            expected = attrs.evolve(before, workers=tuple(reaped))
            if expected.at_cap:
                assert after.server.capped is Capped.LOOP
                server = attrs.evolve(server, capped=None)
        assert State(server, tuple(kept)) == expected  # no latch, no pruning, no other reaping
        assert record.wid == len(before.workers)
        assert_rejected_record(record)


@given(traces(max_steps=24))
def test_model_may_be_retained_only_on_finished_thread_workers(trace: Trace) -> None:
    profile, steps = trace
    for before, event, after in steps:
        for worker in after.workers:
            if worker.may_be_retained:
                assert worker.kind is Kind.THREAD, worker
                assert worker.finished and not worker.rejected, worker
                assert worker.outcome is not None, worker
        retained = [w.may_be_retained for w in after.workers]
        prunes = profile.thread_close is not ThreadClose.AT_SPAWN_AND_CLOSE  # all but 3.6/3.7
        spawned = isinstance(event, Connect) and not event.rejected and before.server.phase is Phase.OPEN
        queued = spawned and after.workers[-1].queued  # waits in a stopped loop's backlog
        if spawned and prunes and not queued:  # a spawn lets go of every thread that had finished
            assert not any(retained), (event, after)
        if isinstance(event, Close) and after.server.phase is Phase.CLOSING:
            # as built, the list being joined is held until the join loop ends; the contract
            # asks no more
            assert retained == [w.may_be_retained for w in before.workers], (event, after)
        if prunes and after.server.closes > before.server.closes:
            assert not any(retained), (event, after)  # a close returned, and its list with it
        if isinstance(event, Release) and after.server.closes == before.server.closes:
            released = after.worker(event.wid)
            documented = profile.thread_close is ThreadClose.AT_CLOSE
            expected = not released.daemon if documented else before.worker(event.wid).tracked
            assert released.may_be_retained == (released.kind is Kind.THREAD and expected), (event, released)


def _timeouts_of(source: Server, server: Server) -> Server:
    return attrs.evolve(server, timeout=source.timeout, socket_timeout=source.socket_timeout)


@given(FORK_RUNS)
def test_model_fork_timeout_leaves_no_exited_child_unreaped(trace: Trace) -> None:
    _, steps = trace
    for before, event, after in steps:
        if not isinstance(event, TimeOut):
            continue
        assert before.server.phase is Phase.OPEN
        # the timeouts the event sets stay set; compare the rest with them set beforehand
        before = attrs.evolve(before, server=_timeouts_of(after.server, before.server))
        if after.server.listening:  # no timeout in effect passes: it waits for a connection
            assert after == attrs.evolve(before, server=attrs.evolve(before.server, listening=True))
            continue
        for worker in after.workers:
            if worker.exited_child:
                assert worker.reaped is Reaped.YES, (event, after)
        # at max_children running children, handle_timeout() waits in the cap loop
        assert (after.server.capped is Capped.TIMEOUT) == before.at_cap
        assert after.server.capped in (None, Capped.TIMEOUT)
        # nothing else changes: only exited children are reaped, the count of timeouts, the cap
        unreaped = attrs.evolve(
            after,
            server=attrs.evolve(after.server, timeouts=before.server.timeouts, capped=before.server.capped),
            workers=tuple(
                attrs.evolve(new, reaped=old.reaped)
                for old, new in zip(before.workers, after.workers, strict=True)
            ),
        )
        assert unreaped == before


@given(traces(max_steps=24, kind=Kind.THREAD))
def test_model_thread_timeout_only_counts(trace: Trace) -> None:
    _, steps = trace
    for before, event, after in steps:
        if isinstance(event, TimeOut):
            server = _timeouts_of(after.server, before.server)
            if after.server.listening:  # it waits for a connection: nothing counted yet
                assert after == attrs.evolve(before, server=attrs.evolve(server, listening=True))
                continue
            assert after == attrs.evolve(before, server=attrs.evolve(server, timeouts=server.timeouts + 1))


@given(FORK_RUNS)
def test_model_blocking_fork_close_leaves_every_finished_child_reaped(trace: Trace) -> None:
    _, steps = trace
    blocking_close = None  # block_on_close when the close in progress started
    for before, event, after in steps:
        if isinstance(event, Close):
            blocking_close = before.server.block_on_close
        if before.server.phase is Phase.CLOSED or after.server.phase is not Phase.CLOSED:
            continue
        # The close started by `blocking_close` has just returned.
        assert blocking_close is not None
        if not blocking_close:
            continue
        for worker in after.workers:
            if worker.exited_child:
                assert worker.reaped is Reaped.YES, (event, after)
            if worker.rejected:
                assert worker.reaped is Reaped.NO, (event, after)  # there was no child to reap


@given(FORK_RUNS)
def test_model_fork_runs_are_the_same_in_both_profiles_but_for_a_close_at_the_cap(trace: Trace) -> None:
    """The profiles differ for threads, for a close at max_children (and in how guarantees read a state)."""
    profile, steps = trace
    other = DOCUMENTED if profile == CPYTHON_38 else CPYTHON_38
    for before, event, after in steps:
        theirs = step(other, before, event)
        if not (isinstance(event, Close) and before.at_cap):
            assert theirs == after
            continue
        cpython, documented = (after, theirs) if profile == CPYTHON_38 else (theirs, after)
        # documented: a blocking close waits for the children, a non-blocking one returns;
        # cpython-3.8's close first runs the cap loop: it reaps every exited child, then waits
        # there (and no further, if block_on_close is false)
        waiting = attrs.evolve(
            documented.server,
            phase=Phase.CLOSING,
            capped=Capped.CLOSE,
            close_blocks=before.server.block_on_close,
            closes=before.server.closes,
        )
        reaped = tuple(
            attrs.evolve(w, reaped=Reaped.YES) if w.exited_child else w for w in documented.workers
        )
        assert cpython == State(waiting, reaped), (before, cpython, documented)


@given(traces(max_steps=24, kind=Kind.THREAD))
def test_model_thread_close_never_awaits_a_daemon_thread(trace: Trace) -> None:
    _, steps = trace
    for _, _, after in steps:
        for wid in after.server.awaited:
            assert not after.worker(wid).daemon


@given(FORK_RUNS)
def test_model_every_close_that_returns_has_reaped_the_children_that_had_exited(trace: Trace) -> None:
    # a blocking close waited for them all; a non-blocking one (or the cap loop) reaped the
    # ones that had exited, and the child whose exit let it go on
    _, steps = trace
    for before, _, after in steps:
        if after.server.closes > before.server.closes:
            for worker in after.workers:
                if worker.exited_child:
                    assert worker.reaped is Reaped.YES, (before, after)


# --- max_children -----------------------------------------------------------------------------


@given(CAPPED_FORK_RUNS)
def test_model_cap_waits_start_only_at_the_cap_and_end_only_at_a_release(trace: Trace) -> None:
    _, steps = trace
    for before, event, after in steps:
        was, now = before.server.capped, after.server.capped
        if was is not None and not isinstance(event, Release):
            # a SetAttr (of max_children too) or a queued Connect: the call waits in waitpid(-1),
            # and reads max_children again only once a child has exited
            assert now is was, (event, before, after)
        if now is not None and (was is None or isinstance(event, Release)):
            assert after.at_cap, (event, before, after)  # started, or still there, at the cap
        if was is not None and now is None:
            # below the cap, before it forked what it then took (2.7: the connection it held)
            forked = [w for w in before.queued if after.worker(w.wid).held]
            assert len(after.held) - len(forked) < after.server.max_children, (event, after)
        if was is Capped.TIMEOUT and now is None:  # handle_timeout()'s WNOHANG pass, then it returns
            for worker in after.workers:
                if worker.exited_child:
                    assert worker.reaped is Reaped.YES, (event, after)


@given(CAPPED_FORK_RUNS)
def test_model_cap_a_Connect_under_a_waiting_loop_only_queues(trace: Trace) -> None:
    _, steps = trace
    for before, event, after in steps:
        if not (isinstance(event, Connect) and before.server.phase is Phase.OPEN):
            continue
        if before.server.waits_in_select and before.server.shutdown_request:  # it stops the loop
            assert after.workers[-1].queued and not after.server.loop, (before, after)
            continue
        if before.server.capped is None:  # handle_request(), or a loop below the cap; 2.7:
            # or at it, having accepted the connection, before its fork
            assert after.workers[-1].queued == (after.server.capped is Capped.FORK), (before, after)
            continue
        waiting = Worker(
            len(before.workers),
            Kind.FORK,
            held=False,
            queued=True,
            rejected=event.rejected,
            failed=event.fails,
            hung_up=event.hangs_up,
        )
        assert after == State(before.server, (*before.workers, waiting))


@given(CAPPED_FORK_RUNS)
def test_model_cap_the_loop_takes_queued_connections_oldest_first_and_below_the_cap(trace: Trace) -> None:
    _, steps = trace
    for before, event, after in steps:
        waiting = [w.wid for w in before.queued]
        taken = [wid for wid in waiting if not after.worker(wid).queued]
        if not taken:
            continue
        # only a child's exit lets the waiting loop go on, or a new loop after shutdown() stopped it
        assert isinstance(event, Release | Serve), event
        assert taken == waiting[: len(taken)]
        # it forked only below max_children, and stops at it again while connections wait; a
        # new loop (either poll_interval) takes one first, and only then looks at the cap: its
        # first select() finds the connection, and service_actions() comes after the accept
        beyond = isinstance(event, Serve)
        assert len(after.held) <= after.server.max_children + beyond, after
        if after.queued:
            assert after.server.capped is Capped.LOOP and after.at_cap, after


@given(traces(max_steps=24, kind=Kind.THREAD, low_cap=True))
def test_model_thread_servers_ignore_max_children(trace: Trace) -> None:
    profile, steps = trace
    for before, event, after in steps:
        assert after.server.capped is None
        assert not after.queued or not after.server.loop  # only what woke a loop to its shutdown()
        if isinstance(event, SetAttr) and event.name == "max_children":
            assert after == attrs.evolve(before, server=attrs.evolve(before.server, max_children=event.value))
            continue
        # the same step with max_children at its default leads to the same state
        default = step(
            profile, attrs.evolve(before, server=attrs.evolve(before.server, max_children=40)), event
        )
        assert after == attrs.evolve(
            default, server=attrs.evolve(default.server, max_children=before.server.max_children)
        )


@pytest.mark.parametrize("profile", [DOCUMENTED, CPYTHON_38], ids=lambda p: p.name)
def test_model_blocking_fork_close_reaps_even_if_block_on_close_is_cleared_meanwhile(
    profile: Profile,
) -> None:
    s = run(profile, State.initial(Kind.FORK), Connect(), Close())
    assert (s.server.phase, s.server.awaited) == (Phase.CLOSING, {0})
    s = run(profile, s, SetAttr("block_on_close", False), Release(0, Outcome.RETURN))
    assert s.server.phase is Phase.CLOSED
    # collect_children(blocking=True) was already waiting for w0 and reaped it
    assert s.workers[0].reaped is Reaped.YES


@given(traces(max_steps=16))
def test_model_a_with_block_ending_closes_exactly_as_server_close(trace: Trace) -> None:
    profile, steps = trace
    for before, _, _ in steps:
        assert allowed(before, Close(by_exit=True)) is allowed(before, Close())
        if allowed(before, Close()):
            assert step(profile, before, Close(by_exit=True)) == step(profile, before, Close())
