"""Every guarantee must be seen to fail: a check that cannot fail is a defect.

Each test starts from `ideal_view`, the observation a perfect server would give after a model
step (it keeps every guarantee), breaks one fact of it by hand, and asserts that exactly the
guarantee in the test's name flags it, with its words. The tests are named
`test_<guarantee>_flags_...` and `test_<guarantee>_passes_...`, and
`test_GUARANTEES_each_have_a_flagging_and_a_passing_test` holds every guarantee to that.
"""

from __future__ import annotations

import re

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from model import (
    BY_NAME,
    DOCUMENTED,
    GUARANTEES,
    Call,
    Capped,
    Child,
    Close,
    Connect,
    Event,
    HangUp,
    Kind,
    Observation,
    Outcome,
    Probe,
    Profile,
    Release,
    Serve,
    SetAttr,
    Shutdown,
    State,
    StepView,
    TimeOut,
    Timeout,
    Transport,
    Violation,
    Where,
    WorkerObs,
    check,
)
from model.profiles import PROFILES
from tests.model.model_helpers import CPYTHON_38, each_kind, each_profile, ideal_view, run, traces

T, F = Kind.THREAD, Kind.FORK


# --- helpers ----------------------------------------------------------------------------------


def view_after(
    profile: Profile, kind: Kind, *events: Event, transport: Transport = Transport.TCP
) -> StepView:
    """The ideal view of the last of `events`, run from the initial state."""
    *setup, last = events
    return ideal_view(profile, run(profile, State.initial(kind, transport), *setup), last)


DATAGRAMS = pytest.mark.parametrize(
    "transport", [Transport.UDP, Transport.UNIX_DATAGRAM], ids=lambda t: t.value
)


def with_obs(view: StepView, **changes: object) -> StepView:
    return attrs.evolve(view, obs=attrs.evolve(view.obs, **changes))


def with_worker(view: StepView, wid: int, **changes: object) -> StepView:
    workers = tuple(attrs.evolve(o, **changes) if o.wid == wid else o for o in view.obs.workers)
    return with_obs(view, workers=workers)


def without_worker(view: StepView, wid: int) -> StepView:
    return with_obs(view, workers=tuple(o for o in view.obs.workers if o.wid != wid))


def flagged(view: StepView) -> dict[str, list[str]]:
    """What check() found, by guarantee name; each guarantee's own check must agree with it."""
    found = {v.guarantee.name: list(v.details) for v in check(view)}
    for name, details in found.items():
        assert BY_NAME[name].check(view) == details
    return found


def assert_keeps_all(view: StepView) -> None:
    assert check(view) == []
    for guarantee in GUARANTEES:
        assert guarantee.check(view) == [], guarantee.name


# --- the list itself --------------------------------------------------------------------------


def test_GUARANTEES_names_are_unique_kebab_case_and_indexed() -> None:
    names = [g.name for g in GUARANTEES]
    assert len(set(names)) == len(names)
    for name in names:
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", name), name
    assert list(BY_NAME) == names
    assert all(BY_NAME[g.name] is g for g in GUARANTEES)


def test_GUARANTEES_statements_are_one_line_ending_in_a_period() -> None:
    for g in GUARANTEES:
        assert g.statement.strip() == g.statement, g.name
        assert "\n" not in g.statement, g.name
        assert g.statement.endswith("."), g.name
        assert not g.statement.endswith(".."), g.name
        assert g.statement[0].isupper() or g.statement.split()[0].endswith("()"), g.name
        assert re.fullmatch(r"((bpo|gh)-\d+(, (bpo|gh)-\d+)*)?", g.issue), g.name
        assert callable(g.check), g.name


def test_GUARANTEES_each_have_a_flagging_and_a_passing_test() -> None:
    tests = [name for name, obj in globals().items() if name.startswith("test_") and callable(obj)]
    for g in GUARANTEES:
        stem = "test_" + g.name.replace("-", "_")
        assert any(t.startswith(stem + "_flags_") for t in tests), f"no test shows {g.name} failing"
        assert any(t.startswith(stem + "_passes_") for t in tests), f"no test shows {g.name} passing"


def test_check_returns_violations_in_GUARANTEES_order() -> None:
    view = view_after(DOCUMENTED, T, Connect(), Release(0, Outcome.RAISE))
    assert_keeps_all(view)
    # Broken in the reverse of the list's order: check() must still report in the list's order.
    bad = with_worker(view, 0, alive=True, handle_error=Where(), daemon=True)
    bad = with_obs(bad, close=Call.RAISED, close_error="OSError: boom")
    found = check(bad)
    assert [v.guarantee.name for v in found] == [
        "close-raises-nothing",
        "daemon-at-spawn",
        "handle-error-once",
        "worker-lifecycle",
    ]
    assert all(isinstance(v, Violation) for v in found)
    assert [v.guarantee for v in found] == [g for g in GUARANTEES if g in {v.guarantee for v in found}]


# Arbitrary (mostly wrong) observations: check() is exactly each guarantee's check, in order.

wheres = st.builds(Where, worker=st.integers(0, 2), server=st.integers(0, 2))


@st.composite
def views(draw: st.DrawFn) -> StepView:
    profile, steps = draw(traces(max_steps=10))
    if not steps:
        state = State.initial(draw(st.sampled_from(list(Kind))))
        steps = [(state, SetAttr("daemon_threads", False), state)]
    before, event, after = draw(st.sampled_from(steps))
    wids = draw(st.lists(st.integers(0, len(after.workers)), unique=True))
    workers = tuple(
        WorkerObs(
            wid=wid,
            alive=draw(st.booleans()),
            daemon=draw(st.none() | st.booleans()),
            child=draw(st.none() | st.sampled_from(list(Child))),
            entered=draw(st.integers(0, 2)),
            exited=draw(st.integers(0, 2)),
            handle_error=draw(wheres),
            shutdown_request=draw(wheres),
            close_request=draw(wheres),
            closed_before_exit=draw(st.booleans()),
            client_eof=draw(st.booleans()),
            released_seq=draw(st.none() | st.integers(0, 9)),
            retained=draw(st.booleans()),
        )
        for wid in wids
    )
    obs = Observation(
        workers=workers,
        close=draw(st.sampled_from(list(Call))),
        close_error=draw(st.none() | st.just("OSError: boom")),
        close_return_seq=draw(st.none() | st.integers(0, 9)),
        dispatch=draw(st.sampled_from(list(Call))),
        dispatch_error=draw(st.none() | st.just("OSError: boom")),
        probe=draw(st.none() | st.sampled_from(list(Probe))),
        handle_timeout=draw(st.integers(0, 3)),
    )
    return StepView(profile, before, event, after, obs)


@given(views())
def test_check_is_every_guarantee_check_in_order(view: StepView) -> None:
    expected = []
    for g in GUARANTEES:
        details = g.check(view)
        assert isinstance(details, list)
        assert all(isinstance(d, str) and d and "\n" not in d for d in details)
        if details:
            expected.append(Violation(g, tuple(details)))
    assert check(view) == expected


@given(traces(max_steps=20) | traces(max_steps=20, low_cap=True))
def test_check_passes_the_ideal_observation_of_every_step(trace: tuple[Profile, list]) -> None:
    profile, steps = trace
    for before, event, _ in steps:
        assert_keeps_all(ideal_view(profile, before, event))


@given(traces(max_steps=20, kind=T))
def test_check_passes_every_thread_the_server_may_still_reference_seen_retained(
    trace: tuple[Profile, list],
) -> None:
    # the least a server must let go of: every thread with may_be_retained is still referenced
    profile, steps = trace
    for before, event, _ in steps:
        view = ideal_view(profile, before, event)
        may = {w.wid for w in view.after.workers if w.may_be_retained}
        for wid in may:
            view = with_worker(view, wid, retained=True)
        assert_keeps_all(view)


# --- dispatch-does-not-wait -------------------------------------------------------------------


@each_kind
def test_dispatch_does_not_wait_flags_a_dispatch_still_blocked(kind: Kind) -> None:
    view = view_after(DOCUMENTED, kind, Connect())
    for call in (Call.BLOCKED, Call.NONE):
        assert flagged(with_obs(view, dispatch=call)) == {
            "dispatch-does-not-wait": ["handle_request() did not return once it had dispatched the request"]
        }


def test_dispatch_does_not_wait_flags_a_dispatch_that_raised() -> None:
    view = view_after(DOCUMENTED, T, Connect())
    bad = with_obs(view, dispatch=Call.RAISED, dispatch_error="RuntimeError: can't start new thread")
    assert flagged(bad) == {
        "dispatch-does-not-wait": ["handle_request() raised RuntimeError: can't start new thread"]
    }


@each_kind
@each_profile
def test_dispatch_does_not_wait_passes_a_returned_dispatch(profile: Profile, kind: Kind) -> None:
    view = view_after(profile, kind, Connect())
    assert view.obs.dispatch is Call.RETURNED
    assert_keeps_all(view)


@each_kind
def test_dispatch_does_not_wait_passes_a_probe_after_close(kind: Kind) -> None:
    view = view_after(DOCUMENTED, kind, Close(), Connect())  # a probe: no handle_request()
    assert view.obs.dispatch is Call.NONE
    assert_keeps_all(view)


# --- handled-in-call --------------------------------------------------------------------------

S = Kind.SYNC


def test_handled_in_call_flags_a_handle_request_that_returned_with_its_handler_held() -> None:
    view = view_after(DOCUMENTED, S, Connect())
    assert view.obs.dispatch is Call.BLOCKED
    assert flagged(with_obs(view, dispatch=Call.RETURNED)) == {
        "handled-in-call": ["handle_request() returned while w0's handler was still held"]
    }


