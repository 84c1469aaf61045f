"""The harness for impl's servers: real sockets on 127.0.0.1, real threads and children.

The handler holds every request: it says b"+" to its client once it is inside handle(), then
waits for one byte from the client (b"." to return, b"!" to raise, b"c" to call
server_close() itself). The servers record their hook calls, and report them to the client
too, so a child's calls can be seen from the test (see `Recording`).

A datagram request is (data, server socket): there is no connection to wait on. The test
then pairs each datagram with a control channel, a socketpair made before the datagram is
sent (so a forked child inherits it), and the datagram handler talks on it exactly as the
stream handler talks on its connection (see `DatagramRecording`). On b"." it also answers
the datagram through the server socket.

Every wait has a deadline; no verdict rests on one: a blocking call is judged blocked only
once it is parked where it cannot return by itself (inside Thread.join() of a held thread,
or asleep in the kernel's wait for a running child).
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import shutil
import signal
import socket
import socketserver
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import attrs

from impl import (
    ForkingMixIn,
    ForkingTCPServer,
    ForkingUDPServer,
    ForkingUnixDatagramServer,
    ForkingUnixStreamServer,
    ThreadingTCPServer,
    ThreadingUDPServer,
    ThreadingUnixDatagramServer,
    ThreadingUnixStreamServer,
)

HOST = "127.0.0.1"
DEADLINE = 5.0  # bounds every wait; a correct server is far faster

ENTERED = b"+"  # handler -> client: handle() is running and waits for a word
RETURN = b"."  # client -> handler: return from handle()
RAISE = b"!"  # client -> handler: raise HandlerRaised
CLOSE = b"c"  # client -> handler: call server_close() from the handler, then return
EXIT = b"x"  # client -> handler: raise SystemExit
MAX_SOCKETS_DIR = 96  # bytes: sun_path holds 107, and the names in it are short
ERROR = b"E"  # server -> client: handle_error ran (see Recording)
SHUTDOWN = b"S"  # server -> client: shutdown_request ran (see Recording)
ANSWER = b"A"  # datagram handler -> datagram client, before the request's data, on b"."


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
        if word == EXIT:
            raise SystemExit("raised on purpose")
        if word == CLOSE:
            self.server.close_from_handler()
        self.server.on_exit()


class DatagramHoldingHandler(socketserver.BaseRequestHandler):
    """HoldingHandler for a datagram server: it waits on the request's control channel."""

    server: Any

    def handle(self) -> None:
        data, server_socket = self.request
        control = self.server.control(self.request)
        control.settimeout(DEADLINE)  # a backstop: every test releases its handlers
        self.server.on_enter()
        control.sendall(ENTERED)
        word = control.recv(1)
        if word == RAISE:
            raise HandlerRaised("raised on purpose")
        server_socket.sendto(ANSWER + data, self.client_address)  # through the server's socket
        self.server.on_exit()


class Recording:
    """Records each hook call where it ran, and tells the client.

    Each call appends the thread (thread server) or pid (fork server) it ran in. A forked
    child appends to its own copy, which the test never sees, so every call also sends a byte
    to the request's client: b"E" for handle_error, b"S" for shutdown_request. What the client
    reads after b"+" is then exactly what the worker did, up to EOF.
    """

    def __init__(self, address: Any, handler: type[socketserver.BaseRequestHandler]) -> None:
        self.errors: list[Any] = []  # handle_error
        self.shutdowns: list[Any] = []  # shutdown_request
        self.closes: list[Any] = []  # close_request (shutdown_request calls it too)
        super().__init__(address, handler)  # type: ignore[call-arg]  # the impl server class
        self.timeout = DEADLINE  # handle_request() waits at most this long for a request

    def where(self) -> Any:
        raise NotImplementedError

    def report(self, request: Any, word: bytes) -> None:
        """Tell the request's client that a hook ran."""
        with contextlib.suppress(OSError):
            request.sendall(word)

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.errors.append(self.where())
        self.report(request, ERROR)

    def shutdown_request(self, request: Any) -> None:
        self.shutdowns.append(self.where())
        self.report(request, SHUTDOWN)
        super().shutdown_request(request)  # type: ignore[misc]

    def close_request(self, request: Any) -> None:
        self.closes.append(self.where())
        super().close_request(request)  # type: ignore[misc]


