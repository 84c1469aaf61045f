"""impl.BoundedThreadingMixIn on real TCP and Unix stream sockets: one test per contract point.

The numbers in the docstrings are those of the contract in impl/bounded_threading_mixin.py
(docs/pool-contract.md). A dispatch at the bound blocks in process_request(), so it runs on
a thread of its own (pool_harness.dispatch_in_thread) and is judged waiting only once it is
parked in the permit's wait, never after a sleep.
"""

from __future__ import annotations

import os
import socketserver
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.impl.impl_harness import (
    CLOSE,
    DEADLINE,
    ERROR,
    EXIT,
    RAISE,
    RETURN,
    SHUTDOWN,
    Harness,
    Request,
    sockets_dir,
)
from tests.impl.pool_harness import (
    BOUNDED,
    BoundedUDP,
    blocked,
    connect_client,
    dispatch,
    dispatch_in_thread,
    entered,
    handler_threads,
    join_all,
    make,
    not_entered_yet,
)

STDLIB = os.path.dirname(socketserver.__file__)


class FailingStart:
    """A server whose next handler thread fails to start while `fail_start` is true, as
    Thread.start() fails when no thread can be created."""

    fail_start = False

    def _start_handler_thread(self, target: Any, args: Any) -> None:
        if self.fail_start:
            raise RuntimeError("can't start new thread")
        super()._start_handler_thread(target, args)  # type: ignore[misc]


