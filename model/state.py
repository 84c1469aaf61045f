"""The abstract state: frozen attrs values, changed only by the transition table."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

import attrs


class Kind(enum.Enum):
    """How a server hands a request to its worker."""

    THREAD = "thread"  # ThreadingMixIn: one thread per request
    FORK = "fork"  # ForkingMixIn: one child process per request
    # No mix-in (TCPServer, UDPServer, UnixStreamServer, UnixDatagramServer): handled on the
    # thread that accepted it, inside handle_request() or the serve_forever() loop's turn.
    SYNC = "sync"


class Transport(enum.Enum):
    """The server's socket: where requests come from, and whether a request is a connection."""

    TCP = "tcp"
    UDP = "udp"
    UNIX = "unix"  # Unix stream socket, a file path
    UNIX_DATAGRAM = "unix-datagram"

    @property
    def stream(self) -> bool:
        """A stream request is a connection of its own; a datagram one shares the server socket."""
        return self in (Transport.TCP, Transport.UNIX)


class Phase(enum.Enum):
    """The server's life: `server_close()` moves it from OPEN through CLOSING to CLOSED."""

    OPEN = "open"
    CLOSING = "closing"  # inside server_close(), waiting for the workers it must await
    CLOSED = "closed"


class Outcome(enum.Enum):
    """How a released handler leaves `handle()`."""

    RETURN = "return"
    RAISE = "raise"  # raises an Exception subclass
    EXIT = "exit"  # raises SystemExit: not an Exception, so never handle_error's (bpo-23430)


class Reaped(enum.Enum):
    """Whether a child has been reaped: a three-valued answer, because the real system races."""

    NO = "no"
    MAYBE = "maybe"  # a blocking close is reaping children one by one, in an order it chooses
    YES = "yes"


class Timeout(enum.Enum):
    """A timeout as far as a run can tell: none, one that passes within a step, or one that
    never passes within a run (the checker uses 5 ms and an hour)."""

    NONE = "none"
    SHORT = "short"
    LONG = "long"


class Capped(enum.Enum):
    """The call that sits in ForkingMixIn's cap loop: max_children children run, it waits.

    collect_children() starts with `while len(active_children) >= max_children:` and a
    blocking waitpid(-1, 0): it reaps the exited children one by one and then, if the running
    ones alone are still at the cap, waits until one of them exits (re-reading max_children
    only then).
    """

    LOOP = "serve_forever() in service_actions()"  # accepts nothing meanwhile
    TIMEOUT = "handle_request() in handle_timeout()"
    CLOSE = "server_close()"  # as built, even with block_on_close false
    # 2.7: process_request() collects children before it forks, so the serve_forever() loop
    # (`Server.loop`) or else handle_request() waits there having accepted a connection (the
    # oldest queued one): the server process holds it meanwhile, and forks it once below the cap.
    FORK = "process_request() before its fork (2.7)"


@attrs.frozen(cache_hash=True)
class Worker:
    """One request and the thread or child process that handles it (a synchronous server's:
    the dispatching call itself, busy while it is held).

    Its life is `spawned (held) -> finished -> joined/reaped`: the probe handler holds every
    request until the checker releases it, so "held" is the running state.
    """

    wid: int
    kind: Kind
    # Thread only: t.daemon, read from daemon_threads when the thread was spawned.
    daemon: bool = False
    # Whether server_close() will wait for it, when the profile decides that at spawn.
    tracked: bool = False
    held: bool = True
    outcome: Outcome | None = None  # set on release
    # Fork only: whether the server has reaped the child (it exits when finished).
    reaped: Reaped = Reaped.NO
    # verify_request() said no: the server closes the request and no worker is spawned.
    rejected: bool = False
    # process_request() raised (the thread could not start, the fork failed): the server
    # calls handle_error and closes the request; no worker runs.
    failed: bool = False
    # Thread only: a finished thread the server may still hold a reference to. It must let
    # go by the next spawn or close at the latest (bpo-37193).
    may_be_retained: bool = False
    # A connection waiting to be accepted while serve_forever() sits at max_children: no
    # worker yet (held is False until the loop accepts it).
    queued: bool = False
    # Stream only: its client hung up (a TCP reset). The server's shutdown(SHUT_WR) of the
    # request then fails with ENOTCONN, which shutdown_request() must swallow and go on to
    # close the request.
    hung_up: bool = False

    @property
    def finished(self) -> bool:
        return not self.held and not self.queued

    @property
    def exited_child(self) -> bool:
        """A child process that has finished its request (and so exited)."""
        return self.kind is Kind.FORK and self.finished and self.spawned

    @property
    def spawned(self) -> bool:
        """A thread or child really ran for it (not rejected, not failed to start)."""
        return not self.rejected and not self.failed


