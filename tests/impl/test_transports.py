"""impl's servers on UDP, Unix datagram and Unix stream sockets.

A datagram worker answers through the server's own socket: a forked child keeps its copy of
it, so the socket outlives server_close() while a child is held. A stream child has no use
for the listening socket and closes its copy: a closed Unix stream server refuses at once.
"""

from __future__ import annotations

import os
import socket
import socketserver
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from impl import ForkingMixIn
from tests.impl.impl_harness import (
    ANSWER,
    DEADLINE,
    ERROR,
    HOST,
    RAISE,
    RETURN,
    SHUTDOWN,
    ForkUDPServer,
    ForkUnixDatagramServer,
    ForkUnixStreamServer,
    Harness,
    Request,
    ThreadUDPServer,
    ThreadUnixDatagramServer,
    ThreadUnixStreamServer,
    blocked_in_close,
    child_state,
    exit_status,
    reap,
    sockets_dir,
    unix_stream_connect,
    wait_child_exit,
)

THREAD_DATAGRAM = [
    pytest.param(ThreadUDPServer, id="ThreadingUDPServer"),
    pytest.param(ThreadUnixDatagramServer, id="ThreadingUnixDatagramServer"),
]
FORK_DATAGRAM = [
    pytest.param(ForkUDPServer, id="ForkingUDPServer"),
    pytest.param(ForkUnixDatagramServer, id="ForkingUnixDatagramServer"),
]
DATAGRAM = THREAD_DATAGRAM + FORK_DATAGRAM
UNIX_STREAM = [
    pytest.param(ThreadUnixStreamServer, id="ThreadingUnixStreamServer"),
    pytest.param(ForkUnixStreamServer, id="ForkingUnixStreamServer"),
]


@pytest.fixture(name="sockets_dir")
def sockets_dir_fixture(tmp_path: Path) -> Iterator[Path]:
    """A directory for this test's Unix socket files, short enough for AF_UNIX paths."""
    with sockets_dir(tmp_path) as folder:
        yield folder


def datagram_server(harness: Harness, cls: type, sockets_dir: Path) -> tuple[Any, socket.socket]:
    """A recording datagram server of class `cls`, and a client it can answer."""
    unix = issubclass(cls, socketserver.UnixDatagramServer)
    server = harness.server(cls, str(sockets_dir / "srv") if unix else (HOST, 0))
    client = harness.datagram_client(server, str(sockets_dir / "cli") if unix else None)
    return server, client


def forks(server: Any) -> bool:
    return isinstance(server, ForkingMixIn)


def finish(request: Request, exit_code: int = 0) -> None:
    """Wait (bounded) for a released worker to end; reap a child, which nobody else will."""
    if request.thread is not None:
        request.thread.join(DEADLINE)
        assert not request.thread.is_alive()
    else:
        assert request.pid is not None
        assert reap(request.pid) == exit_code


def assert_answered(request: Request, server: Any) -> None:
    """The handler's answer came from the server's address: it went through the server's socket."""
    assert request.sender is not None
    assert request.sender.recvfrom(64) == (ANSWER + (request.data or b""), server.server_address)


# Datagram servers: UDP and Unix datagram, thread and fork.


@pytest.mark.parametrize("cls", DATAGRAM)
def test_datagram_request_reaches_a_held_handler_which_answers_through_the_server_socket(
    harness: Harness, sockets_dir: Path, cls: type
) -> None:
    server, client = datagram_server(harness, cls, sockets_dir)
    held = harness.send(server, client)  # returns once the handler got the datagram and waits
    assert held.running()

    held.send(RETURN)
    assert held.read_to_eof() == SHUTDOWN  # shut down once, no handle_error: it did answer
    assert_answered(held, server)
    finish(held)
    assert server.errors == []
    if forks(server):
        assert server.closes == [os.getpid()]  # the parent let go of its copy, once
    else:
        assert (server.shutdowns, server.closes) == ([held.thread], [held.thread])


@pytest.mark.parametrize("cls", DATAGRAM)
def test_datagram_server_close_waits_for_a_held_worker(
    harness: Harness, sockets_dir: Path, cls: type
) -> None:
    server, client = datagram_server(harness, cls, sockets_dir)
    held = harness.send(server, client)

    closer = harness.close_in_thread(server)
    closer.settle(blocked_in_close(server))
    assert closer.thread.is_alive(), "server_close() returned while a handler was held"
    assert held.running()

    held.send(RETURN)
    assert closer.returns()
    assert closer.error is None
    assert not held.running()  # joined or reaped before server_close() returned
    if forks(server):
        assert held.pid is not None
        assert child_state(held.pid) == "reaped"
        assert server.active_children == set()
        assert held.read_to_eof() == SHUTDOWN
        assert_answered(held, server)  # through the child's copy of the closed socket
    else:
        # the thread shares the socket server_close() closed before waiting: its answer fails
        assert held.read_to_eof() == ERROR + SHUTDOWN
        assert server.errors == [held.thread]


