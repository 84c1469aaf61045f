"""impl.ForkingTCPServer on real sockets: waiting for, reaping and letting go of children."""

from __future__ import annotations

import os
import socket

import pytest

from tests.impl.impl_harness import (
    DEADLINE,
    ERROR,
    RAISE,
    RETURN,
    SHUTDOWN,
    Harness,
    child_state,
    exit_status,
    reap,
    wait_child_exit,
    waiting_for_a_child,
)


def test_ForkingTCPServer_close_waits_for_a_held_child_and_reaps_it(harness: Harness) -> None:
    server = harness.fork_server()
    held = harness.connect(server)
    assert held.pid is not None
    assert server.active_children == {held.pid}
    assert server.closes == [os.getpid()]  # the parent closed its copy of the request, once

    closer = harness.close_in_thread(server)
    closer.settle(waiting_for_a_child)
    assert closer.thread.is_alive(), "server_close() returned while a child was held"
    assert child_state(held.pid) == "running"

    held.send(RETURN)
    assert closer.returns()
    assert closer.error is None
    assert child_state(held.pid) == "reaped"  # no zombie left behind
    with pytest.raises(ChildProcessError):
        os.waitid(os.P_PID, held.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    assert server.active_children == set()
    assert held.read_to_eof() == SHUTDOWN  # the child shut the request down
    assert (server.errors, server.shutdowns, server.closes) == ([], [], [os.getpid()])


def test_ForkingTCPServer_close_reaps_a_finished_child_while_it_waits_for_a_held_one(
    harness: Harness,
) -> None:
    server = harness.fork_server()
    finished, held = harness.connect(server), harness.connect(server)
    assert finished.pid is not None
    assert held.pid is not None
    finished.send(RETURN)
    assert wait_child_exit(finished.pid) == "zombie"

    closer = harness.close_in_thread(server)
    closer.settle(waiting_for_a_child)
    assert closer.thread.is_alive()
    assert child_state(held.pid) == "running"

    held.send(RETURN)
    assert closer.returns()
    assert closer.error is None
    assert (child_state(finished.pid), child_state(held.pid)) == ("reaped", "reaped")
    assert server.active_children == set()


def test_ForkingTCPServer_close_with_block_on_close_false_returns_while_a_child_is_held(
    harness: Harness,
) -> None:
    server = harness.fork_server()
    server.block_on_close = False
    held = harness.connect(server)
    assert held.pid is not None

    closer = harness.close_in_thread(server)
    assert closer.returns(), "server_close() waited although block_on_close was false"
    assert closer.error is None
    assert child_state(held.pid) == "running"

    held.send(RETURN)
    assert reap(held.pid) == 0  # nobody else reaps it: the test does
    assert held.read_to_eof() == SHUTDOWN


def test_ForkingTCPServer_close_with_block_on_close_false_reaps_a_finished_child(
    harness: Harness,
) -> None:
    server = harness.fork_server()
    server.block_on_close = False
    finished = harness.connect(server)
    assert finished.pid is not None
    finished.send(RETURN)
    assert wait_child_exit(finished.pid) == "zombie"

    server.server_close()  # non-blocking: it returns at once, reaping what has exited
    assert child_state(finished.pid) == "reaped"
    assert server.active_children == set()


def test_ForkingTCPServer_second_close_reads_block_on_close_again(harness: Harness) -> None:
    server = harness.fork_server()
    server.block_on_close = False
    held = harness.connect(server)
    assert held.pid is not None
    first = harness.close_in_thread(server)
    assert first.returns()
    assert child_state(held.pid) == "running"

    server.block_on_close = True
    second = harness.close_in_thread(server)
    second.settle(waiting_for_a_child)
    assert second.thread.is_alive(), "the second server_close() did not wait for the held child"

    held.send(RETURN)
    assert second.returns()
    assert second.error is None
    assert child_state(held.pid) == "reaped"


def test_ForkingTCPServer_closed_server_refuses_connections_while_a_child_runs(
    harness: Harness,
) -> None:
    server = harness.fork_server()
    server.block_on_close = False
    address = server.server_address[:2]
    held = harness.connect(server)  # its child closed its copy of the listening socket
    assert held.pid is not None

    server.server_close()
    assert child_state(held.pid) == "running"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=DEADLINE).close()

    held.send(RETURN)
    assert reap(held.pid) == 0


def test_ForkingTCPServer_handler_exception_calls_handle_error_once_in_the_child(
    harness: Harness,
) -> None:
    server = harness.fork_server()
    raising, returning = harness.connect(server), harness.connect(server)
    assert raising.pid is not None
    assert returning.pid is not None

    raising.send(RAISE)
    returning.send(RETURN)
    assert raising.read_to_eof() == ERROR + SHUTDOWN  # handle_error ran once, in the child
    assert returning.read_to_eof() == SHUTDOWN
    assert wait_child_exit(raising.pid) == "zombie"
    assert wait_child_exit(returning.pid) == "zombie"
    assert (exit_status(raising.pid), exit_status(returning.pid)) == (1, 0)
    assert server.errors == []  # never in the server process
    assert server.shutdowns == []
    assert server.closes == [os.getpid()] * 2  # the parent's own copies, once each

    server.server_close()
    assert (child_state(raising.pid), child_state(returning.pid)) == ("reaped", "reaped")
