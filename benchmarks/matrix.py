"""`sockcheck matrix`'s wall time over every interpreter found, and its speed-up with --jobs.

    python benchmarks/matrix.py [--jobs N] [--figures FILE]

The full matrix (every interpreter found, thread and fork, every transport, against its own
profile and `documented`) with --jobs N (default: the cores), beside issue 7's target of five
minutes for nine interpreters on two cores; then the same matrix over the newest two
interpreters with --jobs 1 and with --jobs N, in the same run: the parallel speed-up.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from checker.interpreters import discover

sys.path.insert(0, str(Path(__file__).resolve().parent))
from figures import Figure, write

TARGET_SECONDS = 300.0  # issue 7: the full matrix over 9 interpreters, 2 cores
TARGET_INTERPRETERS = 9


def matrix_seconds(jobs: int, pythons: list[str]) -> float:
    """Wall time of one `sockcheck matrix`; it must exit 0 (every cell refines its profile)."""
    with tempfile.TemporaryDirectory(prefix="sockcheck-bench-") as folder:
        command = [sys.executable, "-m", "checker.cli", "matrix", "--jobs", str(jobs)]
        command += [arg for python in pythons for arg in ("--python", python)]
        command += ["--out", str(Path(folder, "matrix.json"))]
        started = time.monotonic()
        done = subprocess.run(
            command, capture_output=True, text=True, env={**os.environ, "SOCKCHECK_DB": "none"}
        )
        seconds = time.monotonic() - started
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise SystemExit(f"benchmarks/matrix.py: sockcheck matrix exited {done.returncode}:\n{tail}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--figures", metavar="FILE", help="the figures beside their targets (JSON)")
    args = parser.parse_args()
    found = [i.path for i in discover()]
    print(f"matrix: {len(found)} interpreters found, --jobs {args.jobs}, {os.cpu_count()} cores")
    full = matrix_seconds(args.jobs, [])
    print(f"  full matrix: {full:.0f} s")
    pair = found[-2:]  # the newest two: the speed-up of the same work, not the slowest columns
    one = matrix_seconds(1, pair)
    many = matrix_seconds(args.jobs, pair)
    speedup = one / many
    print(
        f"  {len(pair)} interpreters: --jobs 1 {one:.0f} s, --jobs {args.jobs} {many:.0f} s: {speedup:.2f} x"
    )
    per_nine = full / len(found) * TARGET_INTERPRETERS if found else full
    write(
        args.figures,
        [
            Figure(
                f"matrix, {len(found)} interpreters, --jobs {args.jobs}",
                f"{full:.0f} s ({per_nine:.0f} s for {TARGET_INTERPRETERS} at the same rate)",
                f"< {TARGET_SECONDS:g} s for {TARGET_INTERPRETERS}",
                per_nine < TARGET_SECONDS,
            ),
            Figure(
                f"matrix speed-up, --jobs {args.jobs} vs 1 ({len(pair)} interpreters)",
                f"{speedup:.2f} x ({one:.0f} s -> {many:.0f} s)",
                "-",
                None,
            ),
        ],
    )


if __name__ == "__main__":
    main()
