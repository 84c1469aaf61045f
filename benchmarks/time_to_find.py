"""How long the checker takes to find each seeded bug of the regression corpus.

    python benchmarks/time_to_find.py [--seeds N] [--only NAME ...] [--budget S] [--json FILE]
                                      [--figures FILE]

For each broken variant of the running interpreter's socketserver.py (tests/regression/
mutants.py), and each of seeds 0..N-1: a fresh process does what `sockcheck check --module
VARIANT --kind K --no-cover` does (measures the machine, starts the agent, loads the module)
and searches until the first failure, as found: no shrinking, minimizing or confirming
(check_kind's `find_only`). The time to find is from the process's first line to that
failure. Each row gives the median and worst over the seeds beside issue 7's targets (median
at most 5 s for a thread bug and 15 s for a fork bug, worst at most 60 s), and the same in
units of the time CPython's own test_socketserver takes to run on this interpreter, measured
in the same run. A seed that finds nothing within its budget counts as the budget (a miss).

The seeds are not the variants' own (the regression tier picks, per variant, one seed that
finds it in few examples): this measures what a user running a fresh seed would wait.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.regression.mutants: the corpus lives with the tests

from checker import speed  # noqa: E402
from checker.cli import _deadline as deadline_for  # noqa: E402  (SOCKCHECK_DEADLINE, else scaled)
from checker.cli import choose_profile  # noqa: E402
from checker.driver import Driver  # noqa: E402
from checker.peer import run_peer, running  # noqa: E402
from checker.run import check_kind  # noqa: E402
from checker.targets import resolve  # noqa: E402
from model import Kind, Transport  # noqa: E402
from tests.regression.mutants import VARIANTS, Variant  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from figures import Figure, write  # noqa: E402

MEDIAN_TARGET = {"thread": 5.0, "fork": 15.0}  # issue 7: seconds, median over seeds
WORST_TARGET = 60.0  # issue 7: seconds, the worst seed
EXAMPLES = 1000  # Hypothesis's ceiling for one run; the budget ends a search first
BUDGET = 90.0  # seconds a seed may take before it counts as a miss (beyond the worst target)


def find_once(variant: Variant, seed: int, folder: Path) -> dict[str, Any]:
    """In this process: the first failure of `variant` under `seed`, and when it came."""
    began = time.monotonic()
    module = variant.write(folder)
    measured = speed.measure()  # as `sockcheck check` does, before the agent starts
    driver = Driver(resolve("stdlib", str(module)), deadline_for(measured))
    try:
        info = driver.load()
        called = time.monotonic()
        result = check_kind(
            driver,
            choose_profile("auto", driver.target, info),
            Kind(variant.kind),
            transport=Transport(variant.transport),
            examples=EXAMPLES,
            seed=seed,
            misuse=variant.misuse,
            find_only=True,
        )
    finally:
        driver.quit()
    found = [failure_name(f) for f in result.failures]
    # Any failure is the bug showing (the unmodified file refines: tests/regression); the one
    # the regression tier asks for may come second (thread-close-no-join, seed 0: a finished
    # thread still held after the close, before the close that does not wait).
    return {
        "found": bool(found) and result.found_after is not None,
        "as_its_own": found[:1] == [variant.guarantee],
        "failures": found,
        "seconds": None if result.found_after is None else called - began + result.found_after,
        "examples": result.examples,
        "factor": measured.factor,
    }


def failure_name(failure: object) -> str:
    guarantee = getattr(failure, "guarantee", None)
    return guarantee.name if guarantee is not None else type(failure).__name__


def run_one(name: str, seed: int, budget: float) -> dict[str, Any]:
    """`find_once` in a process of its own, killed (with its agent) at the budget."""
    command = [sys.executable, __file__, "--one", name, str(seed)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, _ = process.communicate(timeout=budget)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return {"found": False, "failures": [], "seconds": None, "budget": True}
    if process.returncode != 0:
        return {"found": False, "failures": [f"exit {process.returncode}"], "seconds": None}
    return json.loads(out.strip().splitlines()[-1])


def cpython_suite_seconds() -> float:
    """Wall time of the running interpreter's own test_socketserver (all resources on)."""
    return run_peer(running()).seconds


def suite_catches(variant: Variant, suite: float) -> bool:
    """Whether CPython's own test_socketserver fails on the variant (the peer tier's run), or
    hangs: given 20 times its own time (a variant that leaves children behind can hang it)."""
    with tempfile.TemporaryDirectory(prefix="sockcheck-ttf-") as folder:
        module = variant.write(Path(folder))
        return not run_peer(running(), module, deadline=max(20 * suite, 10.0)).passed


def seconds_of(run: dict[str, Any], budget: float) -> float:
    """What a seed cost the user: the time to find it, or the whole budget where it missed."""
    return run["seconds"] if run["found"] and run["seconds"] is not None else budget


