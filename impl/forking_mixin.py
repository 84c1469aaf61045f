"""ForkingMixIn: one child process per request; server_close() reaps them as documented.

Differences from CPython 3.7+ (each allowed by the documentation, each a wart there):

* A stream server's child closes its copy of the listening socket, so a closed server
  refuses connections even while children still run (CPython's children keep it open).
* server_close() with block_on_close false never blocks: CPython's max_children loop can
  block it in waitpid(-1) when the server is at its cap.
* Only the server's own children are ever reaped: at the cap it waits until one of its
  own children exits (through pidfds where the platform has them), never with waitpid(-1),
  which can reap a child that is not the server's.
* server_close() waits for a dispatch under way (between accept and fork) before it reaps,
  so a child is never forked after it returned (impl.dispatching).
"""

from __future__ import annotations

import os
import select
import socket
import time
from typing import Any

from impl.dispatching import DispatchTracking


class ForkingMixIn(DispatchTracking):
    """Mix-in class to handle each request in a new process."""

    timeout: float | None = 300
    active_children: set[int] | None = None
    max_children = 40
    # Whether server_close() waits until all child processes complete; read at close.
    block_on_close = True

    def collect_children(self, *, blocking: bool = False) -> None:
        """Reap the children that have exited; at max_children, wait for one to exit first."""
        if self.active_children is None:
            return
        while self.active_children and len(self.active_children) >= self.max_children:
            self._reap(blocking=False)
            if len(self.active_children) >= self.max_children:
                _wait_for_an_exit(self.active_children)
        self._reap(blocking=blocking)

    def _reap(self, *, blocking: bool) -> None:
        for pid in list(self.active_children or ()):
            self._reap_one(pid, 0 if blocking else os.WNOHANG)

    def _reap_one(self, pid: int, flags: int = 0) -> None:
        assert self.active_children is not None
        try:
            reaped, _ = os.waitpid(pid, flags)
        except ChildProcessError:  # someone else reaped it
            self.active_children.discard(pid)
            return
        if reaped:
            self.active_children.discard(pid)

    def handle_timeout(self) -> None:
        """Wait for zombies after self.timeout seconds of inactivity."""
        self.collect_children()

    def service_actions(self) -> None:
        """Collect the zombie child processes regularly in the serve_forever loop."""
        self.collect_children()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Fork a new subprocess to process the request."""
        pid = os.fork()
        if pid:
            if self.active_children is None:
                self.active_children = set()
            self.active_children.add(pid)
            self.close_request(request)  # type: ignore[attr-defined]
            return
        # The child: it must never return into the server's code, hence os._exit().
        status = 1
        try:
            self._drop_listener()
            self.finish_request(request, client_address)  # type: ignore[attr-defined]
            status = 0
        except Exception:
            self.handle_error(request, client_address)  # type: ignore[attr-defined]
        finally:
            try:
                self.shutdown_request(request)  # type: ignore[attr-defined]
            finally:
                os._exit(status)

    def _drop_listener(self) -> None:
        # A datagram child answers through the server socket; only a stream child can let go.
        listener = getattr(self, "socket", None)
        if listener is not None and listener.type != socket.SOCK_DGRAM:  # stream, seqpacket
            listener.close()

    def server_close(self) -> None:
        super().server_close()  # type: ignore[misc]
        self._wait_for_dispatches()  # a request accepted before the close is forked first
        if self.active_children is not None:
            self._reap(blocking=self.block_on_close)


def _wait_for_an_exit(pids: set[int]) -> None:
    """Block until one of `pids` has exited (or is gone), without reaping it."""
    fds: list[int] = []
    try:
        for pid in sorted(pids):
            fds.append(os.pidfd_open(pid))
    except ProcessLookupError:  # reaped by someone else: the caller's _reap() drops it
        fds.append(-1)
    except (AttributeError, OSError):  # no pidfds here: look at each child in turn
        _poll_for_an_exit(pids)
        return
    try:
        if -1 not in fds:
            select.select(fds, [], [])
    finally:
        for fd in fds:
            if fd >= 0:
                os.close(fd)


def _poll_for_an_exit(pids: set[int]) -> None:
    pause = 0.0005
    while True:
        for pid in sorted(pids):
            try:
                if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                    return
            except ChildProcessError:
                return
        time.sleep(pause)
        pause = min(pause * 2, 0.01)
