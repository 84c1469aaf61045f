"""The abstract state: frozen attrs values, changed only by the transition table."""

from __future__ import annotations

import enum

import attrs


class Kind(enum.Enum):
    """How a server hands a request to its worker."""

    THREAD = "thread"  # ThreadingMixIn: one thread per request
    FORK = "fork"  # ForkingMixIn: one child process per request


class Phase(enum.Enum):
    """The server's life: `server_close()` moves it from OPEN through CLOSING to CLOSED."""

    OPEN = "open"
    CLOSING = "closing"  # inside server_close(), waiting for the workers it must await
    CLOSED = "closed"


class Outcome(enum.Enum):
    """How a released handler leaves `handle()`."""

    RETURN = "return"
    RAISE = "raise"  # raises an Exception subclass


class Reaped(enum.Enum):
    """Whether a child has been reaped: a three-valued answer, because the real system races."""

    NO = "no"
    MAYBE = "maybe"  # a blocking close is reaping children one by one, in an order it chooses
    YES = "yes"


@attrs.frozen
class Worker:
    """One request and the thread or child process that handles it.

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

    @property
    def finished(self) -> bool:
        return not self.held

    @property
    def awaitable(self) -> bool:
        """A worker that a waiting close may still have to wait for."""
        return self.held


@attrs.frozen
class Server:
    """The server object and the attributes of its mix-in."""

    kind: Kind
    phase: Phase = Phase.OPEN
    block_on_close: bool = True
    daemon_threads: bool = False
    # ThreadingMixIn as built since 3.8.9: the instance `_threads` list, created by the first
    # spawn that sees block_on_close true; from then on every non-daemon thread is tracked.
    threads_list: bool = False
    # The workers the close in progress waits for (empty unless CLOSING).
    awaited: frozenset[int] = frozenset()
    # ForkingMixIn: whether the close in progress reaps blocking (block_on_close, read as it
    # started; setting the attribute during the close changes nothing for that close).
    reaping_blocking: bool = False
    closes: int = 0  # completed server_close() calls


@attrs.frozen
class State:
    """The whole model state: the server and its workers, oldest first."""

    server: Server
    workers: tuple[Worker, ...] = ()

    @classmethod
    def initial(cls, kind: Kind) -> State:
        return cls(server=Server(kind=kind))

    @property
    def held(self) -> tuple[Worker, ...]:
        return tuple(w for w in self.workers if w.held)

    def worker(self, wid: int) -> Worker:
        return self.workers[wid]

    def with_worker(self, worker: Worker) -> State:
        workers = list(self.workers)
        workers[worker.wid] = worker
        return attrs.evolve(self, workers=tuple(workers))