def test_handled_in_call_flags_a_handle_request_still_blocked_after_the_release() -> None:
    view = view_after(DOCUMENTED, S, Connect(), Release(0, Outcome.RAISE))
    assert flagged(with_obs(view, dispatch=Call.BLOCKED)) == {
        "handled-in-call": [
            "handle_request() blocked once w0's handler was released to raise; it must return"
        ]
    }


@pytest.mark.parametrize("profile", [DOCUMENTED, CPYTHON_38], ids=lambda p: p.name)
def test_handled_in_call_flags_a_systemexit_that_did_not_propagate(profile: Profile) -> None:
    view = view_after(profile, S, Connect(), Release(0, Outcome.EXIT))
    assert (view.obs.dispatch, view.obs.dispatch_error) == (Call.RAISED, "SystemExit: 3")
    assert flagged(with_obs(view, dispatch=Call.RETURNED, dispatch_error=None)) == {
        "handled-in-call": [
            "handle_request() returned once w0's handler was released to exit; it must raise that SystemExit"
        ]
    }


def test_handled_in_call_flags_a_2_7_systemexit_that_propagated() -> None:
    view = view_after(PROFILES["cpython-2.7"], S, Connect(), Release(0, Outcome.EXIT))
    assert view.obs.dispatch is Call.RETURNED  # the bare except sent it to handle_error
    bad = with_obs(view, dispatch=Call.RAISED, dispatch_error="SystemExit: 3")
    assert flagged(bad) == {
        "handled-in-call": [
            "handle_request() raised SystemExit: 3 once w0's handler was released to exit; it must return"
        ]
    }


@pytest.mark.parametrize("loop", [False, True], ids=["handle_request", "serve_forever"])
def test_handled_in_call_flags_a_connection_accepted_while_the_handler_is_held(loop: bool) -> None:
    setup = [Serve()] if loop else []
    view = view_after(DOCUMENTED, S, *setup, Connect(), Connect())
    assert view.after.worker(1).queued
    assert flagged(with_worker(view, 1, entered=1)) == {
        "handled-in-call": ["w1 was accepted while w0 held the dispatching call (its handler ran 1 times)"]
    }


def test_handled_in_call_flags_a_connection_the_next_turn_left_waiting() -> None:
    view = view_after(DOCUMENTED, S, Serve(), Connect(), Connect(), Release(0))
    assert view.after.worker(1).held  # the loop's next turn took it
    found = flagged(with_worker(view, 1, entered=0, alive=False))
    assert found["handled-in-call"] == ["w1 still waits, though serve_forever() turned again"]


def test_handled_in_call_flags_a_handle_request_that_took_a_second_connection() -> None:
    view = view_after(DOCUMENTED, S, Connect(), Connect(), Release(0))
    assert view.after.worker(1).queued  # a handle_request() takes exactly one
    assert flagged(with_worker(view, 1, entered=1))["handled-in-call"] == [
        "w1 was accepted by no call that takes one (its handler ran 1 times)"
    ]


@each_profile
@pytest.mark.parametrize("outcome", list(Outcome), ids=lambda o: o.value)
def test_handled_in_call_passes_the_ideal_runs(profile: Profile, outcome: Outcome) -> None:
    for events in (
        [Connect(), Connect(), Release(0, outcome)],
        [Serve(), Connect(), Connect(), Release(0, outcome)],
        [Serve(Timeout.NONE), Connect(), Shutdown(), Release(0, outcome)],
    ):
        assert_keeps_all(view_after(profile, S, *events))


def test_handled_in_call_passes_thread_and_fork_servers() -> None:
    for kind in (T, F):
        view = view_after(DOCUMENTED, kind, Connect())
        assert BY_NAME["handled-in-call"].check(with_obs(view, dispatch=Call.BLOCKED)) == []


# --- handler-runs -----------------------------------------------------------------------------


@each_kind
def test_handler_runs_flags_a_handler_entered_other_than_once(kind: Kind) -> None:
    view = view_after(DOCUMENTED, kind, Connect())
    assert flagged(with_worker(view, 0, entered=0)) == {
        "handler-runs": ["w0's handler was entered 0 times, expected once"]
    }
    assert flagged(with_worker(view, 0, entered=2)) == {
        "handler-runs": ["w0's handler was entered 2 times, expected once"]
    }


def test_handler_runs_flags_a_connection_with_no_worker() -> None:
    view = view_after(DOCUMENTED, F, Connect(), Connect())
    assert flagged(without_worker(view, 1)) == {
        "handler-runs": ["w1's handler was entered 0 times, expected once"]
    }


@each_kind
def test_handler_runs_passes_a_handler_entered_once(kind: Kind) -> None:
    view = view_after(DOCUMENTED, kind, Connect(), Connect())
    assert [o.entered for o in view.obs.workers] == [1, 1]
    assert_keeps_all(view)


# --- close-raises-nothing ---------------------------------------------------------------------


@each_kind
def test_close_raises_nothing_flags_a_close_that_raised(kind: Kind) -> None:
    view = view_after(DOCUMENTED, kind, Close())
    bad = with_obs(view, close=Call.RAISED, close_error="RuntimeError: cannot join current thread")
    assert flagged(bad) == {
        "close-raises-nothing": ["server_close() raised RuntimeError: cannot join current thread"]
    }


@each_kind
@each_profile
def test_close_raises_nothing_passes_a_close_that_returned(profile: Profile, kind: Kind) -> None:
    view = view_after(profile, kind, Close())
    assert view.obs.close is Call.RETURNED
    assert_keeps_all(view)


# --- close-waits ------------------------------------------------------------------------------


@each_kind
@each_profile
def test_close_waits_flags_a_close_that_returned_while_an_awaited_worker_runs(
    profile: Profile, kind: Kind
) -> None:
    view = view_after(profile, kind, Connect(), Connect(), Close())
    assert view.obs.close is Call.BLOCKED
    bad = with_obs(view, close=Call.RETURNED, close_return_seq=0)
    assert flagged(bad) == {
        "close-waits": ["server_close() returned while w0, w1 it must wait for still ran"]
    }
    # one of them released: the message names only the one still running
    view = view_after(profile, kind, Connect(), Connect(), Close(), Release(0))
    bad = with_obs(view, close=Call.RETURNED, close_return_seq=view.obs.workers[0].released_seq)
    assert flagged(bad) == {"close-waits": ["server_close() returned while w1 it must wait for still ran"]}


@each_kind
@each_profile
def test_close_waits_flags_a_close_that_returned_before_the_last_release(
    profile: Profile, kind: Kind
) -> None:
    view = view_after(profile, kind, Connect(), Connect(), Close(), Release(1), Release(0))
    released = {o.wid: o.released_seq for o in view.obs.workers}
    assert released[0] is not None
    assert view.obs.close_return_seq is not None
    assert view.obs.close_return_seq > released[0]
    assert_keeps_all(view)
    bad = with_obs(view, close_return_seq=released[0] - 1)
    assert bad.obs.close_return_seq is not None
    assert bad.obs.close_return_seq < released[0]  # type: ignore[operator]
    assert flagged(bad) == {"close-waits": ["server_close() returned before w0, which it awaited, ended"]}


def test_close_waits_flags_a_close_that_ignored_block_on_close_latched_at_spawn() -> None:
    # block_on_close true at the spawn, false at close: cpython-3.8 still waits, documented does not
    events = (Connect(), SetAttr("block_on_close", False), Close())
    latched = view_after(CPYTHON_38, T, *events)
    returned = with_obs(latched, close=Call.RETURNED, close_return_seq=0)
    assert flagged(returned) == {
        "close-waits": ["server_close() returned while w0 it must wait for still ran"]
    }
    assert_keeps_all(
        attrs.evolve(returned, profile=DOCUMENTED, after=view_after(DOCUMENTED, T, *events).after)
    )


@each_kind
@each_profile
def test_close_waits_passes_a_close_still_blocked_then_returned_after_the_release(
    profile: Profile, kind: Kind
) -> None:
    assert_keeps_all(view_after(profile, kind, Connect(), Close()))
    assert_keeps_all(view_after(profile, kind, Connect(), Close(), Release(0)))


# --- close-returns ----------------------------------------------------------------------------


@each_profile
def test_close_returns_flags_a_close_blocked_on_a_daemon_thread(profile: Profile) -> None:
    view = view_after(profile, T, SetAttr("daemon_threads", True), Connect(), Close())
    assert view.obs.close is Call.RETURNED
    assert flagged(with_obs(view, close=Call.BLOCKED, close_return_seq=None)) == {
        "close-returns": [
            "server_close() is still blocked though it must not wait for any running worker "
            "(block_on_close=True; running: w0 (daemon))"
        ]
    }


@each_kind
@each_profile
def test_close_returns_flags_a_close_blocked_with_block_on_close_false(profile: Profile, kind: Kind) -> None:
    view = view_after(profile, kind, SetAttr("block_on_close", False), Connect(), Close())
    assert flagged(with_obs(view, close=Call.BLOCKED, close_return_seq=None)) == {
        "close-returns": [
            "server_close() is still blocked though it must not wait for any running worker "
            "(block_on_close=False; running: w0)"
        ]
    }


def test_close_returns_flags_a_close_that_waited_although_block_on_close_was_false_at_close() -> None:
    # documented reads block_on_close at close; cpython-3.8 latched it at the spawn
    events = (Connect(), SetAttr("block_on_close", False), Close())
    documented = view_after(DOCUMENTED, T, *events)
    blocked = with_obs(documented, close=Call.BLOCKED, close_return_seq=None)
    assert list(flagged(blocked)) == ["close-returns"]
    assert_keeps_all(
        attrs.evolve(blocked, profile=CPYTHON_38, after=view_after(CPYTHON_38, T, *events).after)
    )