def row(
    variant: Variant, runs: list[dict[str, Any]], budget: float, suite: float, caught: bool
) -> dict[str, Any]:
    times = [seconds_of(run, budget) for run in runs]
    median, worst = statistics.median(times), max(times)
    met = median <= MEDIAN_TARGET[variant.kind] and worst <= WORST_TARGET
    return {
        "variant": variant.name,
        "kind": variant.kind,
        "guarantee": variant.guarantee,
        "found": sum(run["found"] for run in runs),
        "as_its_own": sum(run.get("as_its_own", False) for run in runs),
        "seeds": len(runs),
        "median": median,
        "worst": worst,
        "median_suites": median / suite,
        "met": met,
        "suite_catches": caught,
        "runs": runs,
    }


def line(r: dict[str, Any]) -> str:
    target = f"<= {MEDIAN_TARGET[r['kind']]:g} / {WORST_TARGET:g} s"
    verdict = "met" if r["met"] else "MISSED"
    return (
        f"  {r['variant']:44} {r['kind']:6} found {r['found']}/{r['seeds']}  median {r['median']:6.2f} s "
        f"worst {r['worst']:6.2f} s  = {r['median_suites']:5.2f} x the suite "
        f"({'catches it' if r['suite_catches'] else 'misses it'})   target {target}: {verdict}"
    )


def by_kind(rows: list[dict[str, Any]]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The rows of thread bugs, then of fork bugs (a kind with none is left out)."""
    for kind in ("thread", "fork"):
        mine = [r for r in rows if r["kind"] == kind]
        if mine:
            yield kind, mine


def summary(rows: list[dict[str, Any]], suite: float) -> list[str]:
    out = []
    for kind, mine in by_kind(rows):
        medians = sorted(r["median"] for r in mine)
        middle = statistics.median(medians)
        met = sum(r["met"] for r in mine)
        worst = max(r["worst"] for r in mine)
        caught = sum(r["suite_catches"] for r in mine)
        out.append(
            f"  {kind:6} {len(mine)} bugs: {met} met both targets; medians {medians[0]:.2f}-"
            f"{medians[-1]:.2f} s (median of medians {middle:.2f} s = {middle / suite:.2f} x the suite), "
            f"worst seed {worst:.2f} s; CPython's own suite catches {caught} of them"
        )
    return out


def figures(rows: list[dict[str, Any]], suite: float) -> list[Figure]:
    out = []
    for kind, mine in by_kind(rows):
        slowest = max(mine, key=lambda r: r["median"])
        worst = max(mine, key=lambda r: r["worst"])
        target = MEDIAN_TARGET[kind]
        out.append(
            Figure(
                f"time to find, {len(mine)} {kind} bugs, median over seeds",
                f"every one {slowest['median']:.2f} s or less (slowest: {slowest['variant']}); "
                f"{slowest['median'] / suite:.1f} x CPython's test_socketserver ({suite:.1f} s)",
                f"<= {target:g} s each",
                all(r["median"] <= target for r in mine),
            )
        )
        out.append(
            Figure(
                f"time to find, {len(mine)} {kind} bugs, worst seed",
                f"{worst['worst']:.2f} s ({worst['variant']}); found {sum(r['found'] for r in mine)} "
                f"of {sum(r['seeds'] for r in mine)} searches",
                f"<= {WORST_TARGET:g} s",
                worst["worst"] <= WORST_TARGET,
            )
        )
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--only", nargs="*", default=(), metavar="NAME")
    parser.add_argument("--budget", type=float, default=BUDGET)
    parser.add_argument("--json", metavar="FILE", help="every row and run")
    parser.add_argument("--figures", metavar="FILE", help="the figures beside their targets (JSON)")
    parser.add_argument("--one", nargs=2, metavar=("NAME", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    by_name = {v.name: v for v in VARIANTS}
    if args.one:
        with tempfile.TemporaryDirectory(prefix="sockcheck-ttf-") as folder:
            print(json.dumps(find_once(by_name[args.one[0]], int(args.one[1]), Path(folder))))
        return 0
    unknown = [name for name in args.only if name not in by_name]
    if unknown:
        print(f"time_to_find: unknown variant {', '.join(unknown)}", file=sys.stderr)
        return 2
    chosen = [by_name[name] for name in args.only] if args.only else list(VARIANTS)
    suite = cpython_suite_seconds()
    print(
        f"time to find, {len(chosen)} seeded bugs x seeds 0-{args.seeds - 1}, budget {args.budget:g} s a seed"
    )
    print(f"  CPython's own test_socketserver on this interpreter: {suite:.1f} s")
    rows = []
    for variant in chosen:
        runs = [run_one(variant.name, seed, args.budget) for seed in range(args.seeds)]
        rows.append(row(variant, runs, args.budget, suite, suite_catches(variant, suite)))
        print(line(rows[-1]), flush=True)
    print("\n".join(summary(rows, suite)))
    if args.json:
        Path(args.json).write_text(json.dumps({"suite_seconds": suite, "rows": rows}, indent=1))
    write(args.figures, figures(rows, suite))
    return 0 if all(r["met"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
