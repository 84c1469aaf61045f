"""What a checked step costs, as a ratio against a real request through the stdlib server.

    python benchmarks/step_cost.py [EXAMPLES] [--figures FILE]

In the same run: the raw cost of one request through the running interpreter's own
ThreadingTCPServer and ForkingTCPServer (connect, the handler reads and answers, the
client reads the answer; the server in handle_request() on a thread of its own), without
the checker; then `sockcheck check`'s search (no coverage pass) on impl and the stdlib,
thread and fork, and its wall time per step. A step is not one request (a connect is; a
release, an attribute, a close are not), so the ratio says what the checker costs per
thing it does, in units of the request it would make: issue 7's target is 2x.
"""

from __future__ import annotations

import argparse
import socket
import socketserver
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from checker.driver import Driver
from checker.run import check_kind
from checker.targets import resolve
from model import DOCUMENTED, Kind, profile_for_version

sys.path.insert(0, str(Path(__file__).resolve().parent))
from figures import Figure, write

TARGET_RATIO = 2.0  # issue 7: a checked step costs at most 2x the raw request
REQUESTS = 200  # raw requests timed per kind


class Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(self.request.recv(64))


def raw_request_seconds(server_class: type[socketserver.TCPServer]) -> float:
    """The median time of one request through `server_class`, handle_request() per request."""
    with server_class(("127.0.0.1", 0), Echo) as server:
        times = []
        for _ in range(REQUESTS):
            serving = threading.Thread(target=server.handle_request)
            started = time.perf_counter()
            serving.start()
            with socket.create_connection(server.server_address, timeout=5) as client:
                client.sendall(b"ping")
                client.recv(64)
            serving.join(5)
            times.append(time.perf_counter() - started)
        if hasattr(server, "collect_children"):
            server.collect_children(blocking=True)
    return statistics.median(times)


def checked_step_seconds(target: str, kind: Kind, examples: int) -> tuple[float, int]:
    """Wall time per step of a search on `target` (no coverage pass), and its steps."""
    driver = Driver(resolve(target, None), deadline=1.0)
    driver.load()
    profile = DOCUMENTED if target == "impl" else profile_for_version(sys.version_info[:3])
    try:
        result = check_kind(driver, profile, kind, examples=examples, seed=0)
    finally:
        driver.quit()
    return result.seconds / max(result.steps, 1), result.steps


def line(what: str, seconds: float, raw: float, steps: int) -> str:
    ratio = seconds / raw
    verdict = "meets" if ratio <= TARGET_RATIO else "misses"
    return (
        f"  {what:16} {seconds * 1000:6.2f} ms a step ({steps} steps) = {ratio:5.1f} x the raw request"
        f"  [target <= {TARGET_RATIO:g}x: {verdict}]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("examples", nargs="?", type=int, default=50)
    parser.add_argument("--figures", metavar="FILE", help="write the figures beside their targets (JSON)")
    args = parser.parse_args()
    raw: dict[Kind, float] = {}
    servers: dict[Kind, Callable[..., socketserver.TCPServer]] = {
        Kind.THREAD: socketserver.ThreadingTCPServer,
        Kind.FORK: socketserver.ForkingTCPServer,
    }
    for kind, server_class in servers.items():
        raw[kind] = raw_request_seconds(server_class)  # type: ignore[arg-type]
    print(f"step cost, tcp, {args.examples} examples a search, Python {sys.version.split()[0]}")
    for kind in Kind:
        print(f"  raw {kind.value} request through the stdlib server: {raw[kind] * 1000:.2f} ms (median)")
    figures = []
    for target in ("impl", "stdlib"):
        for kind in Kind:
            seconds, steps = checked_step_seconds(target, kind, args.examples)
            print(line(f"{target} {kind.value}", seconds, raw[kind], steps))
            ratio = seconds / raw[kind]
            figures.append(
                Figure(
                    f"checked step, {target} {kind.value}",
                    f"{ratio:.1f} x a raw request ({seconds * 1000:.2f} ms vs {raw[kind] * 1000:.2f} ms)",
                    f"<= {TARGET_RATIO:g} x",
                    ratio <= TARGET_RATIO,
                )
            )
    write(args.figures, figures)


if __name__ == "__main__":
    main()
