"""Recording servers for impl's ThreadPoolMixIn and BoundedThreadingMixIn, and their waits.

They extend impl_harness's thread recording (hook calls, the b"+"/b"." protocol of the
holding handler) with what a pool or a bound is judged by: how many handlers ran at once
(counted around finish_request, so a raising handler counts too), and which request
objects were accepted and shut down (a pool thread handles many requests, so the thread a
hook ran in does not say which request it was).

A pool's requests beyond its size are queued: `dispatch` lets handle_request() queue one
without waiting for its handler, and `entered` waits (bounded) for the handler's b"+". A
bounded server's dispatch blocks in process_request() at the bound, so `dispatch_in_thread`
runs handle_request() on a thread of its own. A blocking call is judged blocked only once it
is parked (`parked_under`: waiting on a lock, a condition or a join, inside the named
function), never after a sleep.
"""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import socketserver
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import impl
from impl import (
    BoundedThreadingTCPServer,
    BoundedThreadingUDPServer,
    BoundedThreadingUnixStreamServer,
    ThreadPoolTCPServer,
    ThreadPoolUDPServer,
    ThreadPoolUnixStreamServer,
)
from tests.impl.impl_harness import (
    DEADLINE,
    ENTERED,
    HOST,
    DatagramHoldingHandler,
    DatagramRecording,
    Harness,
    HoldingHandler,
    Request,
    ThreadRecording,
    settle,
    unix_stream_connect,
)

IMPL_DIR = os.path.dirname(impl.__file__)


class Counting(ThreadRecording):
    """ThreadRecording, plus the handlers running at once and the requests each hook saw."""

    def __init__(self, address: Any, handler: type[socketserver.BaseRequestHandler]) -> None:
        self.counting = threading.Lock()
        self.running = 0  # handlers inside finish_request() now
        self.most = 0  # the most there ever were at once
        self.reject = False  # verify_request() says no while this is true
        self.verified: list[Any] = []  # every request verify_request() saw
        self.shut: list[Any] = []  # every request shutdown_request() was called with
        super().__init__(address, handler)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.verified.append(request)
        return super().verify_request(request, client_address) and not self.reject  # type: ignore[misc]

    def finish_request(self, request: Any, client_address: Any) -> None:
        with self.counting:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            super().finish_request(request, client_address)  # type: ignore[misc]
        finally:
            with self.counting:
                self.running -= 1

    def shutdown_request(self, request: Any) -> None:
        self.shut.append(request)
        super().shutdown_request(request)

    def each_shut_once(self) -> bool:
        """Every request verify_request() saw was shut down exactly once, and nothing else."""
        return sorted(map(id, self.shut)) == sorted(map(id, self.verified))


class PoolTCP(Counting, ThreadPoolTCPServer):
    """impl's ThreadPoolTCPServer, recording and counting."""


class PoolUnixStream(Counting, ThreadPoolUnixStreamServer):
    """impl's ThreadPoolUnixStreamServer, recording and counting."""


class PoolUDP(DatagramRecording, Counting, ThreadPoolUDPServer):
    """impl's ThreadPoolUDPServer, recording and counting, reporting on control channels."""


class BoundedTCP(Counting, BoundedThreadingTCPServer):
    """impl's BoundedThreadingTCPServer, recording and counting."""


class BoundedUnixStream(Counting, BoundedThreadingUnixStreamServer):
    """impl's BoundedThreadingUnixStreamServer, recording and counting."""


class BoundedUDP(DatagramRecording, Counting, BoundedThreadingUDPServer):
    """impl's BoundedThreadingUDPServer, recording and counting, on control channels."""


POOL = {"tcp": PoolTCP, "unix": PoolUnixStream}
BOUNDED = {"tcp": BoundedTCP, "unix": BoundedUnixStream}


def make(harness: Harness, cls: type, folder: Path, **attributes: Any) -> Any:
    """A recording server of class `cls`, on 127.0.0.1 or in `folder`, with `attributes` set
    on the instance (as a user sets daemon_threads) before any request."""
    unix = issubclass(cls, socketserver.UnixStreamServer | socketserver.UnixDatagramServer)
    address = str(folder / "srv") if unix else (HOST, 0)
    datagrams = issubclass(cls, DatagramRecording)
    server = cls(address, DatagramHoldingHandler if datagrams else HoldingHandler)
    harness.servers.append(server)
    for name, value in attributes.items():
        setattr(server, name, value)
    return server


def connect_client(server: Any) -> Request:
    if server.address_family == socket.AF_UNIX:
        client = unix_stream_connect(server.server_address)
    else:
        client = socket.create_connection(server.server_address[:2], timeout=DEADLINE)
    return Request(client)


def dispatch(harness: Harness, server: Any) -> Request:
    """Connect a client and let handle_request() dispatch it, without waiting for its handler."""
    request = connect_client(server)
    harness.requests.append(request)
    server.handle_request()
    return request


def dispatch_in_thread(harness: Harness, server: Any) -> tuple[Request, threading.Thread]:
    """Connect a client and run handle_request() for it on a thread of its own (joined by the
    caller), for a dispatch that may block in process_request()."""
    request = connect_client(server)
    harness.requests.append(request)
    thread = threading.Thread(target=server.handle_request, name="test-handle_request")
    thread.start()
    return request, thread


def entered(request: Request) -> None:
    """Wait (bounded by the client's timeout) until the request's handler says it runs."""
    assert request.client.recv(1) == ENTERED, "the request's handler never ran"


def not_entered_yet(request: Request) -> bool:
    """Nothing has arrived from the request's handler: it has not started (an instant look)."""
    request.client.setblocking(False)
    try:
        request.client.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True
    finally:
        request.client.settimeout(DEADLINE)
    return False


def parked_under(function: str, directory: str = IMPL_DIR) -> Callable[[threading.Thread], bool]:
    """A predicate: the thread waits in threading (a condition, an event, a join) called from
    `function`, a function in a file of `directory` (impl's, unless told)."""

    def parked(thread: threading.Thread) -> bool:
        frame = sys._current_frames().get(thread.ident)  # type: ignore[arg-type]
        if frame is None or frame.f_code.co_filename != threading.__file__:
            return False  # its innermost Python frame is not a wait of threading's
        while frame is not None:
            code = frame.f_code
            if code.co_name == function and os.path.dirname(code.co_filename) == directory:
                return True
            frame = frame.f_back
        return False

    return parked


def blocked(thread: threading.Thread, function: str, directory: str = IMPL_DIR) -> bool:
    """Wait (bounded) until `thread` ends or parks under `function`; true if it is still alive."""
    settle(thread, parked_under(function, directory))
    return thread.is_alive()


def handler_threads(server: Any) -> list[threading.Thread]:
    """The thread of every handler that has started so far (ThreadRecording's record)."""
    found = []
    with contextlib.suppress(queue.Empty):
        while True:
            found.append(server.handler_threads.get_nowait())
    return found


def join_all(threads: Any) -> list[threading.Thread]:
    """Join each thread (bounded); return the ones still alive."""
    for thread in threads:
        thread.join(DEADLINE)
    return [thread for thread in threads if thread.is_alive()]
