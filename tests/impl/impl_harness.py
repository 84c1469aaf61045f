"""The harness for impl's servers: real sockets on 127.0.0.1, real threads and children.

The handler holds every request: it says b"+" to its client once it is inside handle(), then
waits for one byte from the client (b"." to return, b"!" to raise, b"c" to call
server_close() itself). The servers record their hook calls, and report them to the client
too, so a child's calls can be seen from the test (see `Recording`).

Every wait has a deadline; no verdict rests on one: a blocking call is judged blocked only
once it is parked where it cannot return by itself (inside Thread.join() of a held thread,
or asleep in the kernel's wait for a running child).
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import signal
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from impl import ForkingTCPServer, ThreadingTCPServer

HOST = "127.0.0.1"
DEADLINE = 5.0  # bounds every wait; a correct server is far faster

ENTERED = b"+"  # handler -> client: handle() is running and waits for a word
RETURN = b"."  # client -> handler: return from handle()
RAISE = b"!"  # client -> handler: raise HandlerRaised
CLOSE = b"c"  # client -> handler: call server_close() from the handler, then return
ERROR = b"E"  # server -> client: handle_error ran (see Recording)
SHUTDOWN = b"S"  # server -> client: shutdown_request ran (see Recording)


class HandlerRaised(Exception):
    pass


class HoldingHandler(socketserver.BaseRequestHandler):
    server: Any

    def handle(self) -> None:
        self.request.settimeout(DEADLINE)  # a backstop: every test releases its handlers
        self.server.on_enter()
        self.request.sendall(ENTERED)
        word = self.request.recv(1)
        if word == RAISE:
            raise HandlerRaised("raised on purpose")
        if word == CLOSE:
            self.server.close_from_handler()
        self.server.on_exit()


class Recording:
    """Records each hook call where it ran, and tells the client.

    Each call appends the thread (thread server) or pid (fork server) it ran in. A forked
    child appends to its own copy, which the test never sees, so every call also sends a byte
    to the request's client: b"E" for handle_error, b"S" for shutdown_request. What the client
    reads after b"+" is then exactly what the worker did, up to EOF.
    """

    def __init__(self) -> None:
        self.errors: list[Any] = []  # handle_error
        self.shutdowns: list[Any] = []  # shutdown_request
        self.closes: list[Any] = []  # close_request (shutdown_request calls it too)

    def where(self) -> Any:
        raise NotImplementedError

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.errors.append(self.where())
        with contextlib.suppress(OSError):
            request.sendall(ERROR)

    def shutdown_request(self, request: Any) -> None:
        self.shutdowns.append(self.where())
        with contextlib.suppress(OSError):
            request.sendall(SHUTDOWN)
        super().shutdown_request(request)  # type: ignore[misc]

    def close_request(self, request: Any) -> None:
        self.closes.append(self.where())
        super().close_request(request)  # type: ignore[misc]


class ThreadServer(Recording, ThreadingTCPServer):
    """impl's ThreadingTCPServer, recording its handler threads, hooks and handler exits."""

    def __init__(self) -> None:
        Recording.__init__(self)
        ThreadingTCPServer.__init__(self, (HOST, 0), HoldingHandler)
        self.timeout = DEADLINE  # handle_request() waits at most this long for a connection
        self.handler_threads: queue.Queue[threading.Thread] = queue.Queue()
        self.log: list[tuple[str, threading.Thread]] = []  # list.append is atomic
        self.closes_from_handler: list[BaseException | None] = []

    def where(self) -> threading.Thread:
        return threading.current_thread()

    def on_enter(self) -> None:
        self.handler_threads.put(threading.current_thread())

    def on_exit(self) -> None:
        self.log.append(("exit", threading.current_thread()))

    def close_from_handler(self) -> None:
        try:
            self.server_close()
        except BaseException as exc:
            self.closes_from_handler.append(exc)
        else:
            self.closes_from_handler.append(None)


class ForkServer(Recording, ForkingTCPServer):
    """impl's ForkingTCPServer; its children report their hook calls to their clients."""

    def __init__(self) -> None:
        Recording.__init__(self)
        ForkingTCPServer.__init__(self, (HOST, 0), HoldingHandler)
        self.timeout = DEADLINE

    def where(self) -> int:
        return os.getpid()

    def on_enter(self) -> None:
        pass

    def on_exit(self) -> None:
        pass

    def close_from_handler(self) -> None:
        raise AssertionError("not used with forks")


@attrs.define
class Request:
    """One accepted connection: the test's client socket and the worker that handles it."""

    client: socket.socket
    thread: threading.Thread | None = None
    pid: int | None = None

    def send(self, word: bytes) -> None:
        self.client.sendall(word)

    def read_to_eof(self) -> bytes:
        """Everything the server side still sends, up to EOF (bounded by the socket timeout)."""
        data = b""
        while chunk := self.client.recv(64):
            data += chunk
        return data