class DatagramRecording(Recording):
    """Recording for a datagram server: hooks report on the request's control channel.

    The test registers its worker's end of a socketpair in `controls` under the datagram's
    data before sending it. close_request() closes this process's copy of that end: the
    parent's right after a fork, the worker's own once the request is shut down; the test's
    end then reads EOF once the worker is done, as a stream client would.
    """

    def __init__(self, address: Any, handler: type[socketserver.BaseRequestHandler]) -> None:
        self.controls: dict[bytes, socket.socket] = {}
        super().__init__(address, handler)

    def control(self, request: Any) -> socket.socket:
        data, _ = request
        return self.controls[data]

    def report(self, request: Any, word: bytes) -> None:
        with contextlib.suppress(OSError):
            self.control(request).sendall(word)

    def close_request(self, request: Any) -> None:
        super().close_request(request)
        self.control(request).close()


class ThreadRecording(Recording):
    """Recording for a thread server: its handler threads, hooks and handler exits."""

    def __init__(self, address: Any, handler: type[socketserver.BaseRequestHandler]) -> None:
        self.handler_threads: queue.Queue[threading.Thread] = queue.Queue()
        self.log: list[tuple[str, threading.Thread]] = []  # list.append is atomic
        self.closes_from_handler: list[BaseException | None] = []
        super().__init__(address, handler)

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


class ForkRecording(Recording):
    """Recording for a fork server; its children report their hook calls to their clients."""

    def where(self) -> int:
        return os.getpid()

    def on_enter(self) -> None:
        pass

    def on_exit(self) -> None:
        pass

    def close_from_handler(self) -> None:
        raise AssertionError("not used with forks")


class ThreadServer(ThreadRecording, ThreadingTCPServer):
    """impl's ThreadingTCPServer, recording its handler threads, hooks and handler exits."""

    def __init__(self) -> None:
        super().__init__((HOST, 0), HoldingHandler)


class ForkServer(ForkRecording, ForkingTCPServer):
    """impl's ForkingTCPServer; its children report their hook calls to their clients."""

    def __init__(self) -> None:
        super().__init__((HOST, 0), HoldingHandler)


# The other transports: build them with Harness.server(cls, address).
class ThreadUnixStreamServer(ThreadRecording, ThreadingUnixStreamServer):
    """impl's ThreadingUnixStreamServer, recording like ThreadServer."""


class ForkUnixStreamServer(ForkRecording, ForkingUnixStreamServer):
    """impl's ForkingUnixStreamServer, recording like ForkServer."""


class ThreadUDPServer(DatagramRecording, ThreadRecording, ThreadingUDPServer):
    """impl's ThreadingUDPServer, recording like ThreadServer, reporting on control channels."""


class ForkUDPServer(DatagramRecording, ForkRecording, ForkingUDPServer):
    """impl's ForkingUDPServer, recording like ForkServer, reporting on control channels."""


class ThreadUnixDatagramServer(DatagramRecording, ThreadRecording, ThreadingUnixDatagramServer):
    """impl's ThreadingUnixDatagramServer, recording like ThreadServer, on control channels."""


class ForkUnixDatagramServer(DatagramRecording, ForkRecording, ForkingUnixDatagramServer):
    """impl's ForkingUnixDatagramServer, recording like ForkServer, on control channels."""


