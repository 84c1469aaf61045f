"""Properties of every run of the model: random allowed event sequences, checked at each step."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given

from model import (
    DOCUMENTED,
    Close,
    Connect,
    Event,
    Kind,
    Outcome,
    Phase,
    Profile,
    Reaped,
    Release,
    SetAttr,
    State,
    TimeOut,
    Worker,
    step,
)
from tests.model.model_helpers import CPYTHON_38, run, traces

Trace = tuple[Profile, list[tuple[State, Event, State]]]


def assert_well_formed(state: State) -> None:
    server = state.server
    if server.phase is Phase.CLOSING:
        assert server.awaited, "CLOSING with nothing to wait for: settle should have closed it"
        assert any(state.worker(w).held for w in server.awaited), "CLOSING though every awaited worker ended"
        assert server.awaited <= {w.wid for w in state.workers}
    else:
        assert server.awaited == frozenset()
    for index, worker in enumerate(state.workers):
        assert worker.wid == index
        assert worker.kind is server.kind
        if worker.rejected:
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
        else:
            assert worker.reaped is Reaped.NO


def assert_rejected_record(worker: Worker) -> None:
    """verify_request() said no: a record of the request, and nothing ever ran for it."""
    assert not worker.held, f"rejected w{worker.wid} is held"
    assert worker.outcome is None
    assert worker.reaped is Reaped.NO, f"rejected w{worker.wid} was reaped: it had no child"
    assert not worker.tracked, f"rejected w{worker.wid} is tracked: it had no thread"
    assert not worker.daemon
    assert not worker.may_be_retained
    assert not worker.exited_child


def assert_monotonic(before: State, after: State) -> None:
    assert after.server.closes >= before.server.closes
    assert after.server.timeouts >= before.server.timeouts
    assert len(after.workers) - len(before.workers) in (0, 1)
    for old, new in zip(before.workers, after.workers, strict=False):
        assert (old.wid, old.kind, old.daemon, old.rejected) == (new.wid, new.kind, new.daemon, new.rejected)
        if old.rejected:
            assert old == new, "a rejected request's record never changes"
        assert new.held <= old.held, "a finished worker cannot be held again"
        assert not (old.reaped is Reaped.YES and new.reaped is not Reaped.YES), "unreaped again"


@given(traces(max_steps=24))
def test_model_runs_keep_the_state_well_formed(trace: Trace) -> None:
    profile, steps = trace
    for before, event, after in steps:
        assert step(profile, before, event) == after  # deterministic
        assert_well_formed(after)
        assert_monotonic(before, after)
        grew = len(after.workers) - len(before.workers)
        assert grew == (isinstance(event, Connect) and before.server.phase is Phase.OPEN)
        if grew:
            assert isinstance(event, Connect) and after.workers[-1].rejected == event.rejected
        ticked = after.server.timeouts - before.server.timeouts
        assert ticked == isinstance(event, TimeOut)


@given(traces(max_steps=24))
def test_model_rejected_connect_changes_nothing_but_appends_its_record(trace: Trace) -> None:
    _, steps = trace
    for before, event, after in steps:
        if not (isinstance(event, Connect) and event.rejected and before.server.phase is Phase.OPEN):
            continue
        *kept, record = after.workers
        assert State(after.server, tuple(kept)) == before  # no latch, no pruning, no reaping
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
        spawned = isinstance(event, Connect) and not event.rejected and before.server.phase is Phase.OPEN
        if spawned:  # a spawn lets go of every thread that had finished before it
            assert not any(retained), (event, after)
        if isinstance(event, Close) and profile == DOCUMENTED:  # and so does a close, as it starts
            assert not any(retained), (event, after)
        if isinstance(event, Close) and profile == CPYTHON_38 and after.server.phase is Phase.CLOSING:
            # _Threads.join() holds the list it popped until it has joined them all
            assert retained == [w.may_be_retained for w in before.workers], (event, after)
        if profile == CPYTHON_38 and after.server.closes > before.server.closes:
            assert not any(retained), (event, after)  # a close returned, and its list with it
        if isinstance(event, Release) and after.server.closes == before.server.closes:
            released = after.worker(event.wid)
            expected = not released.daemon if profile == DOCUMENTED else before.worker(event.wid).tracked
            assert released.may_be_retained == (released.kind is Kind.THREAD and expected), (event, released)


@given(traces(max_steps=24, kind=Kind.FORK))
def test_model_fork_timeout_leaves_no_exited_child_unreaped(trace: Trace) -> None:
    _, steps = trace
    for before, event, after in steps:
        if not isinstance(event, TimeOut):
            continue
        assert before.server.phase is Phase.OPEN
        for worker in after.workers:
            if worker.exited_child:
                assert worker.reaped is Reaped.YES, (event, after)
        # nothing else changes: only exited children are reaped, and the count of timeouts
        unreaped = attrs.evolve(
            after,
            server=attrs.evolve(after.server, timeouts=before.server.timeouts),
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
            assert after == attrs.evolve(
                before, server=attrs.evolve(before.server, timeouts=before.server.timeouts + 1)
            )


@given(traces(max_steps=24, kind=Kind.FORK))
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


@given(traces(max_steps=24, kind=Kind.FORK))
def test_model_fork_runs_are_the_same_in_both_profiles(trace: Trace) -> None:
    """The profiles differ only for threads (and in how guarantees read a state)."""
    profile, steps = trace
    other = DOCUMENTED if profile == CPYTHON_38 else CPYTHON_38
    for before, event, after in steps:
        assert step(other, before, event) == after


@given(traces(max_steps=24, kind=Kind.THREAD))
def test_model_thread_close_never_awaits_a_daemon_thread(trace: Trace) -> None:
    _, steps = trace
    for _, _, after in steps:
        for wid in after.server.awaited:
            assert not after.worker(wid).daemon


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