@each_kind
@each_profile
def test_close_returns_passes_a_close_that_returned_without_waiting(profile: Profile, kind: Kind) -> None:
    view = view_after(profile, kind, SetAttr("block_on_close", False), Connect(), Connect(), Close())
    assert view.obs.close is Call.RETURNED
    assert_keeps_all(view)


# --- no-zombie-after-blocking-close -----------------------------------------------------------


@each_profile
def test_no_zombie_after_blocking_close_flags_a_zombie_after_the_close_returned(profile: Profile) -> None:
    view = view_after(profile, F, Connect(), Connect(), Close(), Release(1), Release(0))
    assert [o.child for o in view.obs.workers] == [Child.REAPED, Child.REAPED]
    assert flagged(with_worker(view, 1, child=Child.ZOMBIE)) == {
        "no-zombie-after-blocking-close": ["w1's child is a zombie though server_close() must have reaped it"]
    }


@each_profile
def test_no_zombie_after_blocking_close_passes_a_zombie_while_the_close_still_waits(profile: Profile) -> None:
    view = view_after(profile, F, Connect(), Connect(), Close(), Release(0))
    assert view.obs.close is Call.BLOCKED
    assert_keeps_all(with_worker(view, 0, child=Child.ZOMBIE))  # Reaped.MAYBE
    assert_keeps_all(with_worker(view, 0, child=Child.REAPED))


@each_profile
def test_no_zombie_after_blocking_close_passes_a_zombie_of_an_open_server(profile: Profile) -> None:
    view = view_after(profile, F, Connect(), Release(0))
    assert view.obs.workers[0].child is Child.ZOMBIE
    assert_keeps_all(view)


# --- reaped-as-modelled -----------------------------------------------------------------------


@each_profile
def test_reaped_as_modelled_flags_a_held_child_that_was_reaped(profile: Profile) -> None:
    view = view_after(profile, F, Connect())
    assert flagged(with_worker(view, 0, child=Child.REAPED)) == {
        "reaped-as-modelled": ["w0's child was reaped while its handler was held"]
    }


def test_reaped_as_modelled_flags_a_child_cpython_would_not_have_reaped() -> None:
    view = view_after(CPYTHON_38, F, Connect(), Release(0))
    assert flagged(with_worker(view, 0, child=Child.REAPED)) == {
        "reaped-as-modelled": ["w0's child was reaped where cpython-3.8 reaps nothing"]
    }


def test_reaped_as_modelled_passes_an_early_reap_under_documented() -> None:
    view = view_after(DOCUMENTED, F, Connect(), Release(0))
    assert_keeps_all(with_worker(view, 0, child=Child.REAPED))


@each_profile
def test_reaped_as_modelled_passes_children_reaped_by_close(profile: Profile) -> None:
    view = view_after(profile, F, Connect(), Release(0), SetAttr("block_on_close", False), Close())
    assert view.obs.workers[0].child is Child.REAPED
    assert_keeps_all(view)


# --- daemon-at-spawn --------------------------------------------------------------------------


@each_profile
def test_daemon_at_spawn_flags_a_thread_whose_daemon_flag_differs(profile: Profile) -> None:
    view = view_after(profile, T, Connect())
    assert flagged(with_worker(view, 0, daemon=True)) == {
        "daemon-at-spawn": ["w0.daemon is True, but daemon_threads was False when it was spawned"]
    }
    view = view_after(
        profile, T, SetAttr("daemon_threads", True), Connect(), SetAttr("daemon_threads", False)
    )
    assert flagged(with_worker(view, 0, daemon=False)) == {
        "daemon-at-spawn": ["w0.daemon is False, but daemon_threads was True when it was spawned"]
    }


@each_profile
def test_daemon_at_spawn_passes_the_flag_read_at_spawn(profile: Profile) -> None:
    view = view_after(
        profile, T, SetAttr("daemon_threads", True), Connect(), SetAttr("daemon_threads", False)
    )
    assert view.obs.workers[0].daemon is True
    assert_keeps_all(view)
    assert_keeps_all(with_worker(view, 0, daemon=None))  # not observed


# --- handle-error-once ------------------------------------------------------------------------


@each_kind
def test_handle_error_once_flags_a_raise_not_handled_exactly_once_in_the_worker(kind: Kind) -> None:
    view = view_after(DOCUMENTED, kind, Connect(), Release(0, Outcome.RAISE))
    assert view.obs.workers[0].handle_error == Where(worker=1)
    for count in (Where(), Where(worker=2), Where(worker=1, server=1), Where(server=1)):
        assert flagged(with_worker(view, 0, handle_error=count)) == {
            "handle-error-once": [
                f"w0 (released to raise): handle_error ran {count.worker} times in the worker and "
                f"{count.server} in the server; expected 1 and 0"
            ]
        }


@each_kind
def test_handle_error_once_flags_a_handle_error_without_a_raise(kind: Kind) -> None:
    view = view_after(DOCUMENTED, kind, Connect(), Connect(), Release(1, Outcome.RETURN))
    assert flagged(with_worker(view, 0, handle_error=Where(worker=1))) == {
        "handle-error-once": [
            "w0 (held): handle_error ran 1 times in the worker and 0 in the server; expected 0 and 0"
        ]
    }
    assert flagged(with_worker(view, 1, handle_error=Where(server=1))) == {
        "handle-error-once": [
            "w1 (released to return): handle_error ran 0 times in the worker and 1 in the server; "
            "expected 0 and 0"
        ]
    }


@each_kind
def test_handle_error_once_flags_a_handle_error_for_a_rejected_request(kind: Kind) -> None:
    # nothing ran for a rejected request, so nothing can have raised: handle_error must not run
    view = view_after(DOCUMENTED, kind, Connect(rejected=True))
    assert_keeps_all(view)
    for count in (Where(server=1), Where(worker=1)):
        assert list(flagged(with_worker(view, 0, handle_error=count))) == ["handle-error-once"]


@each_kind
@each_profile
def test_handle_error_once_passes_one_handle_error_per_raise(profile: Profile, kind: Kind) -> None:
    view = view_after(profile, kind, Connect(), Connect(), Release(0, Outcome.RAISE), Release(1))
    assert [o.handle_error for o in view.obs.workers] == [Where(worker=1), Where()]
    assert_keeps_all(view)


# --- request-closed-once ----------------------------------------------------------------------


@each_kind
def test_request_closed_once_flags_a_request_shut_down_other_than_once(kind: Kind) -> None:
    view = view_after(DOCUMENTED, kind, Connect(), Release(0))
    assert flagged(with_worker(view, 0, shutdown_request=Where(worker=2))) == {
        "request-closed-once": [
            "w0 (released to return): shutdown_request ran 2 times in the worker and 0 in the server"
        ]
    }
    assert flagged(with_worker(view, 0, shutdown_request=Where(server=1))) == {
        "request-closed-once": [
            "w0 (released to return): shutdown_request ran 0 times in the worker and 1 in the server"
        ]
    }


def test_request_closed_once_flags_a_forking_parent_that_kept_its_copy() -> None:
    view = view_after(DOCUMENTED, F, Connect())
    assert view.obs.workers[0].close_request == Where(server=1)
    assert flagged(with_worker(view, 0, close_request=Where())) == {
        "request-closed-once": ["w0 (held): close_request ran 0 times in the worker and 0 in the server"]
    }


def test_request_closed_once_flags_a_thread_request_closed_by_the_server_too() -> None:
    view = view_after(DOCUMENTED, T, Connect(), Release(0))
    assert view.obs.workers[0].close_request == Where(worker=1)
    assert flagged(with_worker(view, 0, close_request=Where(worker=1, server=1))) == {
        "request-closed-once": [
            "w0 (released to return): close_request ran 1 times in the worker and 1 in the server"
        ]
    }


@each_kind
def test_request_closed_once_flags_a_request_closed_before_the_handler_returned(kind: Kind) -> None:
    view = view_after(DOCUMENTED, kind, Connect(), Release(0))
    assert flagged(with_worker(view, 0, closed_before_exit=True)) == {
        "request-closed-once": ["w0: the request was closed before its handler returned"]
    }


@each_kind
def test_request_closed_once_flags_the_clients_eof_at_the_wrong_time(kind: Kind) -> None:
    held = view_after(DOCUMENTED, kind, Connect())
    assert flagged(with_worker(held, 0, client_eof=True)) == {
        "request-closed-once": ["w0: the client sees EOF while its handler runs"]
    }
    released = view_after(DOCUMENTED, kind, Connect(), Release(0))
    assert flagged(with_worker(released, 0, client_eof=False)) == {
        "request-closed-once": ["w0: the client never saw EOF"]
    }


@each_kind
@each_profile
def test_request_closed_once_after_a_hang_up_still_wants_one_close_and_no_eof(
    profile: Profile, kind: Kind
) -> None:
    for events in ([Connect(), HangUp(0), Release(0)], [Connect(hangs_up=True), Release(0)]):
        view = view_after(profile, kind, *events)
        assert view.obs.workers[0].client_eof is None  # its client is gone: nothing to read
        assert_keeps_all(view)
        parent = 1 if kind is F else 0
        skipped = with_worker(view, 0, close_request=Where(server=parent))
        assert flagged(skipped) == {
            "request-closed-once": [
                f"w0 (released to return): close_request ran 0 times in the worker and {parent} in the server"
            ]
        }


