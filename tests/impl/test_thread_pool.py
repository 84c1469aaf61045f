"""impl.ThreadPoolMixIn on real TCP and Unix stream sockets: one test per contract point.

The numbers in the docstrings are those of the contract in impl/thread_pool_mixin.py
(docs/pool-contract.md). Every wait is bounded; a call is judged blocked only once it is
parked in a wait inside server_close() (pool_harness.blocked), never after a sleep.
"""

from __future__ import annotations

import socket
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
    sockets_dir,
)
from tests.impl.pool_harness import (
    POOL,
    PoolUDP,
    blocked,
    dispatch,
    entered,
    handler_threads,
    join_all,
    make,
    not_entered_yet,
)


class GatedExit:
    """A pool whose threads, once their loop has ended, wait for `gate` before they end: a
    close that returned before joining them finds them still alive."""

    def __init__(self, *args: Any) -> None:
        self.gate = threading.Event()
        super().__init__(*args)

    def _work(self, pool: Any) -> None:
        try:
            super()._work(pool)  # type: ignore[misc]
        finally:
            self.gate.wait(DEADLINE)


@pytest.fixture(params=sorted(POOL))
def transport(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def pool(harness: Harness, transport: str, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """pool(**attributes): a recording ThreadPool server of the transport, attributes set."""
    made: list[Any] = []
    with sockets_dir(tmp_path) as folder:

        def new(gated: bool = False, **attributes: Any) -> Any:
            cls = POOL[transport]
            if gated:
                cls = type(f"Gated{cls.__name__}", (GatedExit, cls), {})
            server = make(harness, cls, folder, **attributes)
            made.append(server)
            return server

        yield new
        harness.cleanup()  # releases, closes without blocking: the pools drain and end
        for server in made:
            getattr(server, "gate", threading.Event()).set()
        join_all([thread for server in made for thread in server.pool_threads])


def test_ThreadPool_queues_requests_beyond_its_size_and_drops_none(pool, harness) -> None:
    """1: at most pool_size handlers run; the others wait in the queue and run in order."""
    server = pool(pool_size=2)
    requests = [dispatch(harness, server) for _ in range(5)]  # handle_request() returned each time
    entered(requests[0])
    entered(requests[1])

    assert server.queued_requests == 3
    assert all(not_entered_yet(request) for request in requests[2:])
    for i, request in enumerate(requests):
        request.send(RETURN)
        assert request.read_to_eof() == SHUTDOWN
        if i + 2 < len(requests):
            entered(requests[i + 2])  # the freed worker takes the next in line
    assert server.most == 2
    assert len(server.pool_threads) == 2
    assert server.each_shut_once()


def test_ThreadPool_starts_lazily_with_daemon_threads_read_at_the_first_request(pool, harness) -> None:
    """2: no thread before the first request; then pool_size threads, daemon as daemon_threads
    was then; a later change of daemon_threads starts or changes nothing."""
    server = pool(pool_size=3)
    assert server.pool_threads == ()
    server.daemon_threads = True  # set on the instance after construction, as users do
    first = dispatch(harness, server)
    entered(first)
    server.daemon_threads = False
    threads = server.pool_threads

    second = dispatch(harness, server)
    entered(second)
    assert len(threads) == 3
    assert [thread.daemon for thread in threads] == [True, True, True]
    assert server.pool_threads == threads
    for request in (first, second):
        request.send(RETURN)
        assert request.read_to_eof() == SHUTDOWN


def test_ThreadPool_handle_error_once_per_raising_handler_and_each_request_shut_once(
    pool, harness, monkeypatch
) -> None:
    """3: handle_error() once for each handler that raised an Exception, never for one that
    returned or raised SystemExit; shutdown_request() once for every request."""
    reports: list[type[BaseException]] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: reports.append(args.exc_type))
    server = pool(pool_size=2)
    words = [RAISE, RETURN, RAISE, EXIT, RETURN, RAISE]
    requests = [dispatch(harness, server) for _ in words]
    for request, word in zip(requests, words, strict=True):
        entered(request)
        request.send(word)

    seen = [request.read_to_eof() for request in requests]
    assert seen == [ERROR + SHUTDOWN if word == RAISE else SHUTDOWN for word in words]
    server.server_close()  # blocking: every request has been processed when it returns
    assert len(server.errors) == words.count(RAISE)
    assert server.each_shut_once()
    assert reports == [SystemExit]
    assert server.most == 2


def test_ThreadPool_worker_outlives_a_handler_that_raises_SystemExit(pool, harness, monkeypatch) -> None:
    """4: after a SystemExit the one worker of the pool still runs the queued request; the
    exit is reported to threading.excepthook, once, and never to handle_error()."""
    reports: list[type[BaseException]] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: reports.append(args.exc_type))
    server = pool(pool_size=1)
    exiting, queued = dispatch(harness, server), dispatch(harness, server)
    entered(exiting)

    exiting.send(EXIT)
    assert exiting.read_to_eof() == SHUTDOWN
    entered(queued)
    queued.send(RETURN)
    assert queued.read_to_eof() == SHUTDOWN
    assert len(server.pool_threads) == 1
    assert server.errors == []
    assert reports == [SystemExit]


