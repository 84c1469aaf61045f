"""impl.ThreadingTCPServer on real sockets: which handler threads server_close() waits for."""

from __future__ import annotations

from impl import ThreadingMixIn
from tests.impl.impl_harness import CLOSE, ERROR, RAISE, RETURN, SHUTDOWN, Harness, joining, settle


def test_ThreadingTCPServer_close_waits_for_a_held_handler_thread(harness: Harness) -> None:
    server = harness.thread_server()
    held = harness.connect(server)
    assert held.thread is not None
    assert held.thread.daemon is False

    closer = harness.close_in_thread(server, server.log)
    closer.settle(joining)
    assert closer.thread.is_alive(), "server_close() returned while a non-daemon handler was held"
    assert held.thread.is_alive()
    assert server.socket.fileno() == -1  # the listening socket is closed before the wait

    held.send(RETURN)
    assert closer.returns()
    assert closer.error is None
    assert not held.thread.is_alive()  # joined: it ended before server_close() returned
    assert server.log == [("exit", held.thread), ("closed", closer.thread)]
    assert held.read_to_eof() == SHUTDOWN
    assert (server.errors, server.shutdowns, server.closes) == ([], [held.thread], [held.thread])


def test_ThreadingTCPServer_close_waits_for_every_non_daemon_handler(harness: Harness) -> None:
    server = harness.thread_server()
    first, second = harness.connect(server), harness.connect(server)

    closer = harness.close_in_thread(server, server.log)
    closer.settle(joining)
    first.send(RETURN)
    assert first.thread is not None
    first.thread.join(5)
    assert not first.thread.is_alive()
    closer.settle(joining)  # on to the second thread
    assert closer.thread.is_alive(), "server_close() returned while the second handler was held"

    second.send(RAISE)
    assert closer.returns()
    assert closer.error is None
    assert server.log == [("exit", first.thread), ("closed", closer.thread)]  # raising: no "exit"
    assert server.errors == [second.thread]
    assert (first.read_to_eof(), second.read_to_eof()) == (SHUTDOWN, ERROR + SHUTDOWN)


def test_ThreadingTCPServer_close_does_not_wait_when_block_on_close_is_false_at_close(
    harness: Harness,
) -> None:
    # block_on_close is true when the thread is spawned and false when server_close() is
    # called: impl reads it at close, as documented (CPython 3.8.9+ latched it at the spawn
    # and waits).
    server = harness.thread_server()
    assert server.block_on_close is True
    held = harness.connect(server)
    server.block_on_close = False

    closer = harness.close_in_thread(server, server.log)
    assert closer.returns(), "server_close() waited although block_on_close was false at close"
    assert closer.error is None
    assert held.thread is not None
    assert held.thread.is_alive()
    assert server.log == [("closed", closer.thread)]

    held.send(RETURN)
    held.thread.join(5)
    assert not held.thread.is_alive()
    assert server.log == [("closed", closer.thread), ("exit", held.thread)]


def test_ThreadingTCPServer_close_waits_when_block_on_close_is_true_only_at_close(
    harness: Harness,
) -> None:
    server = harness.thread_server()
    server.block_on_close = False
    held = harness.connect(server)
    server.block_on_close = True

    closer = harness.close_in_thread(server, server.log)
    closer.settle(joining)
    assert closer.thread.is_alive(), "server_close() did not read block_on_close at close"

    held.send(RETURN)
    assert closer.returns()
    assert server.log == [("exit", held.thread), ("closed", closer.thread)]


def test_ThreadingTCPServer_second_close_waits_for_a_thread_the_first_left_running(
    harness: Harness,
) -> None:
    server = harness.thread_server()
    held = harness.connect(server)
    server.block_on_close = False
    first = harness.close_in_thread(server, server.log)
    assert first.returns()

    server.block_on_close = True
    second = harness.close_in_thread(server, server.log)
    second.settle(joining)
    assert second.thread.is_alive(), "the second server_close() did not wait for the running handler"

    held.send(RETURN)
    assert second.returns()
    assert second.error is None
    assert server.log == [("closed", first.thread), ("exit", held.thread), ("closed", second.thread)]


