"""ThreadPoolMixIn: a fixed pool of worker threads takes the requests from a queue.

What a pool mix-in must do to be a drop-in for ThreadingMixIn:

1. Nothing is dropped. process_request() appends the request to a FIFO queue and returns
   without waiting for a handler; while the server is open it never refuses a request,
   however many are queued. At most pool_size handlers run at once; the others wait in the
   queue and run in the order they were accepted.
2. One pool, started lazily. The first process_request() starts pool_size worker threads,
   reading pool_size and daemon_threads then, once: daemon_threads decides every pool
   thread's daemon flag, and later changes of either attribute change nothing. A server
   that never dispatches a request starts no thread. If not even one worker can be
   started, process_request() raises and queues nothing (the base server then calls
   handle_error() and shutdown_request() once each, as for a ThreadingMixIn thread that
   fails to start); if some start, the pool runs with those.
3. A request is processed as ThreadingMixIn.process_request_thread() processes it, in a
   pool thread: finish_request(); on an Exception, handle_error() exactly once; then
   shutdown_request() exactly once, whatever happened.
4. A worker outlives its request. A BaseException that escapes process_request_thread()
   (SystemExit or KeyboardInterrupt from a handler, an error in handle_error() or
   shutdown_request()) comes after the request was shut down; it never reaches
   handle_error(), it is reported to threading.excepthook as the dying ThreadingMixIn
   thread would report it (SystemExit silently), and the worker goes on to the next
   request: the pool never shrinks, so no queued request waits for a worker that is gone.
5. A close refuses new work. server_close() closes the listening socket, waits for a
   dispatch under way (between accept and enqueue) to queue its request, and from then on
   process_request() raises RuntimeError and queues nothing (the base server then shuts
   the request down, as in 2).
6. A blocking close drains the queue and joins the pool. When block_on_close is true at
   server_close() and the pool threads are not daemons, server_close() returns only once
   every request queued or in flight when it began has been processed (shut down), and
   every pool thread has ended: no pool thread outlives a blocking close.
7. A non-blocking close does not wait, and still processes what was accepted. With
   block_on_close false at server_close(), or daemon pool threads, server_close() returns
   without waiting for any handler; the pool threads go on to process every request
   already queued (each handled and shut down once, as ThreadingMixIn's threads would
   handle it) and then end by themselves. No queued request's socket is left open once
   the handlers ahead of it have returned.
8. A close from a pool thread does not deadlock. A blocking server_close() called in a
   pool thread (by a handler, or a hook running there) waits for every queued and
   in-flight request except those whose handlers are themselves inside server_close() in
   a pool thread (its own included: it cannot finish before the close returns). While it
   waits it runs queued requests itself, so it returns even when every other worker is
   busy or the pool has one thread; it joins every pool thread but its own and those of
   the other closing handlers, which end once their handlers return.
9. server_close() may be called again. A later blocking close waits, as in 6, for what an
   earlier non-blocking one left running.

Why lazily (2): the mix-ins of socketserver define no __init__, and a server's attributes
are set on the instance after construction (``server.daemon_threads = True``): a pool
started by the constructor would not see them, and a constructor that fails to bind (it
calls server_close()) would have threads to stop. Why the workers keep serving (4): a
ThreadingMixIn thread that dies takes only its own request with it; a pool worker that
died would take the queue's future with it. Why a non-blocking close lets the queue drain
(7): each of those requests was accepted, and ThreadingMixIn would have handled it;
closing it unhandled would be a drop (1).
"""

from __future__ import annotations

import collections
import threading
from typing import Any, Tuple  # noqa: UP035 - see Item

from impl.dispatching import DispatchTracking
from impl.threading_mixin import ThreadingMixIn

# typing.Tuple: impl also runs on 3.7 and 3.8 (the peer tier), where tuple[...] raises at import.
Item = Tuple[Any, Any]  # noqa: UP006 - (request, client_address), as process_request() was given them


class _Pool:
    """The pool's state; `condition` guards every field (invariants in the comments)."""

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.queue: collections.deque[Item] = collections.deque()  # accepted, not yet taken
        self.threads: list[threading.Thread] = []  # every worker ever started; empty until then
        self.daemon = False  # the workers' daemon flag, read once at the start
        # Requests taken off the queue and not yet processed; each is in exactly one thread.
        self.running = 0
        # Pool threads inside server_close(), by calls: each call is made from one running
        # request, so running >= sum(closers.values()) always.
        self.closers: collections.Counter[threading.Thread] = collections.Counter()
        self.closing = False  # server_close() has begun: no new work; workers end once drained

    def take(self) -> Item | None:
        """The next queued request, counted as running from now; None if there is none.

        The caller holds the lock."""
        if not self.queue:
            return None
        self.running += 1
        return self.queue.popleft()