@each_kind
@each_profile
@DATAGRAMS
def test_request_closed_once_passes_a_datagram_request_whose_client_sees_no_eof(
    profile: Profile, kind: Kind, transport: Transport
) -> None:
    # a datagram request is no connection: there is no EOF to see, before or after
    for events in ((Connect(),), (Connect(), Release(0)), (Connect(), Release(0, Outcome.RAISE))):
        view = view_after(profile, kind, *events, transport=transport)
        assert [o.client_eof for o in view.obs.workers] == [None]
        assert_keeps_all(view)


@each_kind
@DATAGRAMS
def test_request_closed_once_flags_a_datagram_request_closed_other_than_once(
    kind: Kind, transport: Transport
) -> None:
    view = view_after(DOCUMENTED, kind, Connect(), Release(0), transport=transport)
    assert flagged(with_worker(view, 0, shutdown_request=Where())) == {
        "request-closed-once": [
            "w0 (released to return): shutdown_request ran 0 times in the worker and 0 in the server"
        ]
    }


@each_kind
@each_profile
def test_request_closed_once_passes_one_shutdown_and_close_by_the_worker(
    profile: Profile, kind: Kind
) -> None:
    assert_keeps_all(view_after(profile, kind, Connect(), Connect(), Release(1, Outcome.RAISE)))


# --- worker-lifecycle -------------------------------------------------------------------------


@each_kind
def test_worker_lifecycle_flags_a_worker_that_ended_while_held(kind: Kind) -> None:
    view = view_after(DOCUMENTED, kind, Connect())
    assert flagged(with_worker(view, 0, alive=False)) == {
        "worker-lifecycle": [f"w0's {kind.value} ended while its handler was held"]
    }


@each_kind
def test_worker_lifecycle_flags_a_worker_still_running_after_its_release(kind: Kind) -> None:
    view = view_after(DOCUMENTED, kind, Connect(), Release(0))
    assert flagged(with_worker(view, 0, alive=True)) == {
        "worker-lifecycle": [f"w0's {kind.value} is still running after its release"]
    }


@each_kind
@each_profile
def test_worker_lifecycle_passes_running_while_held_and_ended_once_released(
    profile: Profile, kind: Kind
) -> None:
    view = view_after(profile, kind, Connect(), Connect(), Release(0))
    assert [o.alive for o in view.obs.workers] == [False, True]
    assert_keeps_all(view)


# --- closed-refuses ---------------------------------------------------------------------------


@each_kind
@each_profile
def test_closed_refuses_flags_an_accepted_connection_after_close(profile: Profile, kind: Kind) -> None:
    view = view_after(profile, kind, Close(), Connect())
    assert view.obs.probe is Probe.REFUSED
    assert flagged(with_obs(view, probe=Probe.ACCEPTED)) == {
        "closed-refuses": ["a connection to the closed server was accepted, not refused"]
    }
    assert flagged(with_obs(view, probe=Probe.TIMEOUT)) == {
        "closed-refuses": ["a connection to the closed server was not answered, not refused"]
    }
    assert flagged(with_obs(view, probe=None)) == {
        "closed-refuses": ["a connection to the closed server was not attempted, not refused"]
    }


def test_closed_refuses_flags_an_accepted_connection_while_a_documented_child_runs() -> None:
    # documented (and impl): the child does not keep the listening socket
    view = view_after(DOCUMENTED, F, SetAttr("block_on_close", False), Connect(), Close(), Connect())
    assert view.after.held
    assert flagged(with_obs(view, probe=Probe.ACCEPTED)) == {
        "closed-refuses": ["a connection to the closed server was accepted, not refused"]
    }


def test_closed_refuses_flags_a_refusal_while_a_cpython_child_holds_the_listener() -> None:
    view = view_after(CPYTHON_38, F, SetAttr("block_on_close", False), Connect(), Close(), Connect())
    assert view.obs.probe is Probe.ACCEPTED
    assert flagged(with_obs(view, probe=Probe.REFUSED)) == {
        "closed-refuses": ["a connection was refused, although a running child still holds the server socket"]
    }


def test_closed_refuses_flags_an_accepted_connection_once_every_cpython_child_ended() -> None:
    events = (SetAttr("block_on_close", False), Connect(), Close(), Release(0), Connect())
    view = view_after(CPYTHON_38, F, *events)
    assert view.obs.probe is Probe.REFUSED
    assert list(flagged(with_obs(view, probe=Probe.ACCEPTED))) == ["closed-refuses"]


@each_profile
@DATAGRAMS
def test_closed_refuses_flags_a_refusal_while_a_datagram_child_holds_the_server_socket(
    profile: Profile, transport: Transport
) -> None:
    # a datagram child answers through the server socket itself: every profile keeps it open
    events = (SetAttr("block_on_close", False), Connect(), Close(), Connect())
    view = view_after(profile, F, *events, transport=transport)
    assert view.obs.probe is Probe.ACCEPTED
    assert flagged(with_obs(view, probe=Probe.REFUSED)) == {
        "closed-refuses": ["a connection was refused, although a running child still holds the server socket"]
    }


@each_profile
@DATAGRAMS
def test_closed_refuses_flags_a_datagram_accepted_once_every_thread_server_closed(
    profile: Profile, transport: Transport
) -> None:
    # a handler thread shares the server socket object, but server_close() closed it
    events = (SetAttr("block_on_close", False), Connect(), Close(), Connect())
    view = view_after(profile, T, *events, transport=transport)
    assert view.obs.probe is Probe.REFUSED
    assert list(flagged(with_obs(view, probe=Probe.ACCEPTED))) == ["closed-refuses"]


@each_kind
@each_profile
def test_closed_refuses_passes_the_expected_probe_answer(profile: Profile, kind: Kind) -> None:
    view = view_after(profile, kind, SetAttr("block_on_close", False), Connect(), Close(), Connect())
    listening = profile.child_keeps_listener and kind is F
    assert view.obs.probe is (Probe.ACCEPTED if listening else Probe.REFUSED)
    assert_keeps_all(view)


@pytest.mark.parametrize("probe", [None, *Probe], ids=lambda p: getattr(p, "value", "none"))
def test_closed_refuses_passes_any_probe_of_an_open_server(probe: Probe | None) -> None:
    # Connect on an open server is a dispatch, not a probe: closed-refuses does not judge it
    view = view_after(DOCUMENTED, T, Connect())
    assert BY_NAME["closed-refuses"].check(with_obs(view, probe=probe)) == []


# --- rejected-request-closed ------------------------------------------------------------------


@each_kind
def test_rejected_request_closed_flags_a_rejected_request_that_was_handled(kind: Kind) -> None:
    view = view_after(DOCUMENTED, kind, Connect(rejected=True))
    assert view.obs.workers[0].entered == 0
    for entered in (1, 2):
        assert flagged(with_worker(view, 0, entered=entered)) == {
            "rejected-request-closed": ["w0 (rejected) got no worker, but its handler ran"]
        }


@each_kind
def test_rejected_request_closed_flags_a_rejected_request_not_shut_down_once_by_the_server(
    kind: Kind,
) -> None:
    view = view_after(DOCUMENTED, kind, Connect(rejected=True))
    assert view.obs.workers[0].shutdown_request == Where(server=1)
    for count in (Where(), Where(server=2), Where(worker=1), Where(worker=1, server=1)):
        assert flagged(with_worker(view, 0, shutdown_request=count)) == {
            "rejected-request-closed": [
                f"w0 (rejected): shutdown_request ran {count.worker} times in the worker and "
                f"{count.server} in the server"
            ]
        }


@each_kind
def test_rejected_request_closed_flags_a_rejected_request_not_closed_once_by_the_server(
    kind: Kind,
) -> None:
    view = view_after(DOCUMENTED, kind, Connect(), Connect(rejected=True))
    assert view.obs.workers[1].close_request == Where(server=1)
    assert flagged(with_worker(view, 1, close_request=Where())) == {
        "rejected-request-closed": [
            "w1 (rejected): close_request ran 0 times in the worker and 0 in the server"
        ]
    }
    assert flagged(with_worker(view, 1, close_request=Where(server=2))) == {
        "rejected-request-closed": [
            "w1 (rejected): close_request ran 0 times in the worker and 2 in the server"
        ]
    }


@each_kind
@DATAGRAMS
def test_rejected_request_closed_passes_a_rejected_datagram_without_eof(
    kind: Kind, transport: Transport
) -> None:
    view = view_after(DOCUMENTED, kind, Connect(rejected=True), transport=transport)
    assert view.obs.workers[0].client_eof is None
    assert_keeps_all(view)
    assert flagged(with_worker(view, 0, close_request=Where())) == {
        "rejected-request-closed": [
            "w0 (rejected): close_request ran 0 times in the worker and 0 in the server"
        ]
    }


@each_kind
def test_rejected_request_closed_flags_a_client_left_without_eof(kind: Kind) -> None:
    view = view_after(DOCUMENTED, kind, Connect(rejected=True))
    assert flagged(with_worker(view, 0, client_eof=False)) == {
        "rejected-request-closed": ["w0 (rejected): the client never saw EOF"]
    }


@each_kind
@each_profile
def test_rejected_request_closed_flags_the_record_on_every_later_step(profile: Profile, kind: Kind) -> None:
    # the check is of the state, not of the Connect step: a later step sees the record too
    view = view_after(profile, kind, Connect(rejected=True), Connect(), Release(1), Close())
    assert flagged(with_worker(view, 0, entered=1, client_eof=False)) == {
        "rejected-request-closed": [
            "w0 (rejected) got no worker, but its handler ran",
            "w0 (rejected): the client never saw EOF",
        ]
    }