@attrs.define
class Request:
    """One request: the test's end of it and the worker that handles it.

    For a stream server `client` is the connection; for a datagram server it is the test's
    end of the request's control channel, and `data` the datagram that `sender` sent.
    """

    client: socket.socket
    thread: threading.Thread | None = None
    pid: int | None = None
    sender: socket.socket | None = None
    data: bytes | None = None

    def running(self) -> bool:
        """The worker still runs: its thread is alive, or its child has not exited."""
        if self.thread is not None:
            return self.thread.is_alive()
        assert self.pid is not None
        return child_state(self.pid) == "running"

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


def blocked_in_close(server: socketserver.BaseServer) -> Callable[[threading.Thread], bool]:
    """What server_close() is parked in when it waits for a held worker of `server`."""
    return waiting_for_a_child if isinstance(server, ForkingMixIn) else joining


def unix_stream_connect(path: str) -> socket.socket:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.settimeout(DEADLINE)
        client.connect(path)
    except BaseException:
        client.close()
        raise
    return client


S = TypeVar("S", bound=Recording)


class Harness:
    def __init__(self) -> None:
        self.servers: list[socketserver.BaseServer] = []
        self.requests: list[Request] = []
        self.closers: list[Closer] = []
        self.sockets: list[socket.socket] = []  # closed last, once every worker has ended

    def thread_server(self) -> ThreadServer:
        server = ThreadServer()
        self.servers.append(server)
        return server

    def fork_server(self) -> ForkServer:
        server = ForkServer()
        self.servers.append(server)
        return server

    def server(self, cls: type[S], address: Any) -> S:
        """A recording server of class `cls` (one of the above) bound to `address`."""
        datagrams = issubclass(cls, DatagramRecording)
        server = cls(address, DatagramHoldingHandler if datagrams else HoldingHandler)
        self.servers.append(server)  # type: ignore[arg-type]
        return server

    def connect(self, server: Any) -> Request:
        """Connect a client, let handle_request() spawn its worker, and wait until it is held."""
        if server.address_family == socket.AF_UNIX:
            client = unix_stream_connect(server.server_address)
        else:
            client = socket.create_connection(server.server_address[:2], timeout=DEADLINE)
        request = Request(client)
        self.requests.append(request)
        self._spawn(server, request)
        return request

    def datagram_client(self, server: Any, path: str | None = None) -> socket.socket:
        """A datagram socket of the server's family; a Unix one must be bound to get answers."""
        client = socket.socket(server.address_family, socket.SOCK_DGRAM)
        self.sockets.append(client)
        client.settimeout(DEADLINE)
        if path is not None:
            client.bind(path)
        return client

    def send(self, server: Any, sender: socket.socket) -> Request:
        """Send a datagram, let handle_request() spawn its worker, and wait until it is held."""
        data = f"request-{len(self.requests)}".encode()
        ours, theirs = socket.socketpair()
        self.sockets.append(theirs)  # the server closes it; this is for a failing test
        ours.settimeout(DEADLINE)
        request = Request(ours, sender=sender, data=data)
        self.requests.append(request)
        server.controls[data] = theirs
        sender.sendto(data, server.server_address)
        self._spawn(server, request)
        return request

    def _spawn(self, server: Any, request: Request) -> None:
        forks = isinstance(server, ForkingMixIn)
        children = set(server.active_children or ()) if forks else set()
        server.handle_request()
        if forks:
            (request.pid,) = set(server.active_children or ()) - children
        else:
            request.thread = server.handler_threads.get(timeout=DEADLINE)
        assert request.client.recv(1) == ENTERED

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
        for sock in self.sockets:
            sock.close()


@contextlib.contextmanager
def sockets_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory for Unix socket files, short enough for AF_UNIX paths (sun_path: 107)."""
    if len(os.fsencode(tmp_path)) <= MAX_SOCKETS_DIR:
        yield tmp_path
        return
    short = Path(tempfile.mkdtemp(prefix="sc-"))
    try:
        yield short
    finally:
        shutil.rmtree(short)