def test_ThreadPool_takes_no_request_after_server_close(pool, harness) -> None:
    """5: once server_close() has run, process_request() raises and queues nothing."""
    server = pool(pool_size=2)
    first = dispatch(harness, server)
    entered(first)
    first.send(RETURN)
    assert first.read_to_eof() == SHUTDOWN
    server.server_close()

    ours, theirs = socket.socketpair()
    try:
        with pytest.raises(RuntimeError):
            server.process_request(ours, "late")
        assert server.queued_requests == 0
    finally:
        ours.close()
        theirs.close()
    assert not any(thread.is_alive() for thread in server.pool_threads)


def test_ThreadPool_blocking_close_waits_for_running_and_queued_requests(pool, harness) -> None:
    """6: a blocking server_close() returns only once every request running or queued when
    it began has been processed."""
    server = pool(pool_size=2)
    first, second, queued = (dispatch(harness, server) for _ in range(3))
    entered(first)
    entered(second)

    closer = harness.close_in_thread(server, server.log)
    assert blocked(closer.thread, "server_close"), "server_close() returned with requests running"
    assert server.socket.fileno() == -1  # the listening socket is closed before the wait
    first.send(RETURN)
    entered(queued)  # a request queued before the close still runs
    assert blocked(closer.thread, "server_close"), "server_close() returned with a request queued"
    second.send(RETURN)
    assert blocked(closer.thread, "server_close")
    queued.send(RETURN)
    assert closer.returns()
    assert closer.error is None
    assert [event for event, _ in server.log] == ["exit", "exit", "exit", "closed"]
    assert len(server.shut) == 3
    assert [request.read_to_eof() for request in (first, second, queued)] == [SHUTDOWN] * 3
    assert server.each_shut_once()


def test_ThreadPool_no_pool_thread_outlives_a_blocking_close(pool, harness) -> None:
    """6: a blocking server_close() returns only once every pool thread has ended (joined),
    also the ones that never had a request."""
    server = pool(gated=True, pool_size=3)
    request = dispatch(harness, server)
    entered(request)
    request.send(RETURN)
    assert request.read_to_eof() == SHUTDOWN

    closer = harness.close_in_thread(server)
    assert blocked(closer.thread, "server_close"), "server_close() returned before its pool ended"
    assert all(thread.is_alive() for thread in server.pool_threads)  # held at the gate
    server.gate.set()
    assert closer.returns()
    assert closer.error is None
    assert not any(thread.is_alive() for thread in server.pool_threads)


