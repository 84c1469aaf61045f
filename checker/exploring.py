"""sockcheck explore: the model explored within bounds, per profile, kind and transport.

The explorations are independent, so they run in worker processes, `jobs` at a time.
"""

from __future__ import annotations

import concurrent.futures
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import attrs

from checker import svg
from model import GUARANTEES, PROFILES, TRANSITIONS, Kind, Refused, Transport
from model.explore import Bounds, Edge, Exploration, explore, structure

Job = tuple[str, Kind, Transport, Bounds]


def run(
    jobs: Sequence[Job], workers: int, on_done: Callable[[Exploration], None] | None = None
) -> list[Exploration]:
    """Every job's exploration, in the jobs' order; `on_done` hears of each as it ends. Two
    profiles whose switches differ only where the model does not look (the forking Unix
    classes' presence: cpython-3.8 and cpython-3.12) are explored once."""
    unique: dict[tuple, Job] = {}
    for job in jobs:
        unique.setdefault(_behaviour(job), job)
    done: dict[tuple, Exploration] = {}

    def finished(key: tuple, found: Exploration) -> None:
        done[key] = found
        if on_done is not None:
            on_done(found)

    if workers <= 1 or len(unique) == 1:
        for key, job in unique.items():
            finished(key, _one(job))
    else:
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(_one, job): key for key, job in unique.items()}
            for future in concurrent.futures.as_completed(futures):
                finished(futures[future], future.result())
    results = []
    for job in jobs:
        found = done[_behaviour(job)]
        copy = found.profile != job[0]
        results.append(attrs.evolve(found, profile=job[0], same_as=found.profile if copy else None))
    return results


def _behaviour(job: Job) -> tuple:
    name, kind, transport, bounds = job
    profile = attrs.evolve(PROFILES[name], name="", summary="", forking_unix_classes=False)
    return (profile, kind, transport, bounds)


def _one(job: Job) -> Exploration:
    name, kind, transport, bounds = job
    return explore(PROFILES[name], kind, transport, bounds)


def render(results: Sequence[Exploration], seconds: float) -> list[str]:
    """The report: one line per exploration, a verdict per guarantee, the table's shape."""
    lines = [
        f"  {'profile':<13} {'kind':<6} {'transport':<13} {'states':>8} {'transitions':>11} "
        f"{'depth':>5} {'seconds':>7} {'states/s':>8}  verdict"
    ]
    for r in results:
        verdict = ("ok" if r.ok else _problems(r)) + (
            f" (as {r.same_as}: not walked again)" if r.same_as else ""
        )
        bound = "" if r.complete else "  (step bound reached)"
        lines.append(
            f"  {r.profile:<13} {r.kind.value:<6} {r.transport.value:<13} {r.states:>8} {r.transitions:>11} "
            f"{r.depth:>5} {r.seconds:>7.1f} {r.states_per_second:>8.0f}  {verdict}{bound}"
        )
    states = sum(r.states for r in results if r.same_as is None)
    lines.append(
        f"  {states} states walked in {seconds:.1f} s: {states / seconds:.0f} states per second over all"
    )
    lines += [
        "",
        "guarantees, checked on every transition against the observation of a server that keeps them:",
    ]
    for guarantee in GUARANTEES:
        broken = [r for r in results if guarantee.name in r.violations]
        if not broken:
            lines.append(f"  {guarantee.name:<32} ok in all {len(results)}")
            continue
        first = broken[0]
        witness = first.violations[guarantee.name]
        lines.append(f"  {guarantee.name:<32} VIOLATED in {len(broken)} (first: {_name(first)})")
        lines.append(f"      {witness.what}")
        lines.append(f"      after: {'; '.join(witness.steps)}")
    lines += ["", "the table:"]
    problems = structure()
    lines += [f"  {problem}" for problem in problems]
    cells = [key for key, cell in TRANSITIONS.items() if not isinstance(cell, Refused)]
    refused = len(TRANSITIONS) - len(cells)
    if not problems:
        lines.append(
            f"  every phase x event type has a cell: {len(cells)} transitions, "
            f"{refused} refused, each with a reason"
        )
    unused = [key for key in cells if all(key in r.unused_cells for r in results)]
    for phase, event in unused:
        lines.append(f"  no explored run uses {event.__name__} in {phase.value}" + _why_unused(results))
    for r in results:
        for witness in (*r.deadlocks, *r.stuck):
            what = "deadlock" if witness in r.deadlocks else "cannot reach closed"
            lines.append(f"  {what} in {_name(r)}: {witness.what}, after {'; '.join(witness.steps)}")
    return lines


def _why_unused(results: Iterable[Exploration]) -> str:
    if any(r.bounds.misuse for r in results):
        return ""
    return " (outside the contract: --misuse explores it)"


def _problems(r: Exploration) -> str:
    parts = []
    if r.violations:
        parts.append(f"{len(r.violations)} guarantees violated")
    if r.deadlocks:
        parts.append(f"{len(r.deadlocks)} deadlocks")
    if r.stuck:
        parts.append("states that cannot reach closed")
    return "FAIL: " + ", ".join(parts)


def _name(r: Exploration) -> str:
    return f"{r.profile} {r.kind.value} {r.transport.value}"


def to_json(results: Sequence[Exploration]) -> dict:
    return {
        "explorations": [
            {
                "profile": r.profile,
                "kind": r.kind.value,
                "transport": r.transport.value,
                "workers": r.bounds.workers,
                "steps": r.bounds.steps,
                "misuse": r.bounds.misuse,
                "states": r.states,
                "transitions": r.transitions,
                "depth": r.depth,
                "complete": r.complete,
                "seconds": round(r.seconds, 2),
                "states_per_second": round(r.states_per_second),
                "violations": {g: {"what": w.what, "steps": list(w.steps)} for g, w in r.violations.items()},
                "deadlocks": [list(w.steps) for w in r.deadlocks],
                "stuck": [list(w.steps) for w in r.stuck],
                "unused_cells": [f"{p.value} x {t.__name__}" for p, t in r.unused_cells],
                "edges": len(r.edges),
            }
            for r in results
        ]
    }


def write_dot(results: Sequence[Exploration], path: Path) -> None:
    path.write_text(to_dot(edges_of(results)))


def edges_of(results: Iterable[Exploration]) -> set[Edge]:
    return set().union(*(r.edges for r in results))


def to_dot(edges: Iterable[Edge]) -> str:
    """The state graph abstracted to the server's phases: one node per phase, one arrow per
    pair of phases, labelled with the events that take it (self-loops left out: every phase
    has attribute changes and the like that keep it)."""
    edges = list(edges)
    nodes = {phase for e in edges for phase in (e.before, e.after)}
    lines = [
        "digraph socketserver {",
        "  rankdir=LR;",
        '  node [shape=box, style=rounded, fontname="Helvetica"];',
    ]
    lines.append('  edge [fontname="Helvetica", fontsize=10];')
    for node in sorted(nodes, key=_phase_order):
        lines.append(f"  {json.dumps(node)};")
    for (a, b), names in svg.arrows_of(edges).items():
        label = "\\n".join(names)
        lines.append(f'  {json.dumps(a)} -> {json.dumps(b)} [label="{label}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _phase_order(node: str) -> tuple[int, str]:
    return (("open", "closing", "closed").index(node.split(",")[0]), node)
