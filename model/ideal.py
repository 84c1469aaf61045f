"""What a server that keeps every guarantee shows after a step: the model's own observation.

The explorer (model.explore) checks every guarantee on every reachable step against it, and
the model's tests use it: a guarantee that flags the ideal observation contradicts the table.
A real server's timings are not the model's business, so the event-log positions here are
placeholders in the right order: every release before a close returns, a loop's stop before
the shutdown() that waited for it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator

import attrs

from model.guarantees import StepView, check
from model.observation import Call, Child, Observation, Probe, Where, WorkerObs
from model.profiles import Profile
from model.state import Capped, Kind, Outcome, Phase, Reaped, State, Worker
from model.table import Connect, Event, Release, Serve, Shutdown, TimeOut, listener_held, server_sockets, step

CLOSE_RETURN_SEQ = 1000  # the event-log position of close's return: after every release
LOOP_STOPPED_SEQ = 500  # a stopped loop's report; the shutdown() it answers returns just after


def ideal_view(profile: Profile, before: State, event: Event) -> StepView:
    """Step the model, and pair the step with what a perfect server would show after it."""
    after = step(profile, before, event)
    return StepView(profile, before, event, after, ideal_obs(profile, before, event, after))


def ideal_obs(profile: Profile, before: State, event: Event, after: State) -> Observation:
    stream = after.server.transport.stream
    workers = [_ideal_worker_obs(profile, w, stream) for w in after.workers]
    phase = after.server.phase
    close = {Phase.OPEN: Call.NONE, Phase.CLOSING: Call.BLOCKED, Phase.CLOSED: Call.RETURNED}[phase]
    probe = None
    if isinstance(event, Connect) and before.server.phase is Phase.CLOSED:
        probe = Probe.ACCEPTED if listener_held(profile, after) else Probe.REFUSED
    # handle_request() ran: it accepted (or rejected) a connection, or it timed out; under a
    # running serve_forever() the loop dispatched the connection instead
    dispatched = isinstance(event, Connect | TimeOut) and before.server.phase is Phase.OPEN
    dispatched = dispatched and not before.server.loop
    dispatch = Call.RETURNED if dispatched else Call.NONE
    if _dispatch_capped(after) or after.server.listening:  # at max_children, or
        dispatch = Call.BLOCKED  # waiting for a connection
    elif _dispatch_capped(before):  # a child exited below the cap: it returned
        dispatch = Call.RETURNED
    dispatch_error = None
    if after.server.kind is Kind.SYNC and not after.server.loop:
        if after.busy:  # handle_request() runs the held handler itself
            dispatch = Call.BLOCKED
        elif isinstance(event, Release) and before.worker(event.wid).held:  # it returns with it
            dispatch = Call.RETURNED
            if event.outcome is Outcome.EXIT and not profile.systemexit_reaches_handle_error:
                dispatch, dispatch_error = Call.RAISED, "SystemExit: 3"
    # a shutdown() returns at this step; a serve_forever() stops at this step
    called = isinstance(event, Shutdown) or before.server.shutdown_waits
    answered = called and not after.server.shutdown_waits
    stopped = (before.server.loop or isinstance(event, Serve)) and not after.server.loop
    ended = Call.RAISED if after.server.loop_raised else Call.RETURNED  # 2.7: died on the closed socket
    loop = Call.BLOCKED if after.server.loop else (ended if stopped else Call.NONE)
    shutdown = Call.BLOCKED if after.server.shutdown_waits else Call.RETURNED if answered else Call.NONE
    if after.server.close_raises and phase is Phase.CLOSED:  # as built: a ghost or the calling thread
        close = Call.RAISED
    return Observation(
        workers=tuple(workers),
        close=close,
        # as built, joining a thread that never started, or the calling one
        close_error="RuntimeError: cannot join thread" if close is Call.RAISED else None,
        close_return_seq=CLOSE_RETURN_SEQ if phase is Phase.CLOSED else None,
        dispatch=dispatch,
        dispatch_error=dispatch_error,
        probe=probe,
        handle_timeout=after.server.timeouts,
        loop=loop,
        shutdown=shutdown,
        # the loop reports that it stopped, and then shutdown() returns
        loop_stopped_seq=LOOP_STOPPED_SEQ if stopped else None,
        shutdown_return_seq=LOOP_STOPPED_SEQ + 1 if answered else None,
        server_sockets=server_sockets(after),
    )


def _dispatch_capped(state: State) -> bool:
    """handle_request() waits at max_children: in handle_timeout(), or (2.7) before its fork."""
    capped = state.server.capped
    return capped is Capped.TIMEOUT or (capped is Capped.FORK and not state.server.loop)


def _ideal_worker_obs(profile: Profile, w: Worker, stream: bool) -> WorkerObs:
    if w.queued:  # still in the backlog: nothing accepted it, verify_request() has not run yet
        return WorkerObs(
            wid=w.wid,
            alive=False,  # no thread or child yet
            child=None,
            entered=0,
            exited=0,
            client_eof=None if w.hung_up or not stream else False,  # connected, and nobody closed it
        )
    if not w.spawned:  # rejected, or its worker failed to start: the server shut it down
        return WorkerObs(
            wid=w.wid,
            alive=False,
            entered=0,
            exited=0,
            handle_error=Where(server=1) if w.failed else Where(),
            stdout_errors=1 if w.failed and profile.error_banner_on_stdout else 0,
            shutdown_request=Where(server=1),
            close_request=Where(server=1),
            client_eof=True if stream else None,
        )
    if w.kind is Kind.FORK:
        child = Child.RUNNING if w.held else Child.REAPED if w.reaped is Reaped.YES else Child.ZOMBIE
    else:
        child = None
    done = 0 if w.held else 1
    return WorkerObs(
        wid=w.wid,
        alive=w.held,
        daemon=w.daemon if w.kind is Kind.THREAD else None,
        child=child,
        entered=1,
        exited=done,
        handle_error=Where(worker=1) if _reaches_handle_error(profile, w) else Where(),
        stdout_errors=1 if _reaches_handle_error(profile, w) and profile.error_banner_on_stdout else 0,
        shutdown_request=Where(worker=done),
        close_request=Where(worker=done, server=1 if w.kind is Kind.FORK else 0),
        closed_before_exit=False,
        client_eof=None if w.hung_up or not stream else not w.held,
        released_seq=None if w.held else w.wid,
        ended_seq=None if w.held else w.wid,
        # as late as the profile lets it: a thread the server may still hold is held
        retained=w.may_be_retained,
        exit_status=(0 if w.outcome is Outcome.RETURN else 1) if child is Child.ZOMBIE else None,
    )


def _reaches_handle_error(profile: Profile, w: Worker) -> bool:
    """An Exception does; a SystemExit too where the profile's except clause is bare (2.7)."""
    bare = profile.systemexit_reaches_handle_error
    return w.outcome is Outcome.RAISE or (w.outcome is Outcome.EXIT and bare)