@each_kind
def test_rejected_request_closed_flags_a_rejected_request_closed_like_an_accepted_one(kind: Kind) -> None:
    # what request-closed-once wants of an accepted request; it leaves rejected ones alone
    view = view_after(DOCUMENTED, kind, Connect(rejected=True))
    bad = with_worker(view, 0, shutdown_request=Where(worker=1), close_request=Where(worker=1))
    assert flagged(bad) == {
        "rejected-request-closed": [
            "w0 (rejected): shutdown_request ran 1 times in the worker and 0 in the server",
            "w0 (rejected): close_request ran 1 times in the worker and 0 in the server",
        ]
    }


@each_kind
@each_profile
def test_rejected_request_closed_passes_a_request_the_server_shut_down_itself(
    profile: Profile, kind: Kind
) -> None:
    view = view_after(profile, kind, Connect(), Connect(rejected=True))
    assert view.obs.dispatch is Call.RETURNED
    assert view.obs.workers[1] == WorkerObs(
        wid=1,
        alive=False,
        shutdown_request=Where(server=1),
        close_request=Where(server=1),
        client_eof=True,
    )
    assert_keeps_all(view)
    assert_keeps_all(view_after(profile, kind, Connect(rejected=True), Connect(), Release(1), Close()))


@each_kind
def test_rejected_request_closed_passes_a_probe_after_close(kind: Kind) -> None:
    # after close a Connect is a probe, whatever verify_request() would have said
    view = view_after(DOCUMENTED, kind, Close(), Connect(rejected=True))
    assert view.after.workers == ()
    assert view.obs.probe is Probe.REFUSED
    assert_keeps_all(view)


# --- handle-timeout ---------------------------------------------------------------------------


@each_kind
def test_handle_timeout_flags_a_handle_request_that_did_not_time_out(kind: Kind) -> None:
    view = view_after(DOCUMENTED, kind, TimeOut())
    assert view.obs.dispatch is Call.RETURNED
    for call in (Call.BLOCKED, Call.NONE, Call.RAISED):
        assert flagged(with_obs(view, dispatch=call)) == {
            "handle-timeout": [f"handle_request() with nothing to accept {call.value} instead of timing out"]
        }


@each_kind
def test_handle_timeout_flags_a_handle_request_that_stops_waiting_with_no_timeout_in_effect(
    kind: Kind,
) -> None:
    """socket timeout LONG, server.timeout SHORT: the smaller passes (it times out); with
    server.timeout None too, nothing passes: it waits, also through later steps."""
    short = view_after(DOCUMENTED, kind, SetAttr("socket_timeout", Timeout.LONG), TimeOut())
    assert short.obs.dispatch is Call.RETURNED and short.obs.handle_timeout == 1
    assert flagged(with_obs(short, dispatch=Call.BLOCKED)) == {
        "handle-timeout": ["handle_request() with nothing to accept blocked instead of timing out"]
    }
    waiting = (SetAttr("socket_timeout", Timeout.LONG), SetAttr("timeout", Timeout.NONE), TimeOut())
    for later in ((), (SetAttr("timeout", Timeout.SHORT),)):  # read as it started: it waits on
        waits = view_after(DOCUMENTED, kind, *waiting, *later)
        assert waits.obs.dispatch is Call.BLOCKED and waits.after.server.listening
        wrong = "handle_request() returned with nothing to accept, though no timeout in effect had passed "
        wrong += f"(server.timeout {waits.after.server.timeout.value}, socket timeout long)"
        assert flagged(with_obs(waits, dispatch=Call.RETURNED)) == {"handle-timeout": [wrong]}
        assert flagged(with_obs(waits, dispatch=Call.RETURNED, handle_timeout=1)) == {
            "handle-timeout": [wrong, "handle_timeout() ran 1 times; handle_request() timed out 0 times"]
        }
    taken = view_after(DOCUMENTED, kind, *waiting, Connect())
    assert taken.obs.dispatch is Call.RETURNED and not taken.after.server.listening
    assert flagged(taken) == {}


@each_kind
def test_handle_timeout_flags_a_timeout_without_handle_timeout(kind: Kind) -> None:
    view = view_after(DOCUMENTED, kind, TimeOut(), TimeOut())
    assert view.obs.handle_timeout == 2
    assert flagged(with_obs(view, handle_timeout=1)) == {
        "handle-timeout": ["handle_timeout() ran 1 times; handle_request() timed out 2 times"]
    }
    assert flagged(with_obs(view, handle_timeout=3)) == {
        "handle-timeout": ["handle_timeout() ran 3 times; handle_request() timed out 2 times"]
    }


@each_kind
@each_profile
def test_handle_timeout_flags_a_handle_timeout_without_a_timeout(profile: Profile, kind: Kind) -> None:
    # a dispatch (accepted or rejected), a release, a close: none of them may call handle_timeout()
    for events in (
        (Connect(),),
        (Connect(rejected=True),),
        (TimeOut(), Connect(), Release(0)),
        (TimeOut(), Connect(), Close()),
    ):
        view = view_after(profile, kind, *events)
        timeouts = view.after.server.timeouts
        assert view.obs.handle_timeout == timeouts
        assert flagged(with_obs(view, handle_timeout=timeouts + 1)) == {
            "handle-timeout": [
                f"handle_timeout() ran {timeouts + 1} times; handle_request() timed out {timeouts} times"
            ]
        }


def test_handle_timeout_flags_a_dispatch_that_blocked_and_a_missing_handle_timeout_together() -> None:
    view = view_after(DOCUMENTED, T, TimeOut())
    assert flagged(with_obs(view, dispatch=Call.BLOCKED, handle_timeout=0)) == {
        "handle-timeout": [
            "handle_request() with nothing to accept blocked instead of timing out",
            "handle_timeout() ran 0 times; handle_request() timed out 1 times",
        ]
    }


@each_kind
@each_profile
def test_handle_timeout_passes_one_handle_timeout_per_timeout(profile: Profile, kind: Kind) -> None:
    view = view_after(profile, kind, TimeOut())
    assert (view.obs.dispatch, view.obs.handle_timeout) == (Call.RETURNED, 1)
    assert_keeps_all(view)
    view = view_after(profile, kind, TimeOut(), Connect(), TimeOut(), Release(0), Close())
    assert view.obs.handle_timeout == 2
    assert_keeps_all(view)


# --- timeout-reaps ----------------------------------------------------------------------------


@each_profile
def test_timeout_reaps_flags_a_zombie_left_by_handle_timeout(profile: Profile) -> None:
    view = view_after(profile, F, Connect(), Connect(), Release(0), Release(1), TimeOut())
    assert [o.child for o in view.obs.workers] == [Child.REAPED, Child.REAPED]
    assert flagged(with_worker(view, 1, child=Child.ZOMBIE)) == {
        "timeout-reaps": ["w1's child is still a zombie after handle_timeout()"]
    }
    # no-zombie-after-blocking-close leaves the TimeOut step to timeout-reaps
    assert BY_NAME["no-zombie-after-blocking-close"].check(with_worker(view, 1, child=Child.ZOMBIE)) == []


@each_profile
def test_timeout_reaps_flags_every_zombie_left(profile: Profile) -> None:
    view = view_after(profile, F, Connect(), Connect(), Connect(), Release(2), Release(0), TimeOut())
    assert [o.child for o in view.obs.workers] == [Child.REAPED, Child.RUNNING, Child.REAPED]
    bad = with_worker(with_worker(view, 0, child=Child.ZOMBIE), 2, child=Child.ZOMBIE)
    assert flagged(bad) == {
        "timeout-reaps": [
            "w0's child is still a zombie after handle_timeout()",
            "w2's child is still a zombie after handle_timeout()",
        ]
    }


@each_profile
def test_timeout_reaps_passes_a_child_still_running_at_the_timeout(profile: Profile) -> None:
    view = view_after(profile, F, Connect(), Connect(rejected=True), TimeOut())
    assert [o.child for o in view.obs.workers] == [Child.RUNNING, None]
    assert_keeps_all(view)
    # it exits after the timeout: a zombie until the next timeout or close, as modelled
    view = view_after(profile, F, Connect(), Connect(rejected=True), TimeOut(), Release(0))
    assert view.obs.workers[0].child is Child.ZOMBIE
    assert_keeps_all(view)


def test_timeout_reaps_passes_a_child_reaped_before_the_timeout_under_documented() -> None:
    view = view_after(DOCUMENTED, F, Connect(), Release(0))
    assert_keeps_all(with_worker(view, 0, child=Child.REAPED))  # documented may reap sooner
    assert_keeps_all(view_after(DOCUMENTED, F, Connect(), Release(0), TimeOut()))


@each_profile
def test_timeout_reaps_passes_a_thread_server_timeout(profile: Profile) -> None:
    assert_keeps_all(view_after(profile, T, Connect(), Release(0), TimeOut()))


# --- finished-not-retained --------------------------------------------------------------------


def let_go(profile: Profile) -> str:
    return f"finished thread is still referenced where {profile.name} has the server let go of it"


@each_profile
def test_finished_not_retained_flags_a_thread_kept_past_the_next_spawn(profile: Profile) -> None:
    view = view_after(profile, T, Connect(), Release(0), Connect())
    assert flagged(with_worker(view, 0, retained=True)) == {
        "finished-not-retained": [f"w0's {let_go(profile)}"]
    }


@each_profile
def test_finished_not_retained_flags_a_thread_kept_past_the_close(profile: Profile) -> None:
    view = view_after(profile, T, Connect(), Release(0), Close())
    assert view.obs.close is Call.RETURNED
    assert flagged(with_worker(view, 0, retained=True)) == {
        "finished-not-retained": [f"w0's {let_go(profile)}"]
    }