@pytest.fixture(params=sorted(BOUNDED))
def transport(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def bounded(harness: Harness, transport: str, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """bounded(**attributes): a recording BoundedThreading server of the transport."""
    made: list[Any] = []
    with sockets_dir(tmp_path) as folder:

        def new(**attributes: Any) -> Any:
            cls = BOUNDED[transport]
            server = make(
                harness, type(f"Failing{cls.__name__}", (FailingStart, cls), {}), folder, **attributes
            )
            made.append(server)
            return server

        yield new
        harness.cleanup()
        join_all([thread for server in made for thread in handler_threads(server)])


def connect(harness: Harness, server: Any) -> Request:
    """A client of the server, for its serve_forever() loop to dispatch."""
    request = connect_client(server)
    harness.requests.append(request)
    return request


def settled(server: Any) -> list[threading.Thread]:
    """Join (bounded) every handler thread started so far: their permits are back then."""
    threads = handler_threads(server)
    assert join_all(threads) == []
    return threads


def test_BoundedThreading_runs_at_most_max_threads_and_the_dispatch_waits(bounded, harness) -> None:
    """1: with max_threads handlers running, the next dispatch waits in process_request()
    for a permit, its handler not started; it starts once a handler ends."""
    server = bounded(max_threads=2)
    first, second = dispatch(harness, server), dispatch(harness, server)
    entered(first)
    entered(second)

    third, dispatching = dispatch_in_thread(harness, server)
    assert blocked(dispatching, "take"), "handle_request() did not wait for a permit"
    assert not_entered_yet(third)
    assert (server.running, server.permits_available) == (2, 0)
    first.send(RETURN)
    assert first.read_to_eof() == SHUTDOWN
    entered(third)
    dispatching.join(DEADLINE)
    assert not dispatching.is_alive()
    for request in (second, third):
        request.send(RETURN)
        assert request.read_to_eof() == SHUTDOWN
    settled(server)
    assert server.most == 2
    assert server.permits_available == 2
    assert server.each_shut_once()


@pytest.mark.parametrize(
    "word", [RETURN, RAISE, EXIT, CLOSE], ids=["returns", "raises", "SystemExit", "closes"]
)
def test_BoundedThreading_permit_given_back_once_whatever_the_handler_did(
    bounded, harness, monkeypatch, word
) -> None:
    """3: each request's permit is back, once, after its thread shut it down: the handler
    returned, raised, raised SystemExit or closed the server itself."""
    monkeypatch.setattr(threading, "excepthook", lambda args: None)  # the SystemExit's report
    server = bounded(max_threads=1)
    for _ in range(2):  # the second runs only if the first gave its permit back
        request = dispatch(harness, server)
        entered(request)
        request.send(word)
        assert request.read_to_eof() == (ERROR + SHUTDOWN if word == RAISE else SHUTDOWN)
        settled(server)
        assert server.permits_available == 1
        if word == CLOSE:
            break  # the server is closed now
    assert len(server.errors) == (2 if word == RAISE else 0)
    assert server.each_shut_once()


def test_BoundedThreading_rejected_request_takes_no_permit(bounded, harness) -> None:
    """3: a request verify_request() rejects is shut down by the server, never takes a permit."""
    server = bounded(max_threads=1)
    server.reject = True
    rejected = dispatch(harness, server)
    assert rejected.read_to_eof() == SHUTDOWN  # never entered, shut down once
    assert server.permits_available == 1

    server.reject = False
    accepted = dispatch(harness, server)
    entered(accepted)
    assert server.permits_available == 0
    accepted.send(RETURN)
    assert accepted.read_to_eof() == SHUTDOWN
    settled(server)
    assert server.permits_available == 1
    assert server.each_shut_once()


def test_BoundedThreading_thread_that_fails_to_start_gives_its_permit_back(bounded, harness) -> None:
    """3: a thread that fails to start: the permit is back before process_request() raises;
    the server calls handle_error() and shutdown_request() once each."""
    server = bounded(max_threads=1)
    server.fail_start = True
    failed = dispatch(harness, server)
    assert failed.read_to_eof() == ERROR + SHUTDOWN
    assert server.errors == [threading.current_thread()]  # in the server, as the base server does
    assert server.permits_available == 1

    server.fail_start = False
    served = dispatch(harness, server)
    entered(served)
    served.send(RETURN)
    assert served.read_to_eof() == SHUTDOWN
    settled(server)
    assert server.permits_available == 1
    assert server.each_shut_once()


@pytest.mark.parametrize("block_on_close", [False, True], ids=["block_on_close-false", "block_on_close"])
def test_BoundedThreading_close_turns_away_a_dispatch_waiting_for_a_permit(
    bounded, harness, block_on_close
) -> None:
    """4: server_close() never waits for a permit: the dispatch waiting for one gives up, its
    request shut down by the server, unhandled; the close then waits (or not) as ThreadingMixIn's."""
    server = bounded(max_threads=1, block_on_close=block_on_close)
    held = dispatch(harness, server)
    entered(held)
    waiting, dispatching = dispatch_in_thread(harness, server)
    assert blocked(dispatching, "take")

    closer = harness.close_in_thread(server, server.log)
    if block_on_close:
        assert blocked(closer.thread, "server_close"), "server_close() did not wait for the held handler"
    else:
        assert closer.returns(), "server_close() waited although block_on_close was false"
    dispatching.join(DEADLINE)
    assert not dispatching.is_alive(), "the dispatch still waits for a permit after server_close()"
    assert waiting.read_to_eof() == ERROR + SHUTDOWN  # never entered
    assert server.errors == [dispatching]
    held.send(RETURN)
    assert held.read_to_eof() == SHUTDOWN
    assert closer.returns()
    assert closer.error is None
    settled(server)
    assert server.permits_available == 1
    assert server.each_shut_once()


def test_BoundedThreading_shutdown_waits_for_the_permit_and_the_request_is_handled(bounded, harness) -> None:
    """5: shutdown() while the loop waits for a permit returns only once a handler ended and
    the waiting request's thread started; that request is handled."""
    server = bounded(max_threads=1)
    loop = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, name="test-loop")
    loop.start()
    try:
        first = connect(harness, server)  # the loop dispatches it
        entered(first)
        second = connect(harness, server)
        assert blocked(loop, "take"), "the loop did not wait for a permit"
        stopper = threading.Thread(target=server.shutdown, name="test-shutdown")
        stopper.start()
        assert blocked(stopper, "shutdown", STDLIB), "shutdown() returned with the loop in process_request()"

        first.send(RETURN)
        entered(second)  # accepted before the loop could stop: handled
        stopper.join(DEADLINE)
        assert not stopper.is_alive()
        second.send(RETURN)
        assert (first.read_to_eof(), second.read_to_eof()) == (SHUTDOWN, SHUTDOWN)
    finally:
        server.shutdown()
        loop.join(DEADLINE)
    settled(server)
    assert server.permits_available == 1


def test_BoundedThreading_close_waits_for_its_threads_as_ThreadingMixIn_does(bounded, harness) -> None:
    """2: a blocking close waits for a held non-daemon handler thread, never for a daemon one."""
    server = bounded(max_threads=2)
    server.daemon_threads = True
    daemon = dispatch(harness, server)
    entered(daemon)
    server.daemon_threads = False
    worker = dispatch(harness, server)
    entered(worker)
    threads = handler_threads(server)
    assert [thread.daemon for thread in threads] == [True, False]

    closer = harness.close_in_thread(server, server.log)
    assert blocked(closer.thread, "server_close"), "server_close() did not wait for the handler thread"
    worker.send(RETURN)
    assert closer.returns()
    assert threads[0].is_alive()  # the daemon one, still held
    daemon.send(RETURN)
    assert join_all(threads) == []
    assert [event for event, _ in server.log] == ["exit", "closed", "exit"]


def test_BoundedThreadingUDPServer_bounds_datagram_handlers_too(harness) -> None:
    """1, 3 on datagrams: each handled once in its own thread, the permit back after each."""
    server = harness.server(BoundedUDP, ("127.0.0.1", 0))
    server.max_threads = 1
    sender = harness.datagram_client(server)
    for _ in range(2):
        request = harness.send(server, sender)
        request.send(RETURN)
        assert request.read_to_eof() == SHUTDOWN
        assert request.thread is not None
        request.thread.join(DEADLINE)
        assert server.permits_available == 1
    assert server.each_shut_once()