class Closer:
    """server_close() on a thread of its own, so the test can see whether it blocks."""

    def __init__(self, server: socketserver.BaseServer, log: list | None = None) -> None:
        self.server = server
        self.log = log
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="test-server_close")
        self.thread.start()

    def _run(self) -> None:
        try:
            self.server.server_close()
        except BaseException as exc:
            self.error = exc
        finally:
            if self.log is not None:
                self.log.append(("closed", self.thread))

    def returns(self) -> bool:
        """Wait (bounded) for server_close() to return."""
        self.thread.join(DEADLINE)
        return not self.thread.is_alive()

    def settle(self, blocked: Callable[[threading.Thread], bool]) -> None:
        settle(self.thread, blocked)


def settle(thread: threading.Thread, blocked: Callable[[threading.Thread], bool]) -> None:
    """Wait (bounded) until `thread` has ended or `blocked(thread)` says it is parked for good.

    The deadline only bounds the wait: the test then asserts which of the two happened.
    """
    end = time.monotonic() + DEADLINE
    while thread.is_alive() and not blocked(thread) and time.monotonic() < end:
        thread.join(0.001)


def joining(thread: threading.Thread) -> bool:
    """`thread` is inside Thread.join(): joining a held handler thread, it cannot go on."""
    frame = sys._current_frames().get(thread.ident)  # type: ignore[arg-type]
    while frame is not None:
        if frame.f_code.co_name == "join" and frame.f_code.co_filename == threading.__file__:
            return True
        frame = frame.f_back
    return False


def waiting_for_a_child(thread: threading.Thread) -> bool:
    """`thread` sleeps in the kernel's wait for a child (waitpid without WNOHANG, Linux)."""
    try:
        wchan = Path(f"/proc/self/task/{thread.native_id}/wchan").read_text()
    except OSError:
        return False
    return wchan.strip() == "do_wait"


def child_state(pid: int) -> str:
    """running, zombie or reaped: waitid(WNOWAIT) never reaps on the server's behalf."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return "reaped"
    return "running" if info is None else "zombie"


def wait_child_exit(pid: int, timeout: float = DEADLINE) -> str:
    """Wait (bounded) until the child has exited, without reaping it; return its state."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return child_state(pid)
    try:
        select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    return child_state(pid)


def exit_status(pid: int) -> int:
    """The exit code of an exited, unreaped child, leaving it unreaped."""
    info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    assert info is not None
    assert info.si_code == os.CLD_EXITED
    return info.si_status


def reap(pid: int) -> int:
    """Wait (bounded) for our own child to exit, reap it, and return its exit code."""
    assert wait_child_exit(pid) == "zombie"
    reaped, status = os.waitpid(pid, os.WNOHANG)
    assert reaped == pid
    return os.waitstatus_to_exitcode(status)


class Harness:
    def __init__(self) -> None:
        self.servers: list[socketserver.BaseServer] = []
        self.requests: list[Request] = []
        self.closers: list[Closer] = []

    def thread_server(self) -> ThreadServer:
        server = ThreadServer()
        self.servers.append(server)
        return server

    def fork_server(self) -> ForkServer:
        server = ForkServer()
        self.servers.append(server)
        return server

    def connect(self, server: ThreadServer | ForkServer) -> Request:
        """Connect a client, let handle_request() spawn its worker, and wait until it is held."""
        client = socket.create_connection(server.server_address[:2], timeout=DEADLINE)
        request = Request(client)
        self.requests.append(request)
        children = set(server.active_children or ()) if isinstance(server, ForkServer) else set()
        server.handle_request()
        if isinstance(server, ForkServer):
            (request.pid,) = set(server.active_children or ()) - children
        else:
            request.thread = server.handler_threads.get(timeout=DEADLINE)
        assert client.recv(1) == ENTERED
        return request

    def close_in_thread(self, server: socketserver.BaseServer, log: list | None = None) -> Closer:
        closer = Closer(server, log)
        self.closers.append(closer)
        return closer

    def cleanup(self) -> None:
        for request in self.requests:  # release whatever is still held
            with contextlib.suppress(OSError):
                request.send(RETURN)
            request.client.close()
        for closer in self.closers:
            closer.thread.join(DEADLINE)
        for server in self.servers:
            server.block_on_close = False  # type: ignore[attr-defined]  # the waits are ours
            server.server_close()
        for request in self.requests:
            if request.thread is not None:
                request.thread.join(DEADLINE)
            if request.pid is not None and child_state(request.pid) != "reaped":
                if wait_child_exit(request.pid) == "running":
                    os.kill(request.pid, signal.SIGKILL)
                    wait_child_exit(request.pid)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(request.pid, os.WNOHANG)