def test_finished_not_retained_allows_a_thread_kept_while_the_close_waits() -> None:
    # no profile asks a close to let go before it returns: as built, _Threads.join() holds
    # the list it popped until then (documented used to ask it as the close starts, and
    # so flagged 3.8.9+, which keeps the guarantee as stated)
    events = (Connect(), Connect(), Release(0), Close())
    for profile in (DOCUMENTED, CPYTHON_38):
        view = with_worker(view_after(profile, T, *events), 0, retained=True)
        assert view.obs.close is Call.BLOCKED
        assert_keeps_all(view)


def test_finished_not_retained_flags_a_thread_kept_after_a_cpython_close_returned() -> None:
    # w1 ends during the close: cpython-3.8 drops the popped list as close returns
    events = (Connect(), Connect(), Release(0), Close(), Release(1))
    view = view_after(CPYTHON_38, T, *events)
    assert view.obs.close is Call.RETURNED
    assert flagged(with_worker(with_worker(view, 0, retained=True), 1, retained=True)) == {
        "finished-not-retained": [f"w0's {let_go(CPYTHON_38)}", f"w1's {let_go(CPYTHON_38)}"]
    }


@each_profile
def test_finished_not_retained_flags_a_retained_daemon_thread(profile: Profile) -> None:
    # no profile keeps a daemon thread: ThreadingMixIn never appends one to _threads
    view = view_after(profile, T, SetAttr("daemon_threads", True), Connect(), Release(0))
    assert flagged(with_worker(view, 0, retained=True)) == {
        "finished-not-retained": [f"w0's {let_go(profile)}"]
    }


def test_finished_not_retained_flags_a_thread_cpython_kept_in_no_list() -> None:
    # block_on_close false at the spawn: cpython-3.8 has no _threads list to keep w0 in
    events = (SetAttr("block_on_close", False), Connect(), Release(0))
    view = with_worker(view_after(CPYTHON_38, T, *events), 0, retained=True)
    assert flagged(view) == {"finished-not-retained": [f"w0's {let_go(CPYTHON_38)}"]}
    # documented: close may yet have to join a non-daemon thread
    assert_keeps_all(with_worker(view_after(DOCUMENTED, T, *events), 0, retained=True))


@each_profile
def test_finished_not_retained_passes_a_thread_kept_until_the_next_spawn(profile: Profile) -> None:
    for events in (
        (Connect(), Release(0)),
        (Connect(), Release(0), Connect(rejected=True)),  # no spawn: process_request() never ran
        (Connect(), Release(0), TimeOut()),
        (Connect(), Release(0), SetAttr("block_on_close", False)),
    ):
        view = view_after(profile, T, *events)
        assert view.after.workers[0].may_be_retained
        assert_keeps_all(with_worker(view, 0, retained=True))


@each_profile
def test_finished_not_retained_flags_a_thread_that_ended_during_a_close_still_held_after_it(
    profile: Profile,
) -> None:
    view = view_after(profile, T, Connect(), Connect(), Release(0), Close(), Release(1))
    assert view.obs.close is Call.RETURNED
    assert not view.after.workers[1].may_be_retained  # let go of when the close returned
    assert flagged(with_worker(view, 1, retained=True)) == {
        "finished-not-retained": [
            f"w1's finished thread is still referenced where {profile.name} has the server let go of it"
        ]
    }


@each_profile
def test_finished_not_retained_passes_a_held_thread_or_a_child(profile: Profile) -> None:
    # only finished threads are judged: a running thread is referenced, a child is no thread
    assert_keeps_all(with_worker(view_after(profile, T, Connect(), Connect()), 0, retained=True))
    assert_keeps_all(with_worker(view_after(profile, T, Connect(), Close()), 0, retained=True))
    view = view_after(profile, F, Connect(), Release(0), Connect())
    assert BY_NAME["finished-not-retained"].check(with_worker(view, 0, retained=True)) == []


# --- shutdown-stops-loop ----------------------------------------------------------------------


@each_kind
@each_profile
def test_shutdown_stops_loop_flags_a_shutdown_that_never_returned(profile: Profile, kind: Kind) -> None:
    view = view_after(profile, kind, Serve(), Shutdown())
    assert (view.obs.loop, view.obs.shutdown) == (Call.RETURNED, Call.RETURNED)
    assert flagged(with_obs(view, shutdown=Call.BLOCKED, loop=Call.BLOCKED)) == {
        "shutdown-stops-loop": [
            "shutdown() blocked instead of returning once the loop stopped",
            "serve_forever() blocked after shutdown() was called",
        ]
    }


@each_kind
def test_shutdown_stops_loop_flags_a_loop_that_kept_running(kind: Kind) -> None:
    view = view_after(DOCUMENTED, kind, Serve(), Shutdown())
    assert flagged(with_obs(view, loop=Call.BLOCKED)) == {
        "shutdown-stops-loop": ["serve_forever() blocked after shutdown() was called"]
    }


@each_kind
@each_profile
def test_shutdown_stops_loop_passes_both_calls_returned(profile: Profile, kind: Kind) -> None:
    assert_keeps_all(view_after(profile, kind, Connect(), Serve(), Connect(), Shutdown()))


def test_shutdown_stops_loop_passes_other_steps_whatever_the_loop_does() -> None:
    view = view_after(DOCUMENTED, T, Serve(), Connect())
    assert BY_NAME["shutdown-stops-loop"].check(with_obs(view, loop=Call.RETURNED)) == []


@each_kind
def test_shutdown_stops_loop_flags_a_shutdown_that_returned_before_the_loop_stopped(kind: Kind) -> None:
    view = view_after(DOCUMENTED, kind, Serve(), Shutdown())
    returned = view.obs.shutdown_return_seq
    assert returned is not None and view.obs.loop_stopped_seq == returned - 1
    for stopped in (returned + 1, None):  # later, or never since this loop started
        assert flagged(with_obs(view, loop_stopped_seq=stopped)) == {
            "shutdown-stops-loop": ["shutdown() returned before serve_forever() had stopped"]
        }


@each_profile
def test_shutdown_stops_loop_at_the_cap_flags_a_shutdown_not_waiting_for_a_child(profile: Profile) -> None:
    view = view_after(profile, F, SetAttr("max_children", 1), Connect(), Serve(), Shutdown())
    assert (view.obs.shutdown, view.obs.loop) == (Call.BLOCKED, Call.BLOCKED)
    assert_keeps_all(view)
    assert flagged(with_obs(view, shutdown=Call.RETURNED)) == {
        "shutdown-stops-loop": ["shutdown() returned though serve_forever() had not stopped"]
    }


@each_profile
def test_shutdown_stops_loop_at_the_cap_flags_a_loop_that_goes_on_below_it(profile: Profile) -> None:
    view = view_after(profile, F, SetAttr("max_children", 1), Connect(), Serve(), Shutdown(), Release(0))
    assert (view.obs.shutdown, view.obs.loop) == (Call.RETURNED, Call.RETURNED)
    assert_keeps_all(view)
    assert flagged(with_obs(view, shutdown=Call.BLOCKED, loop=Call.BLOCKED)) == {
        "shutdown-stops-loop": [
            "shutdown() blocked instead of returning once the loop stopped",
            "serve_forever() blocked after shutdown() was called",
        ]
    }
    assert flagged(with_obs(view, loop_stopped_seq=None)) == {
        "shutdown-stops-loop": ["shutdown() returned before serve_forever() had stopped"]
    }


@each_kind
@each_profile
def test_shutdown_stops_loop_misuse_flags_a_loopless_shutdown_returning(profile: Profile, kind: Kind) -> None:
    view = view_after(profile, kind, Shutdown())
    assert view.obs.shutdown is Call.BLOCKED
    assert_keeps_all(view)
    assert flagged(with_obs(view, shutdown=Call.RETURNED)) == {
        "shutdown-stops-loop": ["shutdown() returned though serve_forever() had not stopped"]
    }
    served = view_after(profile, kind, Shutdown(), Serve())  # the next loop answers it at once
    assert (served.obs.shutdown, served.obs.loop) == (Call.RETURNED, Call.RETURNED)
    assert_keeps_all(served)
    assert flagged(with_obs(served, loop=Call.BLOCKED, shutdown=Call.BLOCKED)) == {
        "shutdown-stops-loop": [
            "shutdown() blocked instead of returning once the loop stopped",
            "serve_forever() blocked after shutdown() was called",
        ]
    }


@each_kind
@each_profile
def test_shutdown_stops_loop_misuse_flags_a_loop_ignoring_a_stale_flag(profile: Profile, kind: Kind) -> None:
    view = view_after(profile, kind, Serve(), Shutdown(), Shutdown())
    assert view.obs.shutdown is Call.RETURNED  # the event is still set: it returns at once
    assert_keeps_all(view)
    assert flagged(with_obs(view, shutdown=Call.BLOCKED)) == {
        "shutdown-stops-loop": ["shutdown() blocked instead of returning once the loop stopped"]
    }
    stale = view_after(profile, kind, Serve(), Shutdown(), Shutdown(), Serve())
    assert stale.obs.loop is Call.RETURNED
    assert_keeps_all(stale)
    assert flagged(with_obs(stale, loop=Call.BLOCKED)) == {
        "shutdown-stops-loop": ["serve_forever() blocked after shutdown() was called"]
    }


# --- nothing-accepted-after-shutdown ----------------------------------------------------------

NO_POLL = Serve(Timeout.NONE)


@each_kind
@each_profile
def test_nothing_accepted_after_shutdown_flags_the_connection_that_woke_the_loop(
    profile: Profile, kind: Kind
) -> None:
    view = view_after(profile, kind, NO_POLL, Shutdown(), Connect())
    assert view.after.worker(0).queued
    assert (view.obs.shutdown, view.obs.loop) == (Call.RETURNED, Call.RETURNED)
    assert_keeps_all(view)
    # bpo-35017 unfixed: the loop took it, then looked at the flag
    assert flagged(with_worker(view, 0, entered=1)) == {
        "nothing-accepted-after-shutdown": [
            "w0 was accepted after shutdown() was called (its handler ran 1 times)"
        ]
    }
    view = view_after(profile, kind, NO_POLL, Shutdown(), Connect(rejected=True))
    taken = with_worker(view, 0, shutdown_request=Where(server=1), close_request=Where(server=1))
    assert flagged(taken) == {
        "nothing-accepted-after-shutdown": [
            "w0 was accepted after shutdown() was called (the server shut it down)"
        ]
    }