class ThreadPoolMixIn(DispatchTracking):
    """Mix-in class to handle each request in one of a fixed pool of threads."""

    # How many worker threads the pool has; read at the first request.
    pool_size = 4
    # Whether the pool threads are daemons; read at the first request.
    daemon_threads = False
    # Whether server_close() waits for the queued and running requests; read at close.
    block_on_close = True

    def _pool(self) -> _Pool:
        pool = self.__dict__.get("_thread_pool")
        if pool is None:
            pool = self.__dict__.setdefault("_thread_pool", _Pool())
        return pool  # type: ignore[no-any-return]

    @property
    def pool_threads(self) -> tuple[threading.Thread, ...]:
        """Every pool thread started so far (alive or ended), in the order they started."""
        pool = self._pool()
        with pool.condition:
            return tuple(pool.threads)

    @property
    def queued_requests(self) -> int:
        """How many accepted requests wait in the queue for a worker now."""
        pool = self._pool()
        with pool.condition:
            return len(pool.queue)

    # What a pool thread does with one request is what ThreadingMixIn's thread does with it.
    process_request_thread = ThreadingMixIn.process_request_thread

    def process_request(self, request: Any, client_address: Any) -> None:
        """Queue the request for the pool, starting the pool at the first one."""
        pool = self._pool()
        with pool.condition:
            if pool.closing:
                raise RuntimeError("server_close() was called: the pool takes no new request")
            if not pool.threads:
                self._start_pool(pool)
            pool.queue.append((request, client_address))
            pool.condition.notify()  # while open, only idle workers wait here

    def _start_pool(self, pool: _Pool) -> None:
        size = self.pool_size
        if size < 1:
            raise ValueError(f"pool_size must be at least 1, not {size}")
        pool.daemon = bool(self.daemon_threads)
        for i in range(size):
            thread = threading.Thread(
                target=self._work, args=(pool,), name=f"{type(self).__name__}-pool-{i}", daemon=pool.daemon
            )
            pool.threads.append(thread)  # before start(): a close sees it started, or not at all
            try:
                thread.start()
            except RuntimeError:  # "can't start new thread": run with the ones that did start
                pool.threads.remove(thread)
                if not pool.threads:
                    raise
                return

    def _work(self, pool: _Pool) -> None:
        """A pool thread: process queued requests until the server closes and the queue is empty."""
        while True:
            with pool.condition:
                pool.condition.wait_for(lambda: pool.queue or pool.closing)
                item = pool.take()  # None: closing, and nothing left
            if item is None:
                return
            self._process(pool, item)

    def _process(self, pool: _Pool, item: Item) -> None:
        try:
            self.process_request_thread(*item)
        except BaseException as exc:  # after shutdown_request(): report it, and keep serving
            _report(exc)
            del exc  # the traceback refers to this frame
        finally:
            with pool.condition:
                pool.running -= 1
                pool.condition.notify_all()  # a blocking close may wait for this one

    def server_close(self) -> None:
        super().server_close()  # type: ignore[misc]
        self._wait_for_dispatches()  # a request accepted before the close is queued first
        pool = self._pool()
        with pool.condition:
            pool.closing = True
            pool.condition.notify_all()  # idle workers: end once the queue is drained
            threads = list(pool.threads)
            blocking = self.block_on_close and not pool.daemon  # read at close, as documented
        if not blocking:
            return
        me = threading.current_thread()
        if me in threads:
            self._drain_from_a_worker(pool, me)
        else:
            with pool.condition:
                pool.condition.wait_for(lambda: not pool.queue and not pool.running)
        with pool.condition:
            closing_handlers = set(pool.closers)
        for thread in threads:
            if thread is not me and thread not in closing_handlers:
                thread.join()

    def _drain_from_a_worker(self, pool: _Pool, me: threading.Thread) -> None:
        """Wait, in pool thread `me`, until only closing handlers' requests still run; run
        queued requests meanwhile (the workers that could run them may all be busy)."""
        with pool.condition:
            pool.closers[me] += 1
            pool.condition.notify_all()  # another closing handler may wait for this request
        try:
            while True:
                with pool.condition:
                    pool.condition.wait_for(lambda: pool.queue or pool.running == pool.closers.total())
                    item = pool.take()  # None: only closing handlers' requests run
                if item is None:
                    return
                self._process(pool, item)
        finally:
            with pool.condition:
                pool.closers[me] -= 1
                if not pool.closers[me]:
                    del pool.closers[me]


def _report(exc: BaseException) -> None:
    """Report `exc` as a thread that died of it would be (threading.excepthook: SystemExit silently)."""
    args = threading.ExceptHookArgs([type(exc), exc, exc.__traceback__, threading.current_thread()])
    threading.excepthook(args)
