"""ThreadingMixIn: one thread per request; server_close() waits for them as documented.

Differences from CPython 3.8.9+ (each allowed by the documentation, each a wart there):

* block_on_close is read when server_close() is called, as the documentation says, not
  latched by the first spawn that saw it true.
* server_close() called from a handler thread does not try to join its own thread.
* A thread that fails to start is not left behind to make server_close() raise.
* server_close() waits for a dispatch under way (between accept and spawn) before it looks
  at the threads, so a thread is never started after it returned (impl.dispatching).

``_threads`` is kept under CPython's private name, read-only: the handler threads the server
still holds, which CPython's own test_socketserver counts (bpo-37193, test_threads_reaped).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from impl.dispatching import DispatchTracking


class ThreadingMixIn(DispatchTracking):
    """Mix-in class to handle each request in a new thread."""

    # Whether handler threads are daemons; read at each spawn.
    daemon_threads = False
    # Whether server_close() waits for the non-daemon handler threads; read at close.
    block_on_close = True

    def _live_threads(self) -> tuple[threading.Lock, set[threading.Thread]]:
        """The non-daemon handler threads that may still run, and their lock (per instance)."""
        state = self.__dict__.get("_handler_threads")
        if state is None:
            state = self.__dict__.setdefault("_handler_threads", (threading.Lock(), set()))
        return state  # type: ignore[no-any-return]

    @property
    def _threads(self) -> frozenset[threading.Thread]:
        """The non-daemon handler threads server_close() may wait for, not yet seen to end."""
        lock, threads = self._live_threads()
        with lock:
            return frozenset(threads)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Same as in BaseServer but as a thread, with exception handling."""
        try:
            self.finish_request(request, client_address)  # type: ignore[attr-defined]
        except Exception:
            self.handle_error(request, client_address)  # type: ignore[attr-defined]
        finally:
            self.shutdown_request(request)  # type: ignore[attr-defined]

    def process_request(self, request: Any, client_address: Any) -> None:
        """Start a new thread to process the request."""
        self._start_handler_thread(self.process_request_thread, (request, client_address))

    def _start_handler_thread(self, target: Callable[..., None], args: tuple[Any, ...]) -> None:
        """Start a handler thread running `target(*args)`, where server_close() can see it.

        A subclass whose threads run more than process_request_thread (the bounded mix-in's
        give their permit back) starts them here, so they are waited for like any other.
        """
        thread = threading.Thread(target=target, args=args)
        thread.daemon = self.daemon_threads
        lock, threads = self._live_threads()
        with lock:  # a concurrent server_close() sees this thread started, or not at all
            threads.difference_update([t for t in threads if not t.is_alive()])
            if not thread.daemon:
                threads.add(thread)
            try:
                thread.start()
            except BaseException:
                threads.discard(thread)
                raise

    def server_close(self) -> None:
        super().server_close()  # type: ignore[misc]
        self._wait_for_dispatches()  # a request accepted before the close is spawned first
        lock, threads = self._live_threads()
        with lock:  # threads stay in the set until they end: a concurrent close waits too
            threads.difference_update([t for t in threads if not t.is_alive()])
            waiting = list(threads)
        if not self.block_on_close:  # read at close, as documented
            return
        current = threading.current_thread()
        for thread in waiting:
            if thread is not current:
                thread.join()
        with lock:  # let go of what ended meanwhile (bpo-37193)
            threads.difference_update([t for t in threads if not t.is_alive()])
