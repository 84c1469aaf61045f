"""sockcheck explore's speed, as a ratio against the raw cost of the same model steps.

    python benchmarks/explore.py [WORKERS] [--minute S] [--figures FILE]

For each kind under `documented`, the explorer's states per second, and its time per
transition against the time the bare transition function (`model.step`) takes for the same
transitions in the same run: what the rest (the guarantees checked on each, the ideal
observation, the symmetry reduction, the bookkeeping) costs on top of stepping the model.
Then the largest bound explored in a minute: `sockcheck explore --profile documented --kind
both` with 1, 2, 3... requests alive at once, each given a minute (--minute), until one
does not finish in it.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from model import DOCUMENTED, Kind, Transport, step
from model.explore import Bounds, events, explore
from model.state import State

sys.path.insert(0, str(Path(__file__).resolve().parent))
from figures import Figure, write

MINUTE = 60.0


def raw_step_seconds(kind: Kind, bounds: Bounds, transitions: int) -> float:
    """The time `step` alone takes for `transitions` transitions of the same search."""
    frontier, seen, done = [State.initial(kind)], set(), 0
    pairs = []
    while frontier and len(pairs) < transitions:
        state = frontier.pop()
        for event in events(DOCUMENTED, state, bounds):
            pairs.append((state, event))
            after = step(DOCUMENTED, state, event)
            if after not in seen and len(seen) < transitions:
                seen.add(after)
                frontier.append(after)
    started = time.perf_counter()
    for state, event in pairs:
        step(DOCUMENTED, state, event)
        done += 1
    return (time.perf_counter() - started) / done


def largest_bound(minute: float) -> tuple[int, float]:
    """The most requests alive at once whose exploration of both kinds ends within `minute`,
    and the time it took (0, 0 if none did)."""
    best, took = 0, 0.0
    for workers in range(1, 10):
        command = [sys.executable, "-m", "checker.cli", "explore", "--profile", "documented"]
        command += ["--kind", "both", "--workers", str(workers)]
        started = time.monotonic()
        # A session of its own: at the minute, its worker processes (--jobs) go with it.
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, start_new_session=True)
        try:
            returncode = process.wait(timeout=minute)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            print(f"  {workers} requests alive at once: not done in {minute:g} s")
            break
        seconds = time.monotonic() - started
        if returncode != 0:
            print(f"  {workers} requests alive at once: exit {returncode}")
            break
        print(f"  {workers} requests alive at once: both kinds explored in {seconds:.1f} s")
        best, took = workers, seconds
    return best, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workers", nargs="?", type=int, default=2)
    parser.add_argument("--minute", type=float, default=MINUTE, help="seconds each bound is given")
    parser.add_argument("--figures", metavar="FILE", help="the figures beside their targets (JSON)")
    args = parser.parse_args()
    bounds = Bounds(workers=args.workers)
    print(f"explore, documented, tcp, requests alive at once <= {args.workers}")
    figures = []
    for kind in Kind:
        found = explore(DOCUMENTED, kind, Transport.TCP, bounds)
        per_transition = found.seconds / found.transitions
        raw = raw_step_seconds(kind, bounds, min(found.transitions, 20000))
        print(
            f"  {kind.value:6} {found.states:>8} states {found.transitions:>9} transitions "
            f"{found.states_per_second:>7.0f} states/s  {per_transition * 1e6:6.1f} us a transition "
            f"= {per_transition / raw:4.1f} x a bare model step ({raw * 1e6:.1f} us)"
        )
        figures.append(
            Figure(
                f"explore, {kind.value}, {args.workers} alive at once",
                f"{found.states_per_second:.0f} states/s; a transition {per_transition / raw:.1f} x a bare "
                "model step",
                "-",
                None,
            )
        )
    print(f"largest bound explored in {args.minute:g} s (documented, both kinds, tcp, sockcheck explore)")
    best, took = largest_bound(args.minute)
    figures.append(
        Figure(
            f"explore, largest bound in {args.minute:g} s", f"{best} alive at once ({took:.0f} s)", "-", None
        )
    )
    write(args.figures, figures)


if __name__ == "__main__":
    main()
