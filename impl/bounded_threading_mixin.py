"""BoundedThreadingMixIn: ThreadingMixIn with at most max_threads handler threads at once.

What a bounded mix-in must do to be a drop-in for ThreadingMixIn:

1. At most max_threads handlers at once. process_request() takes a permit before it
   starts the request's thread; there are max_threads permits (max_threads is read at
   the first request, once). A request that finds none free waits for one inside
   process_request(), in the thread that dispatches it: the serve_forever() loop (or
   handle_request()) accepts nothing more until a handler thread ends.
2. Everything else is ThreadingMixIn's. The thread runs process_request_thread()
   (finish_request(); handle_error() exactly once on an Exception; shutdown_request()
   exactly once); daemon_threads is read at each spawn; block_on_close is read at
   server_close(), which then waits for every non-daemon handler thread (and for a
   dispatch under way) and never for a daemon one.
3. A permit is given back exactly once per request that took one, once its thread has
   shut the request down, whatever the handler did: returned, raised an Exception, raised
   SystemExit or any BaseException. A request whose thread fails to start gives its
   permit back before process_request() raises (the base server then calls handle_error()
   and shutdown_request() once each). A request that verify_request() rejects never
   reaches process_request() and never takes one.
4. server_close() does not wait for a permit. A dispatch that waits for a permit when
   server_close() begins, or would have to wait after it, gives up: process_request()
   raises RuntimeError without taking a permit, and the base server calls handle_error()
   and shutdown_request() once each, as for a thread that fails to start (3); the request
   is never handled. A dispatch that finds a permit free takes it, as before the close.
5. shutdown() does wait for a permit. shutdown() returns once serve_forever() has seen
   its flag, and a loop waiting in process_request() sees it only after a handler thread
   ended and the waiting request's thread started: with every permit held, shutdown()
   blocks until a handler returns, and that request is then handled (it was accepted
   before the loop could stop). Calling shutdown() from a handler while the loop waits
   for a permit deadlocks unless another handler ends: the handler holds a permit the
   loop waits for. This is the common real-world pattern (a semaphore acquired in
   process_request()), kept on purpose; a handler that must stop the server calls
   shutdown() from a thread of its own, as with any socketserver server.

Why 4 differs from 5: server_close() with block_on_close false must not wait for a handler
(ThreadingMixIn's never does), and a blocking one must not see a thread started after it
looked at the threads; waiting for a permit would break the first and, since the permit
frees only when a handler ends, serve the second only by accident. shutdown() promises no
such thing: it waits for the loop, and the loop is in process_request().
"""

from __future__ import annotations

import threading
from typing import Any

from impl.threading_mixin import ThreadingMixIn


class _Permits:
    """A counting semaphore whose waiters server_close() can turn away (`refuse`)."""

    def __init__(self, size: int) -> None:
        self.condition = threading.Condition()
        self.size = size
        self.free = size  # 0 <= free <= size; size - free permits are held by requests
        self.refusing = False  # server_close() has begun: a take that would wait raises

    def take(self) -> _Permit:
        if self.size < 1:  # raised here, not at construction: a failed bind calls server_close()
            raise ValueError(f"max_threads must be at least 1, not {self.size}")
        with self.condition:
            self.condition.wait_for(lambda: self.free or self.refusing)
            if not self.free:
                raise RuntimeError("server_close() was called while the request waited for a permit")
            self.free -= 1
            return _Permit(self)

    def give_back(self, permit: _Permit) -> None:
        with self.condition:
            if not permit.held:  # once per request, whoever calls it twice
                return
            permit.held = False
            self.free += 1
            self.condition.notify()  # one waiter at most can use it

    def refuse(self) -> None:
        with self.condition:
            self.refusing = True
            self.condition.notify_all()


class _Permit:
    """One request's permit; `held` is guarded by its permits' condition."""

    def __init__(self, permits: _Permits) -> None:
        self.permits = permits
        self.held = True

    def give_back(self) -> None:
        self.permits.give_back(self)


class BoundedThreadingMixIn(ThreadingMixIn):
    """Mix-in class to handle each request in a new thread, with at most max_threads at once."""

    # How many handler threads may run at once; read at the first request.
    max_threads = 8

    def _permits(self) -> _Permits:
        permits = self.__dict__.get("_thread_permits")
        if permits is None:
            permits = self.__dict__.setdefault("_thread_permits", _Permits(self.max_threads))
        return permits  # type: ignore[no-any-return]

    @property
    def permits_available(self) -> int:
        """How many more handler threads could start now without waiting."""
        permits = self._permits()
        with permits.condition:
            return permits.free

    def process_request(self, request: Any, client_address: Any) -> None:
        """Wait for a permit, then start a new thread to process the request."""
        permit = self._permits().take()
        try:
            self._start_handler_thread(self._process_with_permit, (permit, request, client_address))
        except BaseException:
            permit.give_back()  # the thread never ran: it cannot give it back
            raise

    def _process_with_permit(self, permit: _Permit, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            permit.give_back()

    def server_close(self) -> None:
        # Before ThreadingMixIn's close waits for a dispatch under way: one waiting for a
        # permit gives up now rather than keep the close waiting for a handler.
        self._permits().refuse()
        super().server_close()