@pytest.mark.parametrize(
    "attributes",
    [{"block_on_close": False}, {"daemon_threads": True}],
    ids=["block_on_close-false", "daemon_threads"],
)
def test_ThreadPool_non_blocking_close_returns_and_the_queue_still_drains(pool, harness, attributes) -> None:
    """7: without block_on_close (or with daemon pool threads) server_close() returns while a
    handler is held; the queued request is still handled and shut down once, and the pool
    threads end by themselves."""
    server = pool(pool_size=1, **attributes)
    held, queued = dispatch(harness, server), dispatch(harness, server)
    entered(held)

    closer = harness.close_in_thread(server, server.log)
    assert closer.returns(), "server_close() waited for the pool"
    assert closer.error is None
    assert server.queued_requests == 1
    held.send(RETURN)
    assert held.read_to_eof() == SHUTDOWN
    entered(queued)
    queued.send(RETURN)
    assert queued.read_to_eof() == SHUTDOWN
    assert join_all(server.pool_threads) == [], "a pool thread did not end after the queue drained"
    assert [event for event, _ in server.log] == ["closed", "exit", "exit"]
    assert server.each_shut_once()


@pytest.mark.parametrize("pool_size", [1, 2])
def test_ThreadPool_close_from_a_handler_runs_the_queue_and_returns(pool, harness, pool_size) -> None:
    """8: a handler's blocking server_close() runs the queued request itself when no other
    worker is free, waits for the other running handler, and returns without deadlock."""
    server = pool(pool_size=pool_size)
    closing = dispatch(harness, server)
    entered(closing)
    (closing_thread,) = handler_threads(server)
    busy = [dispatch(harness, server) for _ in range(pool_size - 1)]
    for request in busy:
        entered(request)
    queued = dispatch(harness, server)

    closing.send(CLOSE)  # the handler calls server.server_close() itself
    entered(queued)  # every other worker is held: the closing thread runs it
    assert handler_threads(server)[-1] is closing_thread
    queued.send(RETURN)
    assert queued.read_to_eof() == SHUTDOWN
    for request in busy:
        assert blocked(closing_thread, "server_close"), "server_close() did not wait for a handler"
        request.send(RETURN)
        assert request.read_to_eof() == SHUTDOWN
    assert closing.read_to_eof() == SHUTDOWN  # its close returned, then its handler
    assert server.closes_from_handler == [None]
    assert join_all(server.pool_threads) == []
    assert server.each_shut_once()


def test_ThreadPool_two_handlers_closing_at_once_do_not_wait_for_each_other(pool, harness) -> None:
    """8: each handler's server_close() skips the request of the other closing handler."""
    server = pool(pool_size=2)
    first, second = dispatch(harness, server), dispatch(harness, server)
    entered(first)
    entered(second)

    first.send(CLOSE)
    second.send(CLOSE)
    assert (first.read_to_eof(), second.read_to_eof()) == (SHUTDOWN, SHUTDOWN)
    assert server.closes_from_handler == [None, None]
    assert join_all(server.pool_threads) == []


def test_ThreadPool_second_close_waits_for_what_the_first_left_running(pool, harness) -> None:
    """9: a blocking close after a non-blocking one waits for the handler that one left."""
    server = pool(pool_size=1, block_on_close=False)
    held = dispatch(harness, server)
    entered(held)
    first = harness.close_in_thread(server, server.log)
    assert first.returns()

    server.block_on_close = True
    second = harness.close_in_thread(server, server.log)
    assert blocked(second.thread, "server_close"), "the second server_close() did not wait"
    held.send(RETURN)
    assert second.returns()
    assert second.error is None
    assert [event for event, _ in server.log] == ["closed", "exit", "closed"]
    assert not any(thread.is_alive() for thread in server.pool_threads)


def test_ThreadPoolUDPServer_handles_each_datagram_once_and_joins_at_close(harness) -> None:
    """3, 6 on datagrams: each handled in a pool thread, shut down once; the close joins."""
    server = harness.server(PoolUDP, ("127.0.0.1", 0))
    server.pool_size = 1
    sender = harness.datagram_client(server)
    for _ in range(3):
        request = harness.send(server, sender)  # waits until its handler runs
        request.send(RETURN)
        assert request.read_to_eof() == SHUTDOWN
        assert sender.recv(64).startswith(b"A" + (request.data or b""))
    server.server_close()
    assert len(server.pool_threads) == 1
    assert not server.pool_threads[0].is_alive()
    assert server.each_shut_once()