@each_profile
def test_nothing_accepted_after_shutdown_flags_a_connection_a_loop_stopped_at_the_cap_took(
    profile: Profile,
) -> None:
    view = view_after(
        profile, F, SetAttr("max_children", 1), Connect(), Serve(), Connect(), Shutdown(), Release(0)
    )
    assert view.after.worker(1).queued and not view.after.server.loop
    assert_keeps_all(view)
    assert flagged(with_worker(view, 1, entered=1)) == {
        "nothing-accepted-after-shutdown": [
            "w1 was accepted after shutdown() was called (its handler ran 1 times)"
        ]
    }


@each_kind
@each_profile
def test_nothing_accepted_after_shutdown_passes_the_next_loop_taking_the_backlog(
    profile: Profile, kind: Kind
) -> None:
    assert_keeps_all(view_after(profile, kind, NO_POLL, Shutdown(), Connect(), Serve()))
    assert_keeps_all(view_after(profile, kind, NO_POLL, Connect(), Shutdown(), Connect(), NO_POLL))


# --- loop-runs-until-shutdown -----------------------------------------------------------------


@each_kind
@each_profile
def test_loop_runs_until_shutdown_flags_a_loop_that_ended_on_its_own(profile: Profile, kind: Kind) -> None:
    for events in ([Serve()], [Serve(), Connect()], [Serve(), Shutdown(), Serve()]):
        view = view_after(profile, kind, *events)
        assert view.obs.loop is Call.BLOCKED
        assert flagged(with_obs(view, loop=Call.RETURNED)) == {
            "loop-runs-until-shutdown": ["serve_forever() returned though shutdown() was not called"]
        }
    raised = with_obs(view, loop=Call.RAISED, loop_error="ValueError: no")
    assert flagged(raised) == {
        "loop-runs-until-shutdown": [
            "serve_forever() raised (ValueError: no) though shutdown() was not called"
        ]
    }


@each_kind
def test_loop_runs_until_shutdown_passes_a_loop_that_shutdown_stopped(kind: Kind) -> None:
    view = view_after(DOCUMENTED, kind, Serve(), Connect(), Shutdown())
    assert view.obs.loop is Call.RETURNED
    assert_keeps_all(view)


# --- loop-reaps -------------------------------------------------------------------------------


@each_profile
def test_loop_reaps_flags_a_zombie_after_a_whole_turn(profile: Profile) -> None:
    for events in ([Serve(), Connect(), Release(0)], [Connect(), Release(0), Serve()]):
        view = view_after(profile, F, *events)
        assert view.obs.workers[0].child is Child.REAPED
        assert flagged(with_worker(view, 0, child=Child.ZOMBIE, exit_status=0)) == {
            "loop-reaps": ["w0's child is still a zombie after a whole turn of serve_forever()"]
        }


@each_profile
def test_loop_reaps_passes_a_zombie_while_the_loop_waits_at_max_children(profile: Profile) -> None:
    view = view_after(profile, F, Connect(), Release(0), Connect(), SetAttr("max_children", 1), Serve())
    assert view.after.server.capped is Capped.LOOP
    assert_keeps_all(with_worker(view, 0, child=Child.ZOMBIE, exit_status=0))
    assert_keeps_all(with_worker(view, 0, child=Child.REAPED))


@each_profile
def test_loop_reaps_flags_a_zombie_after_a_loop_without_poll_took_a_connection(profile: Profile) -> None:
    view = view_after(profile, F, Connect(), Release(0), NO_POLL, Connect())
    assert view.obs.workers[0].child is Child.REAPED
    assert flagged(with_worker(view, 0, child=Child.ZOMBIE, exit_status=0)) == {
        "loop-reaps": ["w0's child is still a zombie after a whole turn of serve_forever()"]
    }


def test_loop_reaps_passes_a_zombie_while_a_loop_without_poll_sleeps_and_as_built_flags_its_reaping() -> None:
    for events in ([Connect(), Release(0), NO_POLL], [NO_POLL, Connect(), Release(0)]):
        for profile in (DOCUMENTED, CPYTHON_38):
            view = view_after(profile, F, *events)
            assert view.obs.workers[0].child is Child.ZOMBIE
            assert_keeps_all(view)
        # documented allows reaping sooner; cpython-3.8's select() does not wake for the exit
        assert_keeps_all(with_worker(view_after(DOCUMENTED, F, *events), 0, child=Child.REAPED))
        reaped = with_worker(view_after(CPYTHON_38, F, *events), 0, child=Child.REAPED, exit_status=None)
        assert flagged(reaped) == {
            "reaped-as-modelled": ["w0's child was reaped where cpython-3.8 reaps nothing"]
        }


# --- handle-error-prints ----------------------------------------------------------------------


@each_kind
def test_handle_error_prints_flags_a_handle_error_that_printed_no_traceback(kind: Kind) -> None:
    view = view_after(DOCUMENTED, kind, Connect(), Release(0, Outcome.RAISE))
    assert flagged(with_worker(view, 0, quiet_errors=1)) == {
        "handle-error-prints": ["w0: handle_error ran without printing a traceback (1 times)"]
    }


@each_kind
def test_handle_error_prints_flags_a_banner_on_stdout_but_not_where_2_7_prints_it(kind: Kind) -> None:
    events = (Connect(), Release(0, Outcome.RAISE))
    loud = with_worker(view_after(DOCUMENTED, kind, *events), 0, stdout_errors=1)
    assert flagged(loud) == {"handle-error-prints": ["w0: handle_error wrote to standard output (1 times)"]}
    assert_keeps_all(with_worker(view_after(PROFILES["cpython-2.7"], kind, *events), 0, stdout_errors=1))


@each_kind
def test_handle_error_prints_passes_a_raise_and_a_failed_start(kind: Kind) -> None:
    assert_keeps_all(view_after(DOCUMENTED, kind, Connect(), Release(0, Outcome.RAISE)))
    assert_keeps_all(view_after(DOCUMENTED, kind, Connect(fails=True)))


# --- max-children -----------------------------------------------------------------------------


def waiting_loop(profile: Profile, *events: Event) -> StepView:
    """The ideal view of the last of `events`, once serve_forever() waits at max_children=1."""
    return view_after(profile, F, SetAttr("max_children", 1), Connect(), Serve(), *events)


@each_profile
def test_max_children_flags_a_connection_handled_while_the_loop_waits_at_the_cap(profile: Profile) -> None:
    view = waiting_loop(profile, Connect())
    assert view.after.worker(1).queued
    assert view.obs.workers[1] == WorkerObs(wid=1, alive=False, client_eof=False)
    assert_keeps_all(view)  # no worker yet: only max-children judges it
    assert flagged(with_worker(view, 1, entered=1)) == {
        "max-children": ["w1 was accepted and handled while 1 children ran at max_children=1"]
    }
    # on any later step while it still waits
    view = waiting_loop(profile, Connect(), Connect(rejected=True), SetAttr("block_on_close", False))
    assert flagged(with_worker(view, 2, entered=1)) == {
        "max-children": ["w2 was accepted and handled while 1 children ran at max_children=1"]
    }


@each_profile
def test_max_children_flags_a_waiting_connection_not_taken_once_below_the_cap(profile: Profile) -> None:
    view = waiting_loop(profile, Connect(), Release(0))
    assert view.before.worker(1).queued and view.after.worker(1).held
    assert view.obs.workers[1].entered == 1
    assert flagged(with_worker(view, 1, entered=0)) == {
        "max-children": ["w1 still waits, though serve_forever() is below max_children again"]
    }


@each_profile
def test_max_children_flags_a_handle_request_that_did_not_wait_at_the_cap(profile: Profile) -> None:
    at_cap = (SetAttr("max_children", 2), Connect(), Connect(), Connect())
    for events in (
        (*at_cap, TimeOut()),
        (*at_cap, TimeOut(), SetAttr("max_children", 3)),  # read again only once a child exits
        (*at_cap, TimeOut(), Release(0)),  # two still run at a cap of two
    ):
        view = view_after(profile, F, *events)
        assert view.after.server.capped is Capped.TIMEOUT
        assert view.obs.dispatch is Call.BLOCKED
        cap = view.after.server.max_children
        for call in (Call.RETURNED, Call.RAISED, Call.NONE):
            # handle-timeout leaves a handle_request() waiting at the cap to max-children
            assert flagged(with_obs(view, dispatch=call)) == {
                "max-children": [
                    f"handle_request() {call.value} while {len(view.after.held)} children ran at "
                    f"max_children={cap}, instead of waiting"
                ]
            }


@each_profile
def test_max_children_flags_a_handle_request_still_blocked_once_below_the_cap(profile: Profile) -> None:
    view = view_after(profile, F, SetAttr("max_children", 2), Connect(), Connect(), TimeOut(), Release(1))
    assert (view.before.server.capped, view.after.server.capped) == (Capped.TIMEOUT, None)
    assert view.obs.dispatch is Call.RETURNED
    assert flagged(with_obs(view, dispatch=Call.BLOCKED)) == {
        "max-children": ["handle_request() blocked, though a child exited below max_children"]
    }


