"""What a checker can observe of a real server after a step: the model's side of the contract.

Observations are exact facts, not timings: counts of hook calls recorded by the hooks
themselves, the order of events in one log, thread liveness from the thread, child state
from waitid(WNOWAIT), EOF from the client's socket. A blocking call is BLOCKED only once it
has settled inside a blocking primitive; RETURNED means it really returned.
"""

from __future__ import annotations

import enum

import attrs


class Call(enum.Enum):
    """A blocking server call (server_close, handle_request) as last seen."""

    NONE = "not called"
    BLOCKED = "blocked"
    RETURNED = "returned"
    RAISED = "raised"


class Child(enum.Enum):
    RUNNING = "running"
    ZOMBIE = "exited, not reaped"
    REAPED = "reaped"


class Probe(enum.Enum):
    REFUSED = "refused"
    ACCEPTED = "accepted"
    TIMEOUT = "not answered"  # a listening socket whose accept queue is full


@attrs.frozen
class Where:
    """Hook calls for one request, split by where they ran."""

    worker: int = 0  # in the request's own thread or child process
    server: int = 0  # anywhere else in the server process


@attrs.frozen
class WorkerObs:
    wid: int
    alive: bool  # the thread is alive / the child has not exited
    daemon: bool | None = None  # thread workers only
    child: Child | None = None  # fork workers only
    entered: int = 0  # handle() entered
    exited: int = 0  # handle() left (returned or raised)
    handle_error: Where = Where()
    quiet_errors: int = 0  # handle_error() calls that printed no traceback to stderr
    stdout_errors: int = 0  # handle_error() calls that wrote to stdout (2.7's banner)
    shutdown_request: Where = Where()
    close_request: Where = Where()
    closed_before_exit: bool = False  # the worker closed the request before handle() left
    client_eof: bool | None = False  # the client has read EOF on its connection (None: datagram)
    released_seq: int | None = None  # position of the handler's release in the event log
    # Position of the worker's own close_request() in the event log: the last thing its thread
    # or child does for the request, so what a close that waits for it must come after.
    ended_seq: int | None = None
    retained: bool = False  # a finished thread whose object something still references
    # Fork only: the child's exit status, if it was seen exited before the server reaped it
    # (a negative number: killed by that signal).
    exit_status: int | None = None


@attrs.frozen
class Observation:
    workers: tuple[WorkerObs, ...] = ()
    close: Call = Call.NONE
    close_error: str | None = None
    close_return_seq: int | None = None  # position of close's return in the event log
    dispatch: Call = Call.NONE  # the last handle_request()
    dispatch_error: str | None = None
    probe: Probe | None = None  # a connection attempt after close
    handle_timeout: int = 0  # handle_timeout() calls so far
    loop: Call = Call.NONE  # the last serve_forever()
    loop_error: str | None = None
    shutdown: Call = Call.NONE  # the last shutdown()
    # Positions in the event log, since the last serve_forever() started: where its loop
    # stopped (it set the event shutdown() waits on) and where shutdown() returned.
    loop_stopped_seq: int | None = None
    shutdown_return_seq: int | None = None
    # Sockets open in the server process that the checker does not own (None: not measurable).
    server_sockets: int | None = None
