"""The transition table: every (phase, event) pair, and what it does or why it is refused.

Read TRANSITIONS first; the functions below it are its cells. After every event the
state-triggered rule `settle` runs: a close whose awaited workers have all finished returns.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from model.profiles import ForkClose, Profile, ThreadClose
from model.state import Capped, Kind, Outcome, Phase, Reaped, Server, State, Timeout, Worker

# --- events -----------------------------------------------------------------------------


@attrs.frozen
class Connect:
    """A client connects; handle_request() accepts it and spawns its worker.

    With `rejected`, verify_request() returns False for it: the server shuts the request
    down itself and spawns nothing (bpo-26309). After server_close() the same event is a
    probe: the connection must be refused.
    """

    rejected: bool = False
    # process_request() raises: the thread cannot start, or the fork fails.
    fails: bool = False
    # Stream only: the client hangs up (a TCP reset) before the server has dispatched it.
    hangs_up: bool = False


@attrs.frozen
class HangUp:
    """The client of a held request hangs up (a TCP reset) while its handler runs.

    Nothing changes for the server until the handler returns: then shutdown_request()'s
    shutdown(SHUT_WR) fails with ENOTCONN, which it must swallow before close_request().
    """

    wid: int


@attrs.frozen
class TimeOut:
    """handle_request() with nothing to accept: its timeout passes, handle_timeout() runs.

    ForkingMixIn.handle_timeout() reaps the children that have exited (a non-blocking
    collect_children); the base class does nothing. Where no timeout in effect passes within
    a run (`effective_timeout`), it waits in select() for the next connection instead.

    `timeout` and `socket_timeout`, where given, are set just before the call (as SetAttr
    would; they stay set): the two handle_request() reads as it starts.
    """

    timeout: Timeout | None = None
    socket_timeout: Timeout | None = None


@attrs.frozen
class Release:
    """The checker tells a held handler to leave handle(), returning or raising."""

    wid: int
    outcome: Outcome = Outcome.RETURN


@attrs.frozen
class SetAttr:
    """An attribute of the mix-in is set on the server instance."""

    name: str  # one of ATTRIBUTES
    value: bool | int | Timeout


@attrs.frozen
class Close:
    """server_close() is called (on a thread of its own: it may block).

    With `by_exit`, a `with server:` block ends by an exception instead: the context
    manager's __exit__() closes the server the same way, and lets the exception go on.

    With `by_handler`, the handler of that held worker calls server_close() itself (thread
    servers): it cannot wait for its own thread, and its worker stays held, inside the call,
    until the close returns. As built since 3.7 the call raises "cannot join current thread"
    once _Threads.join() reaches the calling thread, having joined only the threads tracked
    before it; the rest are popped from the list and never joined.
    """

    by_exit: bool = False
    by_handler: int | None = None


@attrs.frozen
class Serve:
    """serve_forever(poll_interval) starts on a thread of its own.

    While it runs, it accepts each connection and spawns its worker, and after every poll
    it calls service_actions(): ForkingMixIn reaps the children that have exited (the
    checker waits for the loop's next whole turn after a release, and after the start).

    With `poll_interval` NONE its select() has no timeout: the loop turns only when a
    connection arrives, so it reaps only then, and a shutdown() waits for that connection,
    which then stops the loop unaccepted (bpo-35017's window, held open).
    """

    poll_interval: Timeout = Timeout.SHORT  # one of POLL_INTERVALS


@attrs.frozen
class Shutdown:
    """shutdown(), from another thread: it sets the loop's flag and returns once the loop has
    stopped. A loop waiting at max_children stops only after a child exits.

    Outside the contract (see `outside_contract`): with no loop running, it waits for the
    next serve_forever() (which returns at once), or, after a loop stopped, returns at once
    and leaves its flag set for the next serve_forever().
    """


Event = Connect | Release | SetAttr | Close | TimeOut | Serve | Shutdown | HangUp

# serve_forever()'s modelled poll intervals: one that passes within a step, and None.
POLL_INTERVALS = (Timeout.SHORT, Timeout.NONE)

# The modelled attributes and the values the model sets them to. max_children is at least 1:
# at 0, CPython's cap loop spins forever on an empty set of children.
ATTRIBUTES: dict[str, tuple[bool | int | Timeout, ...]] = {
    "block_on_close": (False, True),
    "daemon_threads": (False, True),
    "max_children": (1, 2, 3, 4, 5, 6),  # the checker sets it to the running children + 0..2
    "timeout": (Timeout.NONE, Timeout.LONG, Timeout.SHORT),  # server.timeout
    # Not an attribute of the server but of its socket: self.socket.settimeout(), which
    # handle_request() reads too.
    "socket_timeout": (Timeout.LONG, Timeout.SHORT, Timeout.NONE),
}


@attrs.frozen
class Refused:
    """A table cell for an event the model does not allow in that phase, and why."""

    reason: str


class StepRefused(Exception):
    """The event is not allowed in this state; the state is unchanged."""


Transition = Callable[[Profile, State, Event], State]

# --- the cells --------------------------------------------------------------------------


def spawn(profile: Profile, state: State, event: Event) -> State:
    """A connection arrives; handle_request() accepts it, or the running loop will.

    It waits in the backlog while serve_forever() sits at max_children (`settle` lets the
    loop take it once a child has exited). Without service_actions() (2.7), handle_request()
    accepts it and then waits at max_children before forking (`_waits_before_fork`).
    """
    assert isinstance(event, Connect)
    kind = state.server.kind
    waiting = Worker(
        wid=len(state.workers),
        kind=kind,
        held=False,
        queued=True,
        rejected=event.rejected,
        failed=event.fails,
        hung_up=event.hangs_up,
    )
    state = attrs.evolve(state, workers=(*state.workers, waiting))
    if state.server.capped in (Capped.LOOP, Capped.FORK):
        return state
    if state.busy:  # sync: the dispatching call is inside a held handler; the next turn takes it
        return state
    if state.server.waits_in_select and state.server.shutdown_request:
        # It wakes select(), and the loop sees the flag before accepting (bpo-35017's fix): it
        # stops, and the connection waits in the backlog.
        return attrs.evolve(state, server=_loop_stopped(state.server))
    if state.server.listening:  # the handle_request() that waits for it takes it
        state = attrs.evolve(state, server=attrs.evolve(state.server, listening=False))
    if _waits_before_fork(profile, state, waiting):
        return _wait_before_fork(state)
    loop_woken = state.server.waits_in_select
    state = _accept(profile, state, waiting.wid)
    return _turn_ends(profile, state) if loop_woken else state


def _waits_before_fork(profile: Profile, state: State, waiting: Worker) -> bool:
    """2.7: process_request() collects children before it forks, so at max_children an
    accepted connection waits there (a rejected one never reaches process_request())."""
    return not profile.service_actions and state.at_cap and not waiting.rejected


def _wait_before_fork(state: State) -> State:
    """collect_children()'s cap loop reaps every exited child, then waits for a running one."""
    return _reap_exited(attrs.evolve(state, server=attrs.evolve(state.server, capped=Capped.FORK)))


def _accept(profile: Profile, state: State, wid: int) -> State:
    """verify_request() -> process_request(): a thread started, or a child forked."""
    waiting = state.worker(wid)
    if waiting.rejected:  # verify_request() -> False -> shutdown_request(): no worker
        return state.with_worker(attrs.evolve(waiting, queued=False))
    if state.server.kind is Kind.FORK and not profile.service_actions:
        state = _reap_exited(state)  # 2.7: process_request() calls collect_children() first
    if profile.thread_close is not ThreadClose.AT_SPAWN_AND_CLOSE:
        state = _let_go_of_finished_threads(state)  # spawning prunes the finished ones
    server = state.server
    daemon = server.kind is Kind.THREAD and server.daemon_threads  # t.daemon = daemon_threads
    threads_list = server.threads_list
    tracked = False
    if server.kind is Kind.THREAD and profile.thread_close is ThreadClose.LATCHED_AT_SPAWN:
        threads_list = threads_list or server.block_on_close  # vars(self).setdefault(...)
        tracked = threads_list and not daemon  # _Threads.append skips daemon threads
    if server.kind is Kind.THREAD and profile.thread_close is ThreadClose.AT_SPAWN_AND_CLOSE:
        tracked = not daemon and reads_block_on_close(profile, server)  # then _threads.append(t)
    worker = Worker(wid=wid, kind=server.kind, daemon=daemon, tracked=tracked, hung_up=waiting.hung_up)
    if waiting.failed:  # t.start() / os.fork() raised: handle_error, shutdown_request, no worker
        ghost = server.kind is Kind.THREAD and profile.unstarted_thread_tracked
        worker = attrs.evolve(worker, held=False, failed=True, tracked=tracked and ghost)
    state = state.with_worker(worker)
    return attrs.evolve(state, server=attrs.evolve(server, threads_list=threads_list))


def release(profile: Profile, state: State, event: Event) -> State:
    """The handler leaves handle(); its worker closes the request and finishes."""
    assert isinstance(event, Release)
    worker = state.worker(event.wid)
    if not worker.held:
        why = "waits in the backlog" if worker.queued else "is not running"
        raise StepRefused(f"w{event.wid} {why}")
    if worker.kind is Kind.SYNC:
        finished = attrs.evolve(worker, held=False, outcome=event.outcome)
        return _sync_returned(profile, state.with_worker(finished), event.outcome)
    retained = worker.kind is Kind.THREAD and _server_may_hold(profile, worker)
    reaped = worker.reaped
    awaited = state.server.phase is Phase.CLOSING and event.wid in state.server.awaited
    # A loop waiting in select() for a connection does not wake for a child's exit; 2.7's
    # loop never reaps.
    loop_reaps = state.server.loop and not state.server.waits_in_select and profile.service_actions
    if (awaited or loop_reaps) and worker.kind is Kind.FORK:
        reaped = Reaped.MAYBE  # the waiting close, or service_actions(), reaps it in its time
    finished = attrs.evolve(
        worker, held=False, outcome=event.outcome, reaped=reaped, may_be_retained=retained
    )
    return _child_exited(profile, state.with_worker(finished), finished)


def _sync_returned(profile: Profile, state: State, outcome: Outcome) -> State:
    """A synchronous handler left handle(); the dispatching thread shut the request down.

    handle_request() returns (a SystemExit propagates out of it, `StepView` judges that).
    The loop turns again (`settle` lets it take the next waiting connection), unless a
    shutdown() set its flag meanwhile: then it stops. A SystemExit stops it too, raised out
    of serve_forever() (3.x: BaseException passes `except Exception`; 2.7's bare except sends
    it to handle_error, and the loop goes on).
    """
    server = state.server
    if not server.loop:
        return state
    if outcome is Outcome.EXIT and not profile.systemexit_reaches_handle_error:
        return attrs.evolve(state, server=attrs.evolve(_loop_stopped(server), loop_raised=True))
    if server.shutdown_request:
        return attrs.evolve(state, server=_loop_stopped(server))
    return state


def hang_up(profile: Profile, state: State, event: Event) -> State:
    """The client resets its connection; the handler runs on, unaware."""
    assert isinstance(event, HangUp)
    return state.with_worker(attrs.evolve(state.worker(event.wid), hung_up=True))


def _child_exited(profile: Profile, state: State, worker: Worker) -> State:
    """A call waiting at the cap reaps the child that exited, and goes on once below the cap."""
    capped = state.server.capped
    if capped is None or worker.kind is not Kind.FORK:
        return state
    state = state.with_worker(attrs.evolve(worker, reaped=Reaped.MAYBE))  # its waitpid(-1) returns
    if state.at_cap:  # max_children is read again only now
        return state
    state = attrs.evolve(state, server=attrs.evolve(state.server, capped=None))
    if capped is Capped.FORK:  # 2.7: the WNOHANG pass, then the waiting connection's fork
        state = _accept(profile, _reap_exited(state), state.queued[0].wid)
        if state.server.loop and state.server.shutdown_request:  # `while not flag` stops it
            state = attrs.evolve(state, server=_loop_stopped(state.server))
        return state
    if capped is Capped.LOOP:
        if state.server.shutdown_request:  # the WNOHANG pass ends service_actions(); the loop stops
            return _reap_exited(attrs.evolve(state, server=_loop_stopped(state.server)))
        if state.server.waits_in_select:  # the WNOHANG pass, then select() (the checker waits)
            return _reap_exited(state)
        return state  # service_actions() goes on reaping in its time: MAYBE
    if capped is Capped.CLOSE and state.server.close_blocks:
        return state  # the blocking pass follows; `settle` reaps all as close returns
    # handle_timeout(), or a non-blocking close: the WNOHANG pass, then the call returns
    return _reap_exited(state)


def _reap_exited(state: State) -> State:
    return attrs.evolve(
        state,
        workers=tuple(attrs.evolve(w, reaped=Reaped.YES) if w.exited_child else w for w in state.workers),
    )


def _server_may_hold(profile: Profile, worker: Worker) -> bool:
    """Whether the server may still reference this thread once it has finished."""
    if profile.thread_close is ThreadClose.LATCHED_AT_SPAWN:
        return worker.tracked  # in the _threads list until the next append or close
    if profile.thread_close is ThreadClose.AT_SPAWN_AND_CLOSE:
        return worker.tracked  # in the _threads list until a close that joins drops it
    if profile.thread_close is ThreadClose.NEVER:
        return False  # 2.7: the mix-in keeps no list of threads
    return not worker.daemon  # documented: the non-daemon threads close may have to join


def _let_go_of_finished_threads(state: State) -> State:
    """At a spawn (or a close) the server drops the threads that have finished (bpo-37193),
    and a thread that never started (as built, _Threads.append prunes it)."""
    workers = tuple(
        attrs.evolve(w, may_be_retained=False, tracked=w.tracked and not w.failed) for w in state.workers
    )
    return attrs.evolve(state, workers=workers)


def time_out(profile: Profile, state: State, event: Event) -> State:
    """handle_request() times out: ForkingMixIn.handle_timeout() reaps exited children.

    At max_children its cap loop reaps every exited child and then waits for a running one.
    With no timeout in effect that passes, it waits for a connection (`spawn` ends the wait).
    """
    assert isinstance(event, TimeOut)
    for name in ("timeout", "socket_timeout"):
        if getattr(event, name) is not None:
            state = set_attr(profile, state, SetAttr(name, getattr(event, name)))
    if effective_timeout(state.server) is not Timeout.SHORT:
        return attrs.evolve(state, server=attrs.evolve(state.server, listening=True))
    capped = Capped.TIMEOUT if state.at_cap else None
    server = attrs.evolve(state.server, timeouts=state.server.timeouts + 1, capped=capped)
    return _reap_exited(attrs.evolve(state, server=server))


def effective_timeout(server: Server) -> Timeout:
    """What handle_request() waits for at most, read as it starts: the socket's own timeout,
    else server.timeout; with both set, the smaller one (BaseServer.handle_request)."""
    own, attribute = server.socket_timeout, server.timeout
    if own is Timeout.NONE:
        return attribute
    if attribute is Timeout.NONE:
        return own
    return Timeout.SHORT if Timeout.SHORT in (own, attribute) else Timeout.LONG


def set_attr(profile: Profile, state: State, event: Event) -> State:
    """Only the value changes here; each attribute is read by the cell that uses it."""
    assert isinstance(event, SetAttr)
    if event.name not in ATTRIBUTES:
        raise StepRefused(f"{event.name} is not a modelled attribute")
    if not _modelled_value(event):
        raise StepRefused(f"{event.name} = {event.value!r} is not a modelled value")
    return attrs.evolve(state, server=attrs.evolve(state.server, **{event.name: event.value}))


def begin_close(profile: Profile, state: State, event: Event) -> State:
    """server_close(): the listening socket is closed, then the mix-in waits (or not)."""
    # Finished threads are let go when close returns (in `settle`), not as it starts: as
    # built, the list being joined is held until the join loop ends, and the guarantee
    # (finished-not-retained) asks no more of any profile.
    assert isinstance(event, Close)
    closer = event.by_handler
    blocking = reads_block_on_close(profile, state.server)
    awaited = awaited_at_close(profile, state) - {closer}  # never its own thread
    # As built, the join loop goes in spawn order and raises at a thread that never
    # started, or at the calling one: the threads after it are dropped and never joined.
    stoppers = [w.wid for w in state.workers if w.tracked and (w.failed or w.wid == closer)]
    if profile.thread_close is ThreadClose.AT_SPAWN_AND_CLOSE and not blocking:
        stoppers = []  # `if self.block_on_close:` guards the whole join
    if stoppers:
        awaited = frozenset(wid for wid in awaited if wid < stoppers[0])
    capped = Capped.CLOSE if profile.cap_blocks_close and state.at_cap else None
    workers = state.workers
    if state.server.kind is not Kind.FORK or profile.fork_close is not ForkClose.NEVER:
        workers = tuple(_reap_at_close_start(w, blocking and not capped, bool(awaited)) for w in workers)
    server = attrs.evolve(
        state.server,
        phase=Phase.CLOSING,
        awaited=awaited,
        close_blocks=blocking,
        capped=capped,
        close_raises=bool(stoppers),
        closer=closer,
    )
    if server.loop and profile.loop_dies_on_closed_socket:  # misuse; 2.7: select() raises EBADF
        server = attrs.evolve(_loop_stopped(server), loop_raised=True)
    return attrs.evolve(state, server=server, workers=workers)


def serve(profile: Profile, state: State, event: Event) -> State:
    """serve_forever() starts; its first service_actions() reaps the exited children (at
    max_children, its cap loop reaps them in an order of its own: MAYBE). With no
    poll_interval there is no such turn until a connection arrives: it reaps nothing yet.

    A shutdown() flag already set (misuse) stops it before its first poll: it returns at
    once, answering a shutdown() that waits, and reaps nothing. 2.7's loop has no
    service_actions(): it reaps nothing either way."""
    assert isinstance(event, Serve)
    server = attrs.evolve(
        state.server, is_shut_down=False, poll_interval=event.poll_interval, loop_raised=False
    )
    if server.shutdown_request:
        return attrs.evolve(state, server=_loop_stopped(server))
    workers = state.workers
    if event.poll_interval is Timeout.SHORT and profile.service_actions:
        workers = tuple(
            attrs.evolve(w, reaped=Reaped.MAYBE) if w.exited_child and w.reaped is Reaped.NO else w
            for w in workers
        )
    state = attrs.evolve(state, server=attrs.evolve(server, loop=True), workers=workers)
    if event.poll_interval is Timeout.SHORT and state.queued and profile.service_actions:
        # Its first turn's select() finds a connection waiting (left by a loop that stopped)
        # and accepts it before that turn's service_actions() looks at max_children (2.7
        # has none: `settle` sees it wait before the fork instead).
        state = _accept(profile, state, state.queued[0].wid)
    return state


def shutdown(profile: Profile, state: State, event: Event) -> State:
    """shutdown() sets the flag; a loop that polls sees it and stops, and shutdown()
    returns. Otherwise it waits (`Server.shutdown_waits`): for the loop at max_children to
    get below it, for the next connection to wake a loop with no poll_interval (`spawn`), or
    (misuse) for a serve_forever() to start. The workers go on."""
    server = attrs.evolve(state.server, shutdown_request=True)
    if server.polls and not state.busy:  # a busy synchronous loop sees it once released
        server = _loop_stopped(server)
    return attrs.evolve(state, server=server)


def _loop_stopped(server: Server) -> Server:
    """serve_forever()'s finally: the flag is cleared and the event shutdown() waits on set."""
    return attrs.evolve(server, loop=False, capped=None, shutdown_request=False, is_shut_down=True)


def probe_closed(profile: Profile, state: State, event: Event) -> State:
    """A connection attempt to a closed server changes nothing (guarantee closed-refuses)."""
    return state


def listener_held(profile: Profile, state: State) -> bool:
    """Whether a running child still holds the server's socket, so its address still answers.

    A datagram child answers through the server socket itself, so it always holds it; a
    stream child holds the listening socket only where the profile's children keep it.
    """
    if state.server.kind is not Kind.FORK or not state.held:
        return False
    return profile.child_keeps_listener or not state.server.transport.stream


def server_sockets(state: State) -> int:
    """The sockets the server process holds: the listening one until server_close() starts,
    and each running handler's connection, on a thread or the dispatching call (a forking
    parent closes its copy at once, unless (2.7) it waits at max_children before the fork; a
    datagram request is the server's own socket)."""
    listening = 1 if state.server.phase is Phase.OPEN else 0
    if not state.server.transport.stream:
        return listening
    if state.server.kind is Kind.FORK:
        return listening + (1 if state.server.capped is Capped.FORK else 0)
    return listening + len(state.held)


def awaited_at_close(profile: Profile, state: State) -> frozenset[int]:
    """The workers server_close() waits for, decided as it starts."""
    server = state.server
    blocks = reads_block_on_close(profile, server)
    if server.kind is Kind.SYNC:  # BaseServer.server_close() closes the socket, that is all
        return frozenset()
    if server.kind is Kind.FORK:
        if profile.fork_close is ForkClose.NEVER:
            return frozenset()
        # collect_children(blocking=self.block_on_close) over every unreaped child
        return frozenset(w.wid for w in state.held) if blocks else frozenset()
    if profile.thread_close is ThreadClose.NEVER:
        return frozenset()
    if profile.thread_close is ThreadClose.AT_CLOSE:
        return frozenset(w.wid for w in state.held if not w.daemon) if blocks else frozenset()
    if profile.thread_close is ThreadClose.AT_SPAWN_AND_CLOSE:  # if self.block_on_close: join
        return frozenset(w.wid for w in state.held if w.tracked) if blocks else frozenset()
    assert profile.thread_close is ThreadClose.LATCHED_AT_SPAWN
    return frozenset(w.wid for w in state.held if w.tracked)  # self._threads.join()


def reads_block_on_close(profile: Profile, server: Server) -> bool:
    """block_on_close as the mix-in reads it: 3.6 reads its private _block_on_close, False."""
    return server.block_on_close and profile.public_block_on_close


def _reap_at_close_start(worker: Worker, blocking: bool, waits: bool) -> Worker:
    """collect_children at close reaps the children that have exited already.

    A non-blocking pass (WNOHANG) reaps them at once, and so does the cap loop (pass
    `blocking` False then). A blocking pass that also has running children to wait for visits
    the set in its own order, so an exited child is reaped at some point before close
    returns: MAYBE until then.
    """
    if not worker.exited_child or worker.reaped is Reaped.YES:
        return worker
    if blocking and waits:
        return attrs.evolve(worker, reaped=Reaped.MAYBE)
    return attrs.evolve(worker, reaped=Reaped.YES)


def settle(profile: Profile, state: State) -> State:
    """State-triggered: the loop takes waiting connections; a close with nothing left to wait for returns."""
    state = _serve_waiting(profile, state)
    server = state.server
    if server.phase is not Phase.CLOSING or server.capped is Capped.CLOSE:
        return state
    if any(state.worker(wid).held for wid in server.awaited):
        return state
    workers = state.workers
    if server.close_blocks:  # every child was waited for: all reaped now
        workers = tuple(attrs.evolve(w, reaped=Reaped.YES) if w.exited_child else w for w in workers)
    # The finished threads are let go when close returns (CPython 3.8.9+: the popped list
    # dies with the join loop; 3.7: `_threads = None`, unless block_on_close was false at
    # close; impl prunes the ended threads again).
    kept = profile.thread_close is ThreadClose.AT_SPAWN_AND_CLOSE and not server.close_blocks
    if not kept:  # the list, where there is one, is gone: nothing tracked, nothing retained
        workers = tuple(attrs.evolve(w, may_be_retained=False, tracked=False) for w in workers)
    closed = attrs.evolve(
        server,
        phase=Phase.CLOSED,
        awaited=frozenset(),
        close_blocks=False,
        closes=server.closes + 1,
        closer=None,  # the calling handler is back in handle(), held as before
    )
    return attrs.evolve(state, server=closed, workers=workers)


def _serve_waiting(profile: Profile, state: State) -> State:
    """serve_forever() accepts the waiting connections, one per turn of the loop, until its
    service_actions() finds the server at max_children and waits there. A loop that polls
    reaps every child that has exited at its next service_actions() (the checker waits for
    that turn); one with no poll_interval turns only for a connection (its select() returns
    at once for one that waits), accepting it before service_actions() looks at the cap.
    2.7's loop has no service_actions(): it waits at the cap only with a connection accepted
    (`_waits_before_fork`), and an idle one reaps nothing."""
    while state.server.turning and not state.busy:  # sync: one handler at a time, on the loop
        if state.server.waits_in_select:
            if not state.queued:
                return state
            if _waits_before_fork(profile, state, state.queued[0]):
                return _wait_before_fork(state)
            state = _turn_ends(profile, _accept(profile, state, state.queued[0].wid))
            continue
        if state.at_cap and profile.service_actions:
            return attrs.evolve(state, server=attrs.evolve(state.server, capped=Capped.LOOP))
        if not state.queued:
            return _reap_exited(state) if profile.service_actions else state
        if _waits_before_fork(profile, state, state.queued[0]):
            return _wait_before_fork(state)
        state = _accept(profile, state, state.queued[0].wid)
    return state


def _turn_ends(profile: Profile, state: State) -> State:
    """A turn of a loop with no poll_interval that took a connection ends in service_actions():
    ForkingMixIn reaps every exited child (its cap loop reaps them before it waits), then waits
    at max_children, or the loop is back in select() (the checker waits for either). 2.7's
    goes straight back to select()."""
    if not profile.service_actions:
        return state
    state = _reap_exited(state)
    if state.at_cap:
        return attrs.evolve(state, server=attrs.evolve(state.server, capped=Capped.LOOP))
    return state


# --- the table --------------------------------------------------------------------------

_NO_CONCURRENT_CLOSE = Refused("a second server_close() while one is blocked is not modelled")
_NO_TIMEOUT_AFTER_CLOSE = Refused("handle_request() on a closed server raises ValueError: not modelled yet")
_NO_LOOP_AFTER_CLOSE = Refused("serve_forever() on a closed server raises ValueError: not modelled yet")
_NO_CONNECT_WHILE_CLOSING = Refused("a connection racing server_close() is not modelled yet")

TRANSITIONS: dict[tuple[Phase, type], Transition | Refused] = {
    (Phase.OPEN, Connect): spawn,
    (Phase.OPEN, Release): release,
    (Phase.OPEN, SetAttr): set_attr,
    (Phase.OPEN, Close): begin_close,
    (Phase.OPEN, TimeOut): time_out,
    (Phase.OPEN, Serve): serve,
    (Phase.OPEN, Shutdown): shutdown,
    (Phase.OPEN, HangUp): hang_up,
    (Phase.CLOSING, Connect): _NO_CONNECT_WHILE_CLOSING,
    (Phase.CLOSING, Release): release,
    (Phase.CLOSING, SetAttr): set_attr,
    (Phase.CLOSING, Close): _NO_CONCURRENT_CLOSE,
    (Phase.CLOSING, TimeOut): _NO_TIMEOUT_AFTER_CLOSE,
    (Phase.CLOSING, Serve): _NO_LOOP_AFTER_CLOSE,
    (Phase.CLOSING, Shutdown): shutdown,
    (Phase.CLOSING, HangUp): hang_up,
    (Phase.CLOSED, Connect): probe_closed,
    (Phase.CLOSED, Release): release,
    (Phase.CLOSED, SetAttr): set_attr,
    (Phase.CLOSED, Close): begin_close,  # idempotent; ForkingMixIn reads block_on_close again
    (Phase.CLOSED, TimeOut): _NO_TIMEOUT_AFTER_CLOSE,
    (Phase.CLOSED, Serve): _NO_LOOP_AFTER_CLOSE,
    (Phase.CLOSED, Shutdown): shutdown,  # a loop still running after a close (misuse) stops
    (Phase.CLOSED, HangUp): hang_up,
}


# Conditions within an OPEN cell while serve_forever() runs: one loop at a time, and no
# handle_request() beside it.
_LOOP_REFUSALS: dict[type, str] = {
    Serve: "a second serve_forever() on the same server is not modelled",
    TimeOut: "handle_request() beside a running serve_forever() is not modelled",
}


def _refusal(state: State, event: Event) -> str | None:
    """Conditions inside a cell: why this event is refused in this very state, if it is."""
    return (
        _sync_refusal(state, event)
        or _loop_refusal(state, event)
        or _hang_up_refusal(state, event)
        or _closer_refusal(state, event)
        or _timeout_refusal(state, event)
        or _poll_refusal(state, event)
    )


# Conditions within an OPEN cell while a synchronous handle_request() is inside a held
# handler (no loop runs): the handler runs on the call's thread, which takes nothing else.
_BUSY_REFUSALS: dict[type, str] = {
    TimeOut: "a second handle_request() beside one busy in its handler is not modelled",
    Serve: "serve_forever() beside a handle_request() busy in its handler is not modelled",
}


def _sync_refusal(state: State, event: Event) -> str | None:
    """A synchronous server spawns nothing, and its dispatching call handles one at a time."""
    if state.server.kind is not Kind.SYNC:
        return None
    if isinstance(event, Connect) and event.fails and state.server.phase is Phase.OPEN:
        return "a synchronous server starts no worker: none can fail to start"
    if not state.busy:
        return None
    if not state.server.loop and type(event) in _BUSY_REFUSALS:
        return _BUSY_REFUSALS[type(event)]
    if state.server.loop and isinstance(event, Close):
        # the loop would go back to select() on the closed socket once released (misuse)
        return "server_close() under a loop busy in a handler (misuse) is not modelled"
    return None


def _poll_refusal(state: State, event: Event) -> str | None:
    if isinstance(event, Serve) and event.poll_interval not in POLL_INTERVALS:
        return "serve_forever() is modelled with a short poll_interval or None"
    if state.server.waits_in_select and isinstance(event, Close):
        # select() holds the closed socket, which goes on listening until a connection wakes it
        return "server_close() under serve_forever(poll_interval=None) (misuse) is not modelled"
    return None


_LISTENING_REFUSALS: dict[type, str] = {
    TimeOut: "a second handle_request() beside one that waits is not modelled",
    Serve: "serve_forever() beside a waiting handle_request() is not modelled",
    Close: "server_close() under a handle_request() waiting in select() is not modelled",
    Shutdown: "shutdown() beside a waiting handle_request() (and no loop) is not modelled",
}


def _timeout_refusal(state: State, event: Event) -> str | None:
    if state.server.listening and type(event) in _LISTENING_REFUSALS:
        return _LISTENING_REFUSALS[type(event)]
    closed = state.server.phase is not Phase.OPEN
    if closed and isinstance(event, SetAttr) and event.name == "socket_timeout":
        return "the socket is closed: settimeout() raises"
    return None


def _closer_refusal(state: State, event: Event) -> str | None:
    """A handler calls server_close() only while it runs, and only a thread's handler; it
    cannot be released while it is inside that call."""
    if isinstance(event, Release) and event.wid == state.server.closer:
        return f"w{event.wid}'s handler is inside server_close()"
    if not (isinstance(event, Close) and event.by_handler is not None):
        return None
    if state.server.kind is Kind.FORK:
        return "server_close() from a forked child is not modelled"
    if state.server.kind is not Kind.THREAD:
        return "server_close() from a synchronous handler is not modelled"
    if event.by_exit:
        return "a handler's server_close() is a plain call, not a with-block's exit"
    wid = event.by_handler
    if not 0 <= wid < len(state.workers) or not state.worker(wid).held:
        return f"w{wid} has no handler running"
    return None


def _hang_up_refusal(state: State, event: Event) -> str | None:
    """A client can hang up only on a connection: a held one, or one it makes to do so."""
    if isinstance(event, Connect) and event.hangs_up:
        if not state.server.transport.stream:
            return "a datagram client has no connection to hang up"
        if event.rejected or event.fails:
            return "a client that hangs up is modelled for requests that are handled"
    if not isinstance(event, HangUp):
        return None
    if not state.server.transport.stream:
        return "a datagram client has no connection to hang up"
    if not 0 <= event.wid < len(state.workers) or not state.worker(event.wid).held:
        return f"w{event.wid} has no handler running"
    if state.worker(event.wid).hung_up:
        return f"w{event.wid}'s client has hung up already"
    return None


def _loop_refusal(state: State, event: Event) -> str | None:
    server = state.server
    if server.loop and server.phase is Phase.OPEN and type(event) in _LOOP_REFUSALS:
        return _LOOP_REFUSALS[type(event)]
    if isinstance(event, Shutdown) and server.shutdown_waits:
        return "a second shutdown() while one waits is not modelled"
    outlived_close = server.loop and server.phase is not Phase.OPEN
    if outlived_close and isinstance(event, SetAttr) and event.name == "max_children":
        # the loop and the close would both wait in waitpid(-1)
        return "max_children under a loop that outlived server_close() (misuse) is not modelled"
    if state.queued and not server.loop and isinstance(event, Connect | TimeOut | Close):
        # handle_request() would accept the oldest of them, not the new connection
        return "connections wait in the backlog of a stopped loop: only serve_forever() takes them here"
    return _cap_refusal(state, event)


def _cap_refusal(state: State, event: Event) -> str | None:
    """Conditions while a call waits at max_children."""
    capped = state.server.capped
    in_handle_request = capped is Capped.TIMEOUT or (capped is Capped.FORK and not state.server.loop)
    if in_handle_request and not isinstance(event, Release | SetAttr):
        return "handle_request() waits at max_children: only releases and attribute changes meanwhile"
    if capped in (Capped.LOOP, Capped.FORK) and isinstance(event, Close):
        return "server_close() while the loop waits at max_children: two waitpid(-1) loops (not modelled)"
    return None


def outside_contract(state: State, event: Event) -> str | None:
    """Why a call the table allows breaks socketserver's documented preconditions, if it does.

    The table models what the server really does then; a checker makes such calls only in
    its misuse mode.
    """
    if isinstance(event, Shutdown) and not state.server.loop:
        return "shutdown() with no serve_forever() running (documented to deadlock)"
    if isinstance(event, Close) and state.server.loop:
        return "server_close() under a running serve_forever()"
    return None


def allowed(state: State, event: Event) -> bool:
    cell = TRANSITIONS[(state.server.phase, type(event))]
    if isinstance(cell, Refused) or _refusal(state, event):
        return False
    if isinstance(event, Release):
        return 0 <= event.wid < len(state.workers) and state.worker(event.wid).held
    if isinstance(event, SetAttr):
        return event.name in ATTRIBUTES and _modelled_value(event)
    return True


def _modelled_value(event: SetAttr) -> bool:
    """One of the attribute's modelled values, of its type (True is not max_children=1)."""
    values = ATTRIBUTES[event.name]
    return any(event.value == v and type(event.value) is type(v) for v in values)


def step(profile: Profile, state: State, event: Event) -> State:
    """Apply one event; raise StepRefused (state unchanged) where the table refuses it."""
    cell = TRANSITIONS[(state.server.phase, type(event))]
    if isinstance(cell, Refused):
        raise StepRefused(cell.reason)
    refusal = _refusal(state, event)
    if refusal:
        raise StepRefused(refusal)
    if isinstance(event, Release) and not 0 <= event.wid < len(state.workers):
        raise StepRefused(f"no worker w{event.wid}")
    return settle(profile, cell(profile, state, event))
