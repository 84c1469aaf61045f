"""How fast this machine is right now, so that liveness bounds scale with it.

A deadline is only a liveness bound ("this call must return"), never an observation; but a
bound fixed in seconds turns into a false alarm when the machine is loaded and the same work
takes ten times as long. So a check starts by timing the raw cost of the work its steps make
(a real request through the stdlib's ThreadingTCPServer, a fork, a thread start), a few times
each, against what that work costs on an idle machine, and scales its bounds by the ratio.
The factor never goes below 1 (the bounds never tighten below today's) and is capped (a hung
target must still be reported in bounded time). The measurement costs a few milliseconds idle,
some tens loaded.
"""

from __future__ import annotations

import os
import socket
import socketserver
import statistics
import threading
import time
from collections.abc import Callable

import attrs

REPEATS = 7  # per kind of work; the median of each shrugs off one unlucky time slice
# What each kind of work costs on the project's reference machine (2 cores, other work going
# on, load average ~2): the medians `python -m checker.speed` printed there, rounded up
# (thread 0.10-0.22, fork 1.2-1.6, request 0.31-0.66 ms). With two busy loops beside it the
# same machine measured fork 2.4-5.4 and request 0.23-2.5 ms.
REFERENCE_SECONDS = {"thread": 0.0002, "fork": 0.0015, "request": 0.0005}
CAP = 10.0  # a loaded machine's bounds grow at most this much: a hang still ends the run


@attrs.frozen
class Speed:
    factor: float  # >= 1: how much slower than the reference the machine is now
    medians: dict[str, float]  # seconds per kind of work
    seconds: float  # what measuring cost

    def to_json(self) -> dict[str, object]:
        return {
            "factor": round(self.factor, 2),
            "medians_ms": {k: round(v * 1000, 3) for k, v in self.medians.items()},
            "measure_ms": round(self.seconds * 1000, 1),
        }


def measure(repeats: int = REPEATS) -> Speed:
    started = time.perf_counter()
    medians = {
        "thread": _median(_thread_start, repeats),
        "fork": _median(_fork, repeats),
        "request": _requests(repeats),
    }
    return Speed(factor=factor_of(medians), medians=medians, seconds=time.perf_counter() - started)


def factor_of(medians: dict[str, float]) -> float:
    """The largest per-work ratio to the reference, within [1, CAP]. The largest, not a
    middle one: a bound set too wide only delays the report of a real hang, one set too
    narrow is a false alarm; and under load the kinds of work slow down unevenly (a fork
    waits for its child to be scheduled, a thread start on a warm core often does not)."""
    ratio = max(medians[k] / REFERENCE_SECONDS[k] for k in REFERENCE_SECONDS)
    return min(CAP, max(1.0, ratio))


def _median(work: Callable[[], None], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _thread_start() -> None:
    thread = threading.Thread(target=lambda: None, name="sockcheck-speed")
    thread.start()
    thread.join()


def _fork() -> None:
    pid = os.fork()
    if pid == 0:  # the child does nothing but exit: what is timed is fork, exit and reap
        os._exit(0)
    os.waitpid(pid, 0)


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(self.request.recv(1))


def _requests(repeats: int) -> float:
    """A real request each time: connect, the server accepts and starts a handler thread,
    one byte there and back. handle_request() is called here, after the connection waits in
    the backlog, so no serve_forever() loop (and no poll interval) is timed."""
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo) as server:
        server.timeout = 5.0  # a bound only: the connection is already waiting
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            with socket.create_connection(server.server_address, timeout=5.0) as client:
                server.handle_request()
                client.sendall(b"x")
                client.recv(1)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


if __name__ == "__main__":
    for _ in range(5):
        print(measure().to_json())