# --- where a guarantee can fail -------------------------------------------------------------
#
# A guarantee "case" is a guarantee on a transition where some observation would break it:
# the ideal observation changed in one fact (a call's state, a flag, a count one more, a
# child's state) and checked again. A guarantee no such change can break there is not
# exercised by taking that transition, whatever the target does.


def at_stake(profile: Profile, before: State, event: Event, after: State) -> frozenset[str]:
    """The guarantees one changed fact of the ideal observation breaks on this transition."""
    ideal = ideal_obs(profile, before, event, after)
    broken: set[str] = set()
    for obs in _one_fact_changed(ideal):
        broken |= {v.guarantee.name for v in check(StepView(profile, before, event, after, obs))}
    return frozenset(broken)


def _one_fact_changed(obs: Observation) -> Iterator[Observation]:
    for name, value in _facts(obs):
        for other in _others(value):
            yield attrs.evolve(obs, **{name: other})
    for i, worker in enumerate(obs.workers):
        for name, value in _facts(worker):
            for other in _others(value):
                workers = list(obs.workers)
                workers[i] = attrs.evolve(worker, **{name: other})
                yield attrs.evolve(obs, workers=tuple(workers))


def _facts(value: Observation | WorkerObs) -> Iterator[tuple[str, object]]:
    for field in attrs.fields(type(value)):
        if field.name not in ("workers", "wid") and not field.name.endswith(("_seq", "_error")):
            yield field.name, getattr(value, field.name)


def _others(value: object) -> Iterator[object]:
    if isinstance(value, bool):
        yield not value
    elif isinstance(value, int):
        yield value + 1
    elif isinstance(value, enum.Enum):
        yield from (member for member in type(value) if member is not value)
    elif isinstance(value, Where):
        yield from (Where(value.worker + 1, value.server), Where(value.worker, value.server + 1))