@attrs.frozen(cache_hash=True)
class Server:
    """The server object and the attributes of its mix-in."""

    kind: Kind
    phase: Phase = Phase.OPEN
    transport: Transport = Transport.TCP
    block_on_close: bool = True
    daemon_threads: bool = False
    # ThreadingMixIn as built since 3.8.9: the instance `_threads` list, created by the first
    # spawn that sees block_on_close true; from then on every non-daemon thread is tracked.
    threads_list: bool = False
    # The workers the close in progress waits for (empty unless CLOSING).
    awaited: frozenset[int] = frozenset()
    timeouts: int = 0  # handle_request() calls that timed out, so handle_timeout() calls
    # handle_request() reads both as it starts (the effective timeout rule, see
    # table.effective_timeout). The checker's servers start with a short server.timeout
    # (BaseServer's default is None) and a socket in blocking mode.
    timeout: Timeout = Timeout.SHORT
    socket_timeout: Timeout = Timeout.NONE  # self.socket.settimeout()
    # handle_request() waits in select() for a connection: no timeout in effect passes.
    listening: bool = False
    loop: bool = False  # serve_forever() is running (on a thread of its own)
    # The running (or last) serve_forever()'s poll_interval: SHORT, its select() times out
    # within a step, so the loop turns by itself; NONE, select() waits for a connection.
    poll_interval: Timeout = Timeout.SHORT
    # block_on_close as the close in progress read it as it started (setting the attribute
    # during the close changes nothing for that close). ForkingMixIn: it reaps blocking;
    # ThreadingMixIn 3.6/3.7: it joins its list, and drops it.
    close_blocks: bool = False
    closes: int = 0  # completed server_close() calls
    # The close in progress (or the last one) raises as it ends: as built, joining a thread
    # that never started (see Profile.unstarted_thread_tracked).
    close_raises: bool = False
    # The worker whose handler called the close in progress (None: called from outside).
    closer: int | None = None
    # ForkingMixIn's cap, and the call waiting at it (None: nothing waits at the cap).
    max_children: int = 40
    capped: Capped | None = None
    # BaseServer's shutdown handshake: shutdown() sets the __shutdown_request flag and waits
    # for the __is_shut_down event, which serve_forever() clears as it starts and sets (after
    # clearing the flag) as it stops. The event starts cleared: a shutdown() with no loop ever
    # run waits for one; after a loop stopped it is set, so a shutdown() then returns at once
    # and leaves the flag set for the next serve_forever(), which returns at once.
    shutdown_request: bool = False
    is_shut_down: bool = False
    # The last serve_forever() stopped by raising (2.7, misuse: select() on the closed socket).
    loop_raised: bool = False

    @property
    def turning(self) -> bool:
        """serve_forever() runs and is not waiting at max_children: its loop turns freely."""
        return self.loop and self.capped is None

    @property
    def polls(self) -> bool:
        """The loop turns freely and by itself: its select() times out every poll_interval,
        and each turn ends in service_actions()."""
        return self.turning and self.poll_interval is Timeout.SHORT

    @property
    def waits_in_select(self) -> bool:
        """serve_forever(poll_interval=None) turns freely but sits in select() until a
        connection arrives: nothing else wakes it, not shutdown(), not a child's exit, so its
        service_actions() runs only after it took a connection."""
        return self.turning and self.poll_interval is Timeout.NONE

    @property
    def shutdown_waits(self) -> bool:
        """A shutdown() call is waiting: its flag is set and the loop has not answered it."""
        return self.shutdown_request and not self.is_shut_down


@attrs.frozen(cache_hash=True)  # states are dict keys: the explorer hashes each many times
class State:
    """The whole model state: the server and its workers, oldest first."""

    server: Server
    workers: tuple[Worker, ...] = ()

    @classmethod
    def initial(
        cls, kind: Kind, transport: Transport = Transport.TCP, attributes: Iterable[tuple[str, Any]] = ()
    ) -> State:
        """A fresh server; `attributes`, the mix-in attributes its class starts with where they
        are not the mix-in's own defaults (ThreadingHTTPServer: daemon_threads true)."""
        return cls(server=Server(kind=kind, transport=transport, **dict(attributes)))

    @property
    def held(self) -> tuple[Worker, ...]:
        """The workers whose handlers are running (rejected requests have none)."""
        return tuple(w for w in self.workers if w.held)

    @property
    def queued(self) -> tuple[Worker, ...]:
        """Connections waiting for serve_forever() to accept them, oldest first."""
        return tuple(w for w in self.workers if w.queued)

    @property
    def busy(self) -> bool:
        """A synchronous server's dispatching call (handle_request(), or the loop) is inside a
        held handler: it takes no other connection until that handler is released."""
        return self.server.kind is Kind.SYNC and any(w.held for w in self.workers)

    @property
    def at_cap(self) -> bool:
        """ForkingMixIn's cap loop would wait: the running children alone reach max_children."""
        server = self.server
        return server.kind is Kind.FORK and len(self.held) >= server.max_children

    def worker(self, wid: int) -> Worker:
        return self.workers[wid]

    def with_worker(self, worker: Worker) -> State:
        workers = list(self.workers)
        workers[worker.wid] = worker
        return attrs.evolve(self, workers=tuple(workers))
