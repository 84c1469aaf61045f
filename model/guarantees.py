"""The named guarantees: each a one-line statement, its CPython issue, and its check.

A check looks at one step: the state before, the event, the state the model moved to, and
what was observed of the real server after the step settled. It returns what it found
wrong, in words; an empty list means the step kept the guarantee.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import attrs

from model.observation import Call, Child, Observation, Probe, Where, WorkerObs
from model.profiles import Profile
from model.state import Capped, Kind, Outcome, Phase, Reaped, State, Timeout, Worker
from model.table import Connect, Event, Release, Serve, Shutdown, TimeOut, listener_held, server_sockets


@attrs.frozen
class StepView:
    """One step of a run, as the guarantees see it."""

    profile: Profile
    before: State
    event: Event
    after: State
    obs: Observation

    def pairs(self) -> Iterator[tuple[Worker, WorkerObs]]:
        """The model's workers beside what was observed of them (missing ones are skipped).

        A connection still waiting in the backlog has no worker yet: only max-children
        judges it.
        """
        by_wid = {o.wid: o for o in self.obs.workers}
        for worker in self.after.workers:
            if worker.wid in by_wid and not worker.queued:
                yield worker, by_wid[worker.wid]


Check = Callable[[StepView], list[str]]


@attrs.frozen
class Guarantee:
    name: str
    statement: str
    issue: str  # the CPython issue it comes from, or "" where there is none
    check: Check = attrs.field(repr=False)


def _names(wids: object) -> str:
    return ", ".join(f"w{w}" for w in sorted(wids)) or "none"  # type: ignore[call-overload]


# --- checks -----------------------------------------------------------------------------


def _dispatch_does_not_wait(v: StepView) -> list[str]:
    if not (isinstance(v.event, Connect) and v.before.server.phase is Phase.OPEN):
        return []
    if v.before.server.kind is Kind.SYNC:
        return []  # it handles the request itself: handled-in-call judges it
    if v.before.server.loop:
        return []  # serve_forever() dispatched it; loop-runs-until-shutdown watches the loop
    if v.after.server.capped is Capped.FORK:
        return []  # 2.7: it waits at max_children before the fork; max-children judges it
    if v.obs.dispatch is Call.RETURNED:
        return []
    if v.obs.dispatch is Call.RAISED:
        return [f"handle_request() raised {v.obs.dispatch_error}"]
    return ["handle_request() did not return once it had dispatched the request"]


def _handled_in_call(v: StepView) -> list[str]:
    """A synchronous server: handle_request() is busy while its handler is held, returns once
    it is released (or lets its SystemExit out), and nothing else is accepted meanwhile."""
    before, after, obs = v.before, v.after, v.obs
    if before.server.kind is not Kind.SYNC:
        return []
    found = []
    dispatch = obs.dispatch.value
    if obs.dispatch is Call.RAISED and obs.dispatch_error:
        dispatch = f"raised {obs.dispatch_error}"
    if isinstance(v.event, Connect) and before.server.phase is Phase.OPEN and not before.server.loop:
        worker = after.worker(len(before.workers))
        if worker.held and obs.dispatch is not Call.BLOCKED:
            found.append(f"handle_request() {dispatch} while w{worker.wid}'s handler was still held")
    if isinstance(v.event, Release) and not before.server.loop and before.worker(v.event.wid).held:
        exits = v.event.outcome is Outcome.EXIT and not v.profile.systemexit_reaches_handle_error
        expected = Call.RAISED if exits else Call.RETURNED
        raised_exit = obs.dispatch is Call.RAISED and "SystemExit" in (obs.dispatch_error or "")
        if obs.dispatch is not expected or (exits and not raised_exit):
            how = f"released to {v.event.outcome.value}"
            want = "raise that SystemExit" if exits else "return"
            wid = v.event.wid
            found.append(f"handle_request() {dispatch} once w{wid}'s handler was {how}; it must {want}")
    seen = {o.wid: o for o in obs.workers}
    busy = [w.wid for w in after.held]
    for w in after.queued:  # waiting for the loop's next turn, or for no call at all
        if w.wid in seen and _accepted(seen[w.wid]):
            why = f"while {_names(busy)} held the dispatching call" if busy else "by no call that takes one"
            found.append(f"w{w.wid} was accepted {why} ({_accepted(seen[w.wid])})")
    for w in before.queued:  # taken by the loop during this step: its handler must have run
        taken = not after.worker(w.wid).queued and w.spawned
        if taken and w.wid in seen and not seen[w.wid].entered and not w.rejected:
            found.append(f"w{w.wid} still waits, though serve_forever() turned again")
    return found


def _handler_runs(v: StepView) -> list[str]:
    if not (isinstance(v.event, Connect) and v.before.server.phase is Phase.OPEN):
        return []
    if v.event.rejected or v.event.fails:
        return []
    wid = len(v.before.workers)
    if v.after.worker(wid).queued:
        return []  # it waits in the backlog: max-children judges it
    seen = {o.wid: o for o in v.obs.workers}
    if wid not in seen or seen[wid].entered != 1:
        entered = seen[wid].entered if wid in seen else 0
        return [f"w{wid}'s handler was entered {entered} times, expected once"]
    return []


def _close_raises_nothing(v: StepView) -> list[str]:
    server = v.after.server
    if v.obs.close is Call.RAISED and not server.close_raises:
        return [f"server_close() raised {v.obs.close_error}"]
    if server.close_raises and server.phase is Phase.CLOSED and v.obs.close is not Call.RAISED:
        why = "it reaches a thread that never started, or the calling one"
        return [f"server_close() {v.obs.close.value}, where {v.profile.name} raises ({why})"]
    return []


def _close_waits(v: StepView) -> list[str]:
    found = []
    server = v.after.server
    held = [w for w in server.awaited if v.after.worker(w).held]
    if server.phase is Phase.CLOSING and held and v.obs.close is Call.RETURNED:
        found.append(f"server_close() returned while {_names(held)} it must wait for still ran")
    if isinstance(v.event, Release) and v.event.wid in v.before.server.awaited:
        seen = {o.wid: o for o in v.obs.workers}.get(v.event.wid)
        # its end: its own close_request(), else (a worker that never closes it) its release
        ended = None if seen is None else seen.released_seq if seen.ended_seq is None else seen.ended_seq
        returned = v.obs.close_return_seq
        if returned is not None and ended is not None and returned < ended:
            found.append(f"server_close() returned before w{v.event.wid}, which it awaited, ended")
    return found


def _close_returns(v: StepView) -> list[str]:
    server = v.after.server
    if server.phase is Phase.CLOSING or v.obs.close is not Call.BLOCKED:
        return []
    skipped = [w for w in v.after.held]
    why = ", ".join(f"w{w.wid}{' (daemon)' if w.daemon else ''}" for w in skipped) or "none"
    return [
        "server_close() is still blocked though it must not wait for any running worker "
        f"(block_on_close={server.block_on_close}; running: {why})"
    ]


def _no_zombie_after_blocking_close(v: StepView) -> list[str]:
    if isinstance(v.event, TimeOut) or _loop_turned(v):
        return []  # timeout-reaps, loop-reaps speak for these steps
    return [f"w{wid}'s child is a zombie though server_close() must have reaped it" for wid in _zombies(v)]


def _loop_reaps(v: StepView) -> list[str]:
    if not _loop_turned(v):
        return []
    return [f"w{wid}'s child is still a zombie after a whole turn of serve_forever()" for wid in _zombies(v)]


def _loop_turned(v: StepView) -> bool:
    """A step after which the checker waited for a whole turn of a loop that polls, or for a
    loop with no poll_interval to be back in select() (or at max_children) after a turn."""
    after = v.after.server
    if after.polls:
        return isinstance(v.event, Release | Serve)
    no_poll = after.loop and after.poll_interval is Timeout.NONE
    return no_poll and isinstance(v.event, Connect | Release | Serve)


def _timeout_reaps(v: StepView) -> list[str]:
    if not isinstance(v.event, TimeOut):
        return []
    return [f"w{wid}'s child is still a zombie after handle_timeout()" for wid in _zombies(v)]


def _zombies(v: StepView) -> list[int]:
    """The children the model has reaped by now that are observed as zombies."""
    return [
        w.wid
        for w, o in v.pairs()
        if w.kind is Kind.FORK and w.reaped is Reaped.YES and o.child is Child.ZOMBIE
    ]


def _reaped_as_modelled(v: StepView) -> list[str]:
    found = []
    for w, o in v.pairs():
        if w.kind is not Kind.FORK or o.child is not Child.REAPED:
            continue
        if w.held:
            found.append(f"w{w.wid}'s child was reaped while its handler was held")
        elif w.reaped is Reaped.NO and v.profile.exact_reaping:
            found.append(f"w{w.wid}'s child was reaped where {v.profile.name} reaps nothing")
    return found


def _daemon_at_spawn(v: StepView) -> list[str]:
    return [
        f"w{w.wid}.daemon is {o.daemon}, but daemon_threads was {w.daemon} when it was spawned"
        for w, o in v.pairs()
        if w.kind is Kind.THREAD and o.daemon is not None and o.daemon != w.daemon
    ]


def _handle_error_once(v: StepView) -> list[str]:
    found = []
    reaches = (Outcome.RAISE, Outcome.EXIT) if v.profile.systemexit_reaches_handle_error else (Outcome.RAISE,)
    for w, o in v.pairs():
        expected = Where(worker=1) if w.outcome in reaches else Where()
        if w.failed:
            expected = Where(server=1)  # _handle_request_noblock() catches process_request()'s error
        if o.handle_error != expected:
            found.append(
                f"w{w.wid} ({_how(w)}): handle_error ran {o.handle_error.worker} times in the "
                f"worker and {o.handle_error.server} in the server; expected {expected.worker} "
                f"and {expected.server}"
            )
    return found


def _request_closed_once(v: StepView) -> list[str]:
    found = []
    for w, o in v.pairs():
        if not w.spawned:
            continue  # rejected-request-closed speaks for these
        done = 0 if w.held else 1
        parent = 1 if w.kind is Kind.FORK else 0  # the forking parent closes its own copy
        if o.shutdown_request != Where(worker=done):
            found.append(f"w{w.wid} ({_how(w)}): shutdown_request {_where(o.shutdown_request)}")
        if o.close_request != Where(worker=done, server=parent):
            found.append(f"w{w.wid} ({_how(w)}): close_request {_where(o.close_request)}")
        if o.closed_before_exit:
            found.append(f"w{w.wid}: the request was closed before its handler returned")
        if v.after.server.transport.stream and not w.hung_up and o.client_eof == w.held:
            state = "sees EOF while its handler runs" if w.held else "never saw EOF"
            found.append(f"w{w.wid}: the client {state}")
    return found


def _worker_lifecycle(v: StepView) -> list[str]:
    found = []
    for w, o in v.pairs():
        if w.held and not o.alive:
            found.append(f"w{w.wid}'s {w.kind.value} ended while its handler was held")
        if not w.held and o.alive:
            found.append(f"w{w.wid}'s {w.kind.value} is still running after its release")
    return found


def _closed_refuses(v: StepView) -> list[str]:
    if not (isinstance(v.event, Connect) and v.before.server.phase is Phase.CLOSED):
        return []
    expected = Probe.ACCEPTED if listener_held(v.profile, v.after) else Probe.REFUSED
    if v.obs.probe is expected:
        return []
    seen = v.obs.probe.value if v.obs.probe else "not attempted"
    if expected is Probe.REFUSED:
        return [f"a connection to the closed server was {seen}, not refused"]
    return [f"a connection was {seen}, although a running child still holds the server socket"]


def _rejected_request_closed(v: StepView) -> list[str]:
    found = []
    for w, o in v.pairs():
        if w.spawned:
            continue
        how = _how(w)
        if o.entered:
            found.append(f"w{w.wid} ({how}) got no worker, but its handler ran")
        if o.shutdown_request != Where(server=1):
            found.append(f"w{w.wid} ({how}): shutdown_request {_where(o.shutdown_request)}")
        if o.close_request != Where(server=1):
            found.append(f"w{w.wid} ({how}): close_request {_where(o.close_request)}")
        if v.after.server.transport.stream and not o.client_eof:
            found.append(f"w{w.wid} ({how}): the client never saw EOF")
    return found


def _handle_timeout(v: StepView) -> list[str]:
    found = []
    server = v.after.server
    how = v.obs.dispatch.value
    if v.obs.dispatch is Call.RAISED and v.obs.dispatch_error:
        how = f"raised {v.obs.dispatch_error}"
    if server.listening:
        if v.obs.dispatch is not Call.BLOCKED:
            found.append(
                f"handle_request() {how} with nothing to accept, though no timeout in effect had passed "
                f"(server.timeout {server.timeout.value}, socket timeout {server.socket_timeout.value})"
            )
    elif isinstance(v.event, TimeOut) and server.capped is None and v.obs.dispatch is not Call.RETURNED:
        found.append(f"handle_request() with nothing to accept {how} instead of timing out")
    if v.obs.handle_timeout != v.after.server.timeouts:
        found.append(
            f"handle_timeout() ran {v.obs.handle_timeout} times; handle_request() timed out "
            f"{v.after.server.timeouts} times"
        )
    return found


def _finished_not_retained(v: StepView) -> list[str]:
    return [
        f"w{w.wid}'s finished thread is still referenced where {v.profile.name} has the server let go of it"
        for w, o in v.pairs()
        if w.kind is Kind.THREAD and w.finished and w.spawned and o.retained and not w.may_be_retained
    ]


def _shutdown_stops_loop(v: StepView) -> list[str]:
    before, after, obs = v.before.server, v.after.server, v.obs
    called = isinstance(v.event, Shutdown) or before.shutdown_waits
    answered = called and not after.shutdown_waits
    stopped = (before.loop or isinstance(v.event, Serve)) and not after.loop
    ended = Call.RAISED if after.loop_raised else Call.RETURNED  # 2.7's loop dies on a closed socket
    found = []
    if called and after.shutdown_waits and obs.shutdown is not Call.BLOCKED:
        found.append(f"shutdown() {obs.shutdown.value} though serve_forever() had not stopped")
    if answered and obs.shutdown is not Call.RETURNED:
        found.append(f"shutdown() {obs.shutdown.value} instead of returning once the loop stopped")
    if stopped and obs.loop is not ended:
        why = "after shutdown() was called"
        if after.loop_raised:
            exits = isinstance(v.event, Release) and v.event.outcome is Outcome.EXIT
            why = "once its handler raised SystemExit" if exits else "on its closed socket"
        found.append(f"serve_forever() {obs.loop.value} {why}")
    # The order is judged where the loop reports setting the event shutdown() waits on (the
    # two calls' own returns race: both follow that moment).
    seen_stop, returned = obs.loop_stopped_seq, obs.shutdown_return_seq
    in_order = seen_stop is not None and returned is not None and seen_stop <= returned
    if answered and stopped and returned is not None and obs.loop is Call.RETURNED and not in_order:
        found.append("shutdown() returned before serve_forever() had stopped")
    return found


def _nothing_accepted_after_shutdown(v: StepView) -> list[str]:
    """A connection still waiting once the loop has stopped waits because shutdown() was
    called (the loop stopped at it, or a connection woke it to it): it must not have been
    taken, not even to be rejected."""
    if v.after.server.loop or v.after.busy:
        return []  # waiting at max_children, or for a busy synchronous call: judged elsewhere
    seen = {o.wid: o for o in v.obs.workers}
    return [
        f"w{w.wid} was accepted after shutdown() was called ({_accepted(seen[w.wid])})"
        for w in v.after.queued
        if w.wid in seen and _accepted(seen[w.wid])
    ]


def _accepted(o: WorkerObs) -> str:
    """What shows that the server took a connection ("" if nothing does): its handler ran, or
    the server shut it down itself."""
    if o.entered:
        return f"its handler ran {o.entered} times"
    if o.shutdown_request != Where() or o.close_request != Where():
        return "the server shut it down"
    return ""


def _loop_runs_until_shutdown(v: StepView) -> list[str]:
    if not v.after.server.loop or v.obs.loop is Call.BLOCKED:
        return []
    error = f" ({v.obs.loop_error})" if v.obs.loop_error else ""
    return [f"serve_forever() {v.obs.loop.value}{error} though shutdown() was not called"]


def _handle_error_prints(v: StepView) -> list[str]:
    found = [
        f"w{w.wid}: handle_error ran without printing a traceback ({o.quiet_errors} times)"
        for w, o in v.pairs()
        if o.quiet_errors
    ]
    if not v.profile.error_banner_on_stdout:
        found += [
            f"w{w.wid}: handle_error wrote to standard output ({o.stdout_errors} times)"
            for w, o in v.pairs()
            if o.stdout_errors
        ]
    return found


def _max_children(v: StepView) -> list[str]:
    if v.before.server.kind is Kind.SYNC:
        return []  # no cap; handled-in-call judges the connections that wait
    found = []
    seen = {o.wid: o for o in v.obs.workers}
    after, before = v.after, v.before
    running = f"{len(after.held)} children ran at max_children={after.server.max_children}"
    for w in after.queued if after.server.loop else ():  # else they wait for a shutdown()'s sake
        if w.wid in seen and seen[w.wid].entered:
            found.append(f"w{w.wid} was accepted and handled while {running}")
    for w in before.queued:  # taken by the loop during this step: its handler must have run
        if not after.worker(w.wid).queued and w.spawned and w.wid in seen and not seen[w.wid].entered:
            found.append(f"w{w.wid} still waits, though serve_forever() is below max_children again")
    capped = _handle_request_capped(after)
    if capped and v.obs.dispatch is not Call.BLOCKED:
        found.append(f"handle_request() {v.obs.dispatch.value} while {running}, instead of waiting")
    if _handle_request_capped(before) and not capped and v.obs.dispatch is not Call.RETURNED:
        found.append(f"handle_request() {v.obs.dispatch.value}, though a child exited below max_children")
    if after.server.capped is Capped.CLOSE and v.obs.close is Call.RETURNED:
        found.append(f"server_close() returned while {running} ({v.profile.name} waits there)")
    return found


def _handle_request_capped(state: State) -> bool:
    """handle_request() waits at max_children: in handle_timeout(), or (2.7) before its fork."""
    capped = state.server.capped
    return capped is Capped.TIMEOUT or (capped is Capped.FORK and not state.server.loop)


def _child_exit_status(v: StepView) -> list[str]:
    found = []
    for w, o in v.pairs():
        if w.kind is not Kind.FORK or not w.finished or not w.spawned or o.exit_status is None:
            continue
        expected = 0 if w.outcome is Outcome.RETURN else 1
        if o.exit_status != expected:
            found.append(f"w{w.wid}'s child ({_how(w)}) exited with status {o.exit_status}, not {expected}")
    return found


def _no_descriptor_leak(v: StepView) -> list[str]:
    seen = v.obs.server_sockets
    expected = server_sockets(v.after)
    if seen is None or seen == expected:
        return []
    return [f"the server process holds {seen} sockets; it should hold {expected}"]


def _how(worker: Worker) -> str:
    if worker.rejected:
        return "rejected"
    if worker.failed:
        return "its worker failed to start"
    return "held" if worker.held else f"released to {worker.outcome.value}"  # type: ignore[union-attr]


def _where(count: Where) -> str:
    return f"ran {count.worker} times in the worker and {count.server} in the server"


# --- the list ---------------------------------------------------------------------------

GUARANTEES: tuple[Guarantee, ...] = (
    Guarantee(
        "dispatch-does-not-wait",
        "handle_request() of a thread or fork server returns once the worker is spawned, without "
        "waiting for the handler.",
        "",
        _dispatch_does_not_wait,
    ),
    Guarantee(
        "handled-in-call",
        "A synchronous server (no mix-in) runs each handler on the thread that accepted it: "
        "handle_request() returns only once the handler has returned, and a handler's SystemExit "
        "propagates out of it and out of serve_forever() (2.7: it reaches handle_error, and the "
        "loop goes on); meanwhile connections wait in the backlog, for the loop's next turn.",
        "bpo-23430",
        _handled_in_call,
    ),
    Guarantee(
        "handler-runs",
        "Each accepted connection gets a worker whose handler runs, once.",
        "",
        _handler_runs,
    ),
    Guarantee(
        "close-raises-nothing",
        "server_close() raises nothing, also when a handler thread calls it (as built since 3.7 "
        "it raises where it would join a thread that failed to start since the last spawn, or "
        "the calling one); `with server as s:` gives the server itself, and a block that raises "
        "closes it the same way and lets the exception go on.",
        "",
        _close_raises_nothing,
    ),
    Guarantee(
        "close-waits",
        "server_close() does not return while a worker it must wait for is still running.",
        "bpo-31151, bpo-31233",
        _close_waits,
    ),
    Guarantee(
        "close-returns",
        "server_close() does not wait for workers it must not: daemon threads, or any worker "
        "when block_on_close is false as the profile reads it; a synchronous server's, none: "
        "it only closes its socket, also while a handler is held.",
        "bpo-33540",
        _close_returns,
    ),
    Guarantee(
        "no-zombie-after-blocking-close",
        "Once a blocking server_close() has returned, no child of the server is a zombie; any "
        "close that collects children (all but 2.7's) reaps the ones that had already exited.",
        "bpo-31151",
        _no_zombie_after_blocking_close,
    ),
    Guarantee(
        "reaped-as-modelled",
        "A child is reaped only after its handler finished, and (as-built profiles) only where "
        "the profile's collect_children reaps it.",
        "bpo-21491",
        _reaped_as_modelled,
    ),
    Guarantee(
        "daemon-at-spawn",
        "A handler thread is a daemon exactly when daemon_threads was true at its spawn.",
        "bpo-13140",
        _daemon_at_spawn,
    ),
    Guarantee(
        "handle-error-once",
        "A handler's Exception reaches handle_error exactly once, in its worker (a worker that "
        "fails to start: once, in the server); a handler that returns never does, nor one that "
        "raises SystemExit (2.7's bare except: once, in its worker).",
        "bpo-23430",
        _handle_error_once,
    ),
    Guarantee(
        "handle-error-prints",
        "handle_error() (as the server defines it) prints the exception's traceback, and its "
        "banner, to standard error, each time it is called; nothing to standard output "
        "(2.7 prints the banner there).",
        "bpo-23430",
        _handle_error_prints,
    ),
    Guarantee(
        "request-closed-once",
        "Each connection is shut down and closed exactly once, by its worker, after its "
        "handler returns; a forking parent closes only its own copy, once.",
        "bpo-6382",
        _request_closed_once,
    ),
    Guarantee(
        "rejected-request-closed",
        "A request that verify_request() rejects, or whose worker fails to start, is shut down "
        "and closed exactly once, by the server, and never handled.",
        "bpo-26309",
        _rejected_request_closed,
    ),
    Guarantee(
        "handle-timeout",
        "handle_request() with nothing to accept returns once its timeout has passed (the "
        "socket's own, else server.timeout; with both set, the smaller) and handle_timeout() "
        "runs exactly once for each such call, never otherwise; with no timeout it waits for "
        "a connection.",
        "",
        _handle_timeout,
    ),
    Guarantee(
        "timeout-reaps",
        "In a forking server, handle_timeout() reaps every child that has exited.",
        "bpo-11109",
        _timeout_reaps,
    ),
    Guarantee(
        "finished-not-retained",
        "A finished handler thread is no longer referenced by the server once a later request "
        "has been dispatched or a later server_close() has returned.",
        "bpo-37193",
        _finished_not_retained,
    ),
    Guarantee(
        "shutdown-stops-loop",
        "shutdown() returns only once serve_forever() has stopped, and then serve_forever() "
        "returns too; at max_children the loop stops once a child exits, with no poll_interval "
        "at the next connection (misuse: with no loop it waits for the next one, which returns "
        "at once).",
        "bpo-2302",
        _shutdown_stops_loop,
    ),
    Guarantee(
        "nothing-accepted-after-shutdown",
        "Once shutdown() has been called, serve_forever() accepts no further connection: one "
        "that wakes its select() stops it and waits in the backlog.",
        "bpo-35017",
        _nothing_accepted_after_shutdown,
    ),
    Guarantee(
        "loop-runs-until-shutdown",
        "serve_forever() goes on serving until shutdown() is called, also when started again "
        "after a shutdown() (misuse: 2.7's loop raises once its socket is closed).",
        "bpo-2302",
        _loop_runs_until_shutdown,
    ),
    Guarantee(
        "loop-reaps",
        "While serve_forever() runs, a forking server's service_actions() reaps every child "
        "that has exited, at its next turn.",
        "bpo-11109",
        _loop_reaps,
    ),
    Guarantee(
        "max-children",
        "Where a forking server collects children at max_children running ones (serve_forever(), "
        "handle_timeout(), as built server_close(); 2.7: before each fork), it waits for one to "
        "exit: the loop accepts nothing meanwhile (2.7: only the connection it forks next), and "
        "takes a waiting connection once below the cap.",
        "gh-111872",
        _max_children,
    ),
    Guarantee(
        "child-exit-status",
        "A child exits with status 0 when its handler returned and 1 when it raised anything, "
        "Exception or SystemExit, without returning into the server's code.",
        "",
        _child_exit_status,
    ),
    Guarantee(
        "no-descriptor-leak",
        "The server process holds only its listening socket (until server_close()) and the "
        "connections of its running handler threads (a synchronous server: of its running "
        "handler): no descriptor outlives its request.",
        "",
        _no_descriptor_leak,
    ),
    Guarantee(
        "worker-lifecycle",
        "A worker runs while its handler is held and finishes once released: the thread "
        "ends, the child exits, a synchronous server's handler returns into its call.",
        "",
        _worker_lifecycle,
    ),
    Guarantee(
        "closed-refuses",
        "Once server_close() has returned, connections and datagrams to its address are refused, "
        "unless a running child still holds the server socket (datagram children; as-built "
        "CPython's stream children).",
        "",
        _closed_refuses,
    ),
)

BY_NAME: dict[str, Guarantee] = {g.name: g for g in GUARANTEES}


@attrs.frozen
class Violation:
    guarantee: Guarantee
    details: tuple[str, ...]


def check(view: StepView) -> list[Violation]:
    """Every guarantee the step broke, in the order of GUARANTEES."""
    found = []
    for guarantee in GUARANTEES:
        details = guarantee.check(view)
        if details:
            found.append(Violation(guarantee, tuple(details)))
    return found