def test_ThreadingTCPServer_close_never_waits_for_a_daemon_thread(harness: Harness) -> None:
    server = harness.thread_server()
    server.daemon_threads = True
    held = harness.connect(server)
    assert held.thread is not None
    assert held.thread.daemon is True

    closer = harness.close_in_thread(server, server.log)
    assert closer.returns(), "server_close() waited for a daemon thread"
    assert closer.error is None
    assert held.thread.is_alive()

    held.send(RETURN)
    held.thread.join(5)
    assert not held.thread.is_alive()
    assert server.log == [("closed", closer.thread), ("exit", held.thread)]


def test_ThreadingTCPServer_close_waits_for_the_non_daemon_thread_only(harness: Harness) -> None:
    server = harness.thread_server()
    server.daemon_threads = True
    daemon = harness.connect(server)
    server.daemon_threads = False
    worker = harness.connect(server)
    assert daemon.thread is not None
    assert worker.thread is not None
    assert (daemon.thread.daemon, worker.thread.daemon) == (True, False)

    closer = harness.close_in_thread(server, server.log)
    closer.settle(joining)
    assert closer.thread.is_alive()

    worker.send(RETURN)
    assert closer.returns()
    assert daemon.thread.is_alive()  # still held: server_close() returned without it
    assert server.log == [("exit", worker.thread), ("closed", closer.thread)]

    daemon.send(RETURN)
    daemon.thread.join(5)
    assert not daemon.thread.is_alive()


def test_ThreadingTCPServer_daemon_is_daemon_threads_at_spawn(harness: Harness) -> None:
    server = harness.thread_server()
    server.daemon_threads = True
    first = harness.connect(server)
    server.daemon_threads = False
    second = harness.connect(server)
    server.daemon_threads = True
    assert first.thread is not None
    assert second.thread is not None
    assert (first.thread.daemon, second.thread.daemon) == (True, False)
    assert ThreadingMixIn.daemon_threads is False  # set on the instance only


def test_ThreadingTCPServer_close_from_a_handler_thread_does_not_raise(harness: Harness) -> None:
    server = harness.thread_server()
    held = harness.connect(server)
    assert held.thread is not None

    held.send(CLOSE)  # the handler calls server.server_close() itself, then returns
    held.thread.join(5)
    assert not held.thread.is_alive()
    assert server.closes_from_handler == [None]
    assert server.socket.fileno() == -1
    assert server.log == [("exit", held.thread)]
    assert server.errors == []
    assert server.shutdowns == [held.thread]
    assert held.read_to_eof() == SHUTDOWN


def test_ThreadingTCPServer_close_from_a_handler_waits_for_the_other_handlers(harness: Harness) -> None:
    server = harness.thread_server()
    closing, other = harness.connect(server), harness.connect(server)
    assert closing.thread is not None
    assert other.thread is not None

    closing.send(CLOSE)
    settle(closing.thread, joining)
    assert closing.thread.is_alive(), "server_close() in a handler did not wait for the other handler"

    other.send(RETURN)
    closing.thread.join(5)
    assert not closing.thread.is_alive()
    assert server.closes_from_handler == [None]
    assert server.log == [("exit", other.thread), ("exit", closing.thread)]


def test_ThreadingTCPServer_handler_exception_calls_handle_error_once_in_its_thread(
    harness: Harness,
) -> None:
    server = harness.thread_server()
    raising, returning = harness.connect(server), harness.connect(server)

    raising.send(RAISE)
    returning.send(RETURN)
    for request in (raising, returning):
        assert request.thread is not None
        request.thread.join(5)
        assert not request.thread.is_alive()
    assert raising.read_to_eof() == ERROR + SHUTDOWN  # handle_error once, then shut down
    assert returning.read_to_eof() == SHUTDOWN
    assert server.errors == [raising.thread]  # in the handler's own thread
    # each request shut down and closed once, by its own thread
    assert sorted(server.shutdowns, key=id) == sorted([raising.thread, returning.thread], key=id)
    assert sorted(server.closes, key=id) == sorted([raising.thread, returning.thread], key=id)
    assert server.log == [("exit", returning.thread)]