@pytest.mark.parametrize("cls", DATAGRAM)
def test_datagram_server_close_with_block_on_close_false_returns_while_a_worker_is_held(
    harness: Harness, sockets_dir: Path, cls: type
) -> None:
    server, client = datagram_server(harness, cls, sockets_dir)
    server.block_on_close = False
    held = harness.send(server, client)

    closer = harness.close_in_thread(server)
    assert closer.returns(), "server_close() waited although block_on_close was false"
    assert closer.error is None
    assert held.running()

    held.send(RETURN)
    if forks(server):
        assert held.read_to_eof() == SHUTDOWN
        assert_answered(held, server)  # the held child still had the server's socket
    else:
        assert held.read_to_eof() == ERROR + SHUTDOWN  # its answer met the closed socket
    finish(held)  # nobody else reaps the child: the test does


@pytest.mark.parametrize("cls", DATAGRAM)
def test_datagram_handler_exception_calls_handle_error_once(
    harness: Harness, sockets_dir: Path, cls: type
) -> None:
    server, client = datagram_server(harness, cls, sockets_dir)
    held = harness.send(server, client)

    held.send(RAISE)
    assert held.read_to_eof() == ERROR + SHUTDOWN  # handle_error once, then shut down
    if forks(server):
        assert held.pid is not None
        assert wait_child_exit(held.pid) == "zombie"
        assert exit_status(held.pid) == 1
        assert server.errors == []  # it ran in the child, never in the server process
        finish(held, exit_code=1)
    else:
        finish(held)
        assert server.errors == [held.thread]  # in the handler's own thread
        assert server.shutdowns == [held.thread]


def test_ForkingUnixDatagramServer_closed_server_accepts_datagrams_until_its_held_child_is_reaped(
    harness: Harness, sockets_dir: Path
) -> None:
    server, client = datagram_server(harness, ForkUnixDatagramServer, sockets_dir)
    server.block_on_close = False
    path = server.server_address
    held = harness.send(server, client)
    assert held.pid is not None

    server.server_close()
    assert server.socket.fileno() == -1
    assert child_state(held.pid) == "running"
    # the child's copy of the server socket is still bound to the path: the kernel queues this
    assert client.sendto(b"after close", path) == len(b"after close")

    held.send(RETURN)
    assert held.read_to_eof() == SHUTDOWN
    assert_answered(held, server)
    assert reap(held.pid) == 0
    with pytest.raises(ConnectionRefusedError):  # the last copy is gone with the child
        client.sendto(b"after reap", path)


def test_ThreadingUnixDatagramServer_closed_server_refuses_datagrams_at_once_though_a_handler_is_held(
    harness: Harness, sockets_dir: Path
) -> None:
    server, client = datagram_server(harness, ThreadUnixDatagramServer, sockets_dir)
    server.block_on_close = False
    path = server.server_address
    held = harness.send(server, client)

    server.server_close()  # the handler thread shares the one socket this closes
    assert held.running()
    with pytest.raises(ConnectionRefusedError):
        client.sendto(b"after close", path)

    held.send(RETURN)
    finish(held)
    assert held.read_to_eof() == ERROR + SHUTDOWN  # its answer met the closed socket


# Unix stream servers, thread and fork.


@pytest.mark.parametrize("cls", UNIX_STREAM)
def test_unix_stream_server_close_waits_for_a_held_handler(
    harness: Harness, sockets_dir: Path, cls: type
) -> None:
    server = harness.server(cls, str(sockets_dir / "srv"))
    held = harness.connect(server)

    closer = harness.close_in_thread(server)
    closer.settle(blocked_in_close(server))
    assert closer.thread.is_alive(), "server_close() returned while a handler was held"
    assert held.running()

    held.send(RETURN)
    assert closer.returns()
    assert closer.error is None
    assert not held.running()  # joined or reaped before server_close() returned
    if forks(server):
        assert held.pid is not None
        assert child_state(held.pid) == "reaped"
        assert server.active_children == set()
    assert held.read_to_eof() == SHUTDOWN
    assert server.errors == []


@pytest.mark.parametrize("cls", UNIX_STREAM)
def test_unix_stream_server_close_with_block_on_close_false_returns_while_a_handler_is_held(
    harness: Harness, sockets_dir: Path, cls: type
) -> None:
    server = harness.server(cls, str(sockets_dir / "srv"))
    server.block_on_close = False
    held = harness.connect(server)

    closer = harness.close_in_thread(server)
    assert closer.returns(), "server_close() waited although block_on_close was false"
    assert closer.error is None
    assert held.running()

    held.send(RETURN)
    assert held.read_to_eof() == SHUTDOWN
    finish(held)


@pytest.mark.parametrize("cls", UNIX_STREAM)
def test_closed_unix_stream_server_refuses_connections_while_a_handler_is_held(
    harness: Harness, sockets_dir: Path, cls: type
) -> None:
    # For the fork server this rests on the child closing its copy of the listening socket:
    # under CPython the held child keeps it, and the kernel would still queue the connection.
    server = harness.server(cls, str(sockets_dir / "srv"))
    server.block_on_close = False
    path = server.server_address
    held = harness.connect(server)

    server.server_close()
    assert held.running()
    with pytest.raises(ConnectionRefusedError):
        unix_stream_connect(path).close()

    held.send(RETURN)
    assert held.read_to_eof() == SHUTDOWN
    finish(held)
