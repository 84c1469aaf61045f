"""sockcheck explore's speed, as a ratio against the raw cost of the same model steps.

    python benchmarks/explore.py [WORKERS]

For each kind under `documented`, the explorer's states per second, and its time per
transition against the time the bare transition function (`model.step`) takes for the same
transitions in the same run: what the rest (the guarantees checked on each, the ideal
observation, the symmetry reduction, the bookkeeping) costs on top of stepping the model.
"""

from __future__ import annotations

import sys
import time

from model import DOCUMENTED, Kind, Transport, step
from model.explore import Bounds, events, explore
from model.state import State


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


def main() -> None:
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    bounds = Bounds(workers=workers)
    print(f"explore, documented, tcp, requests alive at once <= {workers}")
    for kind in Kind:
        found = explore(DOCUMENTED, kind, Transport.TCP, bounds)
        per_transition = found.seconds / found.transitions
        raw = raw_step_seconds(kind, bounds, min(found.transitions, 20000))
        print(
            f"  {kind.value:6} {found.states:>8} states {found.transitions:>9} transitions "
            f"{found.states_per_second:>7.0f} states/s  {per_transition * 1e6:6.1f} us a transition "
            f"= {per_transition / raw:4.1f} x a bare model step ({raw * 1e6:.1f} us)"
        )


if __name__ == "__main__":
    main()
