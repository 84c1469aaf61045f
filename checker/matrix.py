"""`sockcheck matrix`: every interpreter x thread/fork x transport, against its own profile and
against `documented`.

Each cell runs in a worker process of its own (one agent per cell), so cells spread over the
cores and one target that hangs costs only its cell. Against its own profile a cell must
refine; against `documented` the divergences are the history, so the search goes on in
rounds: each round mutes the guarantees found broken so far and looks for the others where
those hold, until a round finds nothing new.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from checker.driver import CannotRun, Driver, TargetFailure
from checker.interpreters import Interpreter, NoInterpreter, discover, find
from checker.machine import Counterexample
from checker.results import failure_json, failure_lines
from checker.run import KindResult, check_kind
from checker.scenarios import SCENARIOS, applies, replay
from checker.targets import Target
from model import DOCUMENTED, Kind, Profile, Transport, profile_for_version

DEFAULT_EXAMPLES = 50
ROUNDS = 6  # rounds against `documented` at most
# A round that finds nothing new ends the search only after this many such rounds in a row:
# each round draws from its own seed, and one seed can miss even a two-step divergence.
QUIET_ROUNDS = 2


@attrs.frozen
class Column:
    """One interpreter of the matrix, or the reason it has no cells."""

    name: str  # as given or found
    interpreter: Interpreter | None
    skipped: str | None = None

    @property
    def profile(self) -> Profile | None:
        found = self.interpreter
        if found is None or found.implementation != "cpython":
            return None
        return profile_for_version(found.version)


@attrs.frozen
class Plan:
    columns: tuple[Column, ...]
    kinds: tuple[Kind, ...]
    transports: tuple[Transport, ...]
    examples: int
    seed: int
    deadline: float

    def cells(self) -> list[tuple[Column, Kind, Transport]]:
        return [
            (column, kind, transport)
            for column in self.columns
            if column.skipped is None
            for transport in self.transports
            for kind in self.kinds
        ]


def columns(pythons: Iterable[str]) -> tuple[Column, ...]:
    """The interpreters named (each missing one kept, with its reason), else all found."""
    named = list(pythons)
    if not named:
        return tuple(Column(i.path, i) for i in discover())
    found = []
    for name in named:
        try:
            found.append(Column(name, find(name)))
        except NoInterpreter as exc:
            found.append(Column(name, None, skipped=str(exc)))
    return tuple(found)


def run(plan: Plan, jobs: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """Every cell of the plan; the matrix as JSON-ready data."""
    cells = plan.cells()
    started = datetime.datetime.now(datetime.UTC)
    results: list[dict[str, Any]] = []
    context = multiprocessing.get_context("spawn")  # a clean interpreter: no inherited state
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = [pool.submit(run_cell, plan, *cell) for cell in cells]
        try:
            for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
                cell = future.result()
                results.append(cell)
                progress(f"[{done}/{len(cells)}] {cell_summary(cell)}")
        except BaseException:  # interrupted: end the cells now, not when each finishes
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()  # its agent reads EOF on its commands and quits
            pool.shutdown(cancel_futures=True)
            raise
    results.sort(key=lambda c: (c["column"], c["transport"], c["kind"]))
    return {
        "started": started.isoformat(timespec="seconds"),
        "checker_python": ".".join(map(str, sys.version_info[:3])),
        "examples": plan.examples,
        "seed": plan.seed,
        "rounds": ROUNDS,
        "quiet_rounds": QUIET_ROUNDS,
        "columns": [_column_json(i, c) for i, c in enumerate(plan.columns)],
        "cells": results,
        "profiles": [profile_json(p) for p in _profiles_used(plan)],
        "scenarios": [
            {"name": s.name, "recipe": s.recipe, "where": s.where, "kinds": [k.value for k in s.kinds]}
            for s in SCENARIOS
        ],
    }


def run_cell(plan: Plan, column: Column, kind: Kind, transport: Transport) -> dict[str, Any]:
    """One interpreter, kind and transport: its own profile, then `documented` in rounds."""
    interpreter = column.interpreter
    assert interpreter is not None
    target = Target(
        label=interpreter.label,
        python=interpreter.executable,
        source="stdlib",
        isolation=interpreter.isolation,
    )
    cell: dict[str, Any] = {
        "column": plan.columns.index(column),
        "label": interpreter.label,
        "kind": kind.value,
        "transport": transport.value,
        "own": None,
        "documented": None,
        "scenarios": [],
        "error": None,
    }
    driver = Driver(target, plan.deadline)
    try:
        driver.load()
        own = column.profile
        if own is not None:
            cell["own"] = _side(_check(driver, plan, own, kind, transport))
        cell["documented"] = _documented(driver, plan, kind, transport)
        cell["scenarios"] = [
            {
                "name": scenario.name,
                "documented": replay(driver, DOCUMENTED, kind, transport, scenario),
                "own": None if own is None else replay(driver, own, kind, transport, scenario),
            }
            for scenario in SCENARIOS
            if applies(scenario, kind, transport)
        ]
    except (CannotRun, TargetFailure) as exc:  # a cell that cannot run is a row, not a crash
        cell["error"] = str(exc).strip().splitlines()[-1]
    finally:
        driver.quit()
    return cell


def _check(
    driver: Driver,
    plan: Plan,
    profile: Profile,
    kind: Kind,
    transport: Transport,
    muted: frozenset[str] = frozenset(),
    seed: int | None = None,
) -> KindResult:
    seed = plan.seed if seed is None else seed
    return check_kind(
        driver, profile, kind, transport=transport, examples=plan.examples, seed=seed, muted=muted
    )


def _documented(driver: Driver, plan: Plan, kind: Kind, transport: Transport) -> dict[str, Any]:
    """Rounds against `documented`, each muting what the rounds before it found broken, each
    with a seed of its own, until QUIET_ROUNDS rounds in a row find nothing new."""
    muted: frozenset[str] = frozenset()
    sides = []
    quiet = 0
    for round_ in range(ROUNDS):
        result = _check(driver, plan, DOCUMENTED, kind, transport, muted, seed=plan.seed + round_)
        sides.append(_side(result))
        new = {f.guarantee.name for f in result.failures if isinstance(f, Counterexample)} - muted
        quiet = 0 if new else quiet + 1
        if quiet == QUIET_ROUNDS:
            break
        muted |= new
    failures = [f for side in sides for f in side["failures"]]
    return {
        "profile": DOCUMENTED.name,
        "server_class": sides[0]["server_class"],
        "passed": not failures,
        "broken": sorted({f["guarantee"] for f in failures if f["guarantee"]}),
        "rounds": len(sides),
        "examples": sum(s["examples"] for s in sides),
        "seconds": round(sum(s["seconds"] for s in sides), 1),
        "failures": failures,
    }


def _side(result: KindResult) -> dict[str, Any]:
    return {
        "profile": result.profile.name,
        "server_class": result.server_class,
        "passed": result.passed,
        "examples": result.examples,
        "seconds": round(result.seconds, 1),
        "contradicted": result.contradicted,
        "failures": [{**failure_json(f), "text": failure_lines(f)} for f in result.failures],
    }


def own_passed(cell: dict[str, Any]) -> bool:
    """The cell refines its own profile: the search, and every scenario replayed under it."""
    own = cell["own"]
    if own is None:
        return True
    return own["passed"] and not any(r["own"] and r["own"].get("broken") for r in cell.get("scenarios", []))


def cell_summary(cell: dict[str, Any]) -> str:
    return f"{cell['label']} {cell['kind']} {cell['transport']}: {cell_verdict(cell)}"


def cell_verdict(cell: dict[str, Any]) -> str:
    if cell["error"]:
        return f"could not run: {cell['error']}"
    own = cell["own"]
    scenarios = sorted(
        {r["documented"]["broken"] for r in cell["scenarios"] if r["documented"].get("broken")}
    )
    if own is None:
        mine = "no profile"
    elif own_passed(cell):
        mine = f"{own['profile']} ok"
    else:
        mine = f"{own['profile']} FAIL ({', '.join(_what_failed(own)) or 'a scenario'})"
    found = ", ".join(_what_failed(cell["documented"])) or "ok"
    return f"{mine}; documented: {found}" + (f"; scenarios: {', '.join(scenarios)}" if scenarios else "")


def _what_failed(side: dict[str, Any]) -> list[str]:
    """The guarantees a side broke, and the kinds of its other failures (a missing class...)."""
    return [*side["broken"], *sorted({f["kind"] for f in side["failures"] if not f["guarantee"]})]


def _column_json(index: int, column: Column) -> dict[str, Any]:
    found = column.interpreter
    profile = column.profile
    skipped = column.skipped
    if skipped is None and found is not None and profile is None:
        skipped_own = f"no profile models {found.label}: checked against documented only"
    else:
        skipped_own = None
    return {
        "index": index,
        "name": column.name,
        "label": found.label if found else column.name,
        "version": list(found.version) if found else None,
        "executable": found.executable if found else None,
        "profile": profile.name if profile else None,
        "skipped": skipped,
        "note": skipped_own,
    }


def _profiles_used(plan: Plan) -> list[Profile]:
    used = [DOCUMENTED]
    for column in plan.columns:
        profile = column.profile
        if profile is not None and profile not in used:
            used.append(profile)
    return used


def profile_json(profile: Profile) -> dict[str, Any]:
    switches = {
        field.name: _switch_value(getattr(profile, field.name))
        for field in attrs.fields(type(profile))
        if field.name not in ("name", "summary")
    }
    return {"name": profile.name, "summary": profile.summary, "switches": switches}


def _switch_value(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(getattr(value, "value", value))


def default_jobs() -> int:
    return max(1, min(2, os.cpu_count() or 1))
