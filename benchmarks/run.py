"""Every benchmark of issue 7, one after another, then each figure beside its target.

    python benchmarks/run.py [--quick] [--only NAME ...]

Runs step_cost.py, time_to_find.py, explore.py and matrix.py (each can be run alone: see its
own docstring), each as a process of its own so that none pays for another's imports or
leftovers, and prints what each printed, then one table of figures, targets and verdicts.
`--quick`: fewer examples and seeds, and no matrix (a few minutes instead of half an hour);
its figures are not the ones the README quotes. Exit status 0 whatever the verdicts (a
missed target is a figure, not an error); 1 if a benchmark itself failed.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from figures import Figure, read, table

HERE = Path(__file__).resolve().parent
BENCHMARKS = {
    "step_cost": (["50"], ["20"]),
    "time_to_find": (["--seeds", "3", "--budget", "65"], ["--seeds", "2"]),
    "explore": (["2"], ["1", "--minute", "20"]),
    "matrix": ([], None),  # None: not run with --quick
}


def machine() -> str:
    cores = len(os.sched_getaffinity(0))
    system = platform.platform(terse=True)
    return f"{platform.machine()}, {cores} cores, Python {platform.python_version()}, {system}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="*", choices=list(BENCHMARKS), default=list(BENCHMARKS))
    args = parser.parse_args()
    figures: list[Figure] = []
    failed = []
    started = time.monotonic()
    print(f"benchmarks on {machine()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="sockcheck-bench-") as folder:
        for name in args.only:
            full, quick = BENCHMARKS[name]
            chosen = quick if args.quick else full
            if chosen is None:
                print(f"\n== {name}: skipped with --quick", flush=True)
                continue
            out = Path(folder, f"{name}.json")
            print(f"\n== {name}", flush=True)
            done = subprocess.run([sys.executable, str(HERE / f"{name}.py"), *chosen, "--figures", str(out)])
            if done.returncode not in (0, 1) or not out.exists():  # time_to_find exits 1 on a miss
                failed.append(name)
                continue
            figures += read(out)
    print(f"\n== figures ({time.monotonic() - started:.0f} s in all{', --quick' if args.quick else ''})")
    print("\n".join(table(figures)))
    for name in failed:
        print(f"  {name}: FAILED (see its output above)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