def test_max_children_flags_a_close_that_returned_at_the_cap_as_built() -> None:
    # block_on_close false: close-waits has nothing to wait for; only the cap loop blocks it
    events = (SetAttr("block_on_close", False), SetAttr("max_children", 2), Connect(), Connect(), Close())
    view = view_after(CPYTHON_38, F, *events)
    assert view.after.server.capped is Capped.CLOSE
    assert view.obs.close is Call.BLOCKED
    returned = with_obs(view, close=Call.RETURNED, close_return_seq=0)
    assert flagged(returned) == {
        "max-children": [
            "server_close() returned while 2 children ran at max_children=2 (cpython-3.8 waits there)"
        ]
    }
    # documented: a non-blocking close ignores the cap
    assert_keeps_all(
        attrs.evolve(returned, profile=DOCUMENTED, after=view_after(DOCUMENTED, F, *events).after)
    )


@each_profile
def test_max_children_passes_a_loop_that_waits_at_the_cap_and_takes_the_backlog_below_it(
    profile: Profile,
) -> None:
    events = (
        SetAttr("max_children", 1),
        Connect(),
        Serve(),
        Connect(),
        Connect(rejected=True),
        Connect(),
        Release(0),  # takes w1: at the cap again
        Release(1),  # takes w2 (rejected: no child) and w3
        Release(3),
    )
    for end in range(1, len(events) + 1):
        assert_keeps_all(view_after(profile, F, *events[:end]))
    view = view_after(profile, F, *events)
    assert [o.entered for o in view.obs.workers] == [1, 1, 0, 1]


@each_profile
def test_max_children_passes_a_timeout_that_waits_at_the_cap_until_a_child_exits(profile: Profile) -> None:
    events = (
        SetAttr("max_children", 2),
        Connect(),
        Connect(),
        Connect(),
        Release(0),
        TimeOut(),
        SetAttr("max_children", 1),
        Release(1),
        Release(2),
    )
    dispatch = []
    for end in range(1, len(events) + 1):
        view = view_after(profile, F, *events[:end])
        assert_keeps_all(view)
        dispatch.append(view.obs.dispatch)
    assert dispatch[-4:] == [Call.BLOCKED, Call.BLOCKED, Call.BLOCKED, Call.RETURNED]
    assert view.obs.handle_timeout == 1


@each_profile
def test_max_children_passes_a_close_at_the_cap_that_waits_only_as_built(profile: Profile) -> None:
    events = (SetAttr("block_on_close", False), SetAttr("max_children", 2), Connect(), Connect(), Close())
    view = view_after(profile, F, *events)
    assert view.obs.close is (Call.BLOCKED if profile.cap_blocks_close else Call.RETURNED)
    assert_keeps_all(view)
    view = view_after(profile, F, *events, Release(0))  # below the cap: every profile has returned
    assert view.obs.close is Call.RETURNED
    assert_keeps_all(view)


@each_profile
def test_max_children_passes_a_thread_server_whatever_max_children(profile: Profile) -> None:
    view = view_after(profile, T, SetAttr("max_children", 1), Connect(), Serve(), Connect(), Connect())
    assert [o.entered for o in view.obs.workers] == [1, 1, 1]
    assert_keeps_all(view)
    assert_keeps_all(view_after(profile, T, SetAttr("max_children", 1), Connect(), Connect(), TimeOut()))


# the checks that now leave a waiting connection or call to max-children


@each_profile
def test_handler_runs_passes_a_connection_waiting_in_the_backlog(profile: Profile) -> None:
    view = waiting_loop(profile, Connect())
    assert view.obs.workers[1].entered == 0
    assert BY_NAME["handler-runs"].check(view) == []


@each_profile
def test_handle_timeout_passes_a_handle_request_blocked_at_the_cap_but_still_counts_it(
    profile: Profile,
) -> None:
    view = view_after(profile, F, SetAttr("max_children", 1), Connect(), TimeOut())
    assert view.obs.dispatch is Call.BLOCKED
    assert BY_NAME["handle-timeout"].check(view) == []
    # handle_timeout() was called (it waits inside it): it still counts
    assert flagged(with_obs(view, handle_timeout=0)) == {
        "handle-timeout": ["handle_timeout() ran 0 times; handle_request() timed out 1 times"]
    }


@each_profile
def test_close_waits_passes_a_non_blocking_close_that_waits_only_at_the_cap(profile: Profile) -> None:
    events = (SetAttr("block_on_close", False), SetAttr("max_children", 1), Connect(), Close())
    view = with_obs(view_after(profile, F, *events), close=Call.RETURNED, close_return_seq=0)
    assert BY_NAME["close-waits"].check(view) == []  # nothing awaited: max-children speaks for it


# --- child-exit-status ------------------------------------------------------------------------


@each_profile
@pytest.mark.parametrize("outcome", list(Outcome), ids=lambda o: o.value)
def test_child_exit_status_flags_the_wrong_status(profile: Profile, outcome: Outcome) -> None:
    view = view_after(profile, F, Connect(), Release(0, outcome))
    expected = 0 if outcome is Outcome.RETURN else 1
    assert view.obs.workers[0].exit_status == expected
    wrong = 1 - expected
    how = f"released to {outcome.value}"
    assert flagged(with_worker(view, 0, exit_status=wrong)) == {
        "child-exit-status": [f"w0's child ({how}) exited with status {wrong}, not {expected}"]
    }
    assert flagged(with_worker(view, 0, exit_status=-9)) == {
        "child-exit-status": [f"w0's child ({how}) exited with status -9, not {expected}"]
    }


@each_profile
def test_child_exit_status_passes_an_unknown_status_and_thread_servers(profile: Profile) -> None:
    # reaped before anyone looked: the status is gone, and nothing is judged
    view = view_after(profile, F, Connect(), Release(0, Outcome.RAISE))
    assert_keeps_all(with_worker(view, 0, exit_status=None))
    assert_keeps_all(view_after(profile, T, Connect(), Release(0, Outcome.EXIT)))


# --- no-descriptor-leak -----------------------------------------------------------------------


@each_kind
@each_profile
def test_no_descriptor_leak_flags_a_socket_too_many_or_too_few(profile: Profile, kind: Kind) -> None:
    view = view_after(profile, kind, Connect(), Connect(), Release(0))
    expected = 2 if kind is T else 1  # the listener, and w1's connection in a thread server
    assert view.obs.server_sockets == expected
    assert flagged(with_obs(view, server_sockets=expected + 1)) == {
        "no-descriptor-leak": [f"the server process holds {expected + 1} sockets; it should hold {expected}"]
    }
    closed = view_after(profile, kind, SetAttr("block_on_close", False), Connect(), Close())
    held = 1 if kind is T else 0
    assert flagged(with_obs(closed, server_sockets=held + 1)) == {
        "no-descriptor-leak": [f"the server process holds {held + 1} sockets; it should hold {held}"]
    }


@each_kind
@DATAGRAMS
def test_no_descriptor_leak_passes_a_datagram_server_holding_only_its_socket(
    kind: Kind, transport: Transport
) -> None:
    view = view_after(DOCUMENTED, kind, Connect(), Connect(), transport=transport)
    assert view.obs.server_sockets == 1  # a datagram request is the server socket itself
    assert_keeps_all(view)
    assert_keeps_all(with_obs(view, server_sockets=None))  # not measurable: not judged


# --- a worker that fails to start --------------------------------------------------------------


@each_kind
@each_profile
def test_rejected_request_closed_passes_a_request_whose_worker_failed_to_start(
    profile: Profile, kind: Kind
) -> None:
    view = view_after(profile, kind, Connect(fails=True))
    record = view.obs.workers[0]
    assert (record.entered, record.handle_error, record.close_request) == (
        0,
        Where(server=1),
        Where(server=1),
    )
    assert_keeps_all(view)
    assert flagged(with_worker(view, 0, shutdown_request=Where())) == {
        "rejected-request-closed": [
            "w0 (its worker failed to start): shutdown_request ran 0 times in the worker and 0 in the server"
        ]
    }


@each_kind
def test_handle_error_once_flags_a_failed_start_not_reported_by_the_server(kind: Kind) -> None:
    view = view_after(DOCUMENTED, kind, Connect(fails=True))
    assert flagged(with_worker(view, 0, handle_error=Where())) == {
        "handle-error-once": [
            "w0 (its worker failed to start): handle_error ran 0 times in the worker and 0 in the "
            "server; expected 0 and 1"
        ]
    }


def test_close_raises_nothing_flags_documented_closing_after_a_failed_thread_start() -> None:
    view = view_after(DOCUMENTED, T, Connect(fails=True), Close())
    assert view.obs.close is Call.RETURNED
    assert flagged(with_obs(view, close=Call.RAISED, close_error="RuntimeError: no")) == {
        "close-raises-nothing": ["server_close() raised RuntimeError: no"]
    }


def test_close_raises_nothing_flags_an_as_built_close_that_did_not_raise() -> None:
    # 3.7+: the thread that never started is still in _threads, and joining it raises
    view = view_after(CPYTHON_38, T, Connect(fails=True), Close())
    assert view.after.server.close_raises and view.obs.close is Call.RAISED
    assert_keeps_all(view)
    assert flagged(with_obs(view, close=Call.RETURNED)) == {
        "close-raises-nothing": [
            "server_close() returned, where cpython-3.8 raises "
            "(it reaches a thread that never started, or the calling one)"
        ]
    }


@each_profile
def test_close_raises_nothing_passes_a_close_after_a_later_spawn_pruned_the_unstarted_thread(
    profile: Profile,
) -> None:
    view = view_after(profile, T, Connect(fails=True), Connect(), Release(1), Close())
    assert not view.after.server.close_raises
    assert view.obs.close is Call.RETURNED
    assert_keeps_all(view)
