"""The soak: no false alarm on correct targets while the machine is loaded.

    python benchmarks/soak.py [--rounds N] [--quick] [--churn] [--seed N] [--deadline S]
                              [--failures DIR]

Each round runs two full default checks as subprocesses, each with `--json`: the running
interpreter's stdlib under its own profile (`sockcheck check`) and the project's impl under
`documented` (`sockcheck check --target impl`), both with the round's seed (recorded in the
table), while one busy loop per core keeps every CPU busy (with `--churn`, also a process
that forks and starts threads without pause). Both targets are correct, so any failure they
report is a false alarm of the checker: the soak prints a row per run, then the summary
"N runs, V false alarms", writes each failing run's JSON and output to --failures, and exits
1 if there was one. The load processes end with the soak (and by themselves if it is
killed), and every run's temporary files go in a private folder that must be empty after it.

After each run, its private TMPDIR must be empty and no process may have it in its
environment (the checker, its agents and their children all inherit it): a leftover is a
failure too.

`--quick`: 2 rounds of 20 examples each, no coverage pass: a short look (~1 minute).
`--deadline S`: the checks run with SOCKCHECK_DEADLINE=S instead of the deadline they
measure, to see what the measurement is worth (a deadline far too short must show here as
false alarms: the soak's own seen-failing check).

Result, 2-core machine with other checkers beside it (load average 8-9), 2026-12-01:

    .venv/bin/python benchmarks/soak.py --churn --seed 20261201
    40 runs, 0 false alarms (26.2 min; 0 contradicted repeats; speed factors 1.04..10.00)

(README, "No false alarms: the soak".)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import attrs

ROOT = Path(__file__).resolve().parent.parent
RUN_TIMEOUT = 1800.0  # seconds: a run that takes longer is reported as hung (a false alarm too)
TARGETS = {"stdlib": [], "impl": ["--target", "impl"]}

# A busy loop that looks, now and then, whether its parent still exists: a soak that is
# killed (SIGKILL, no clean-up) does not leave its load spinning.
BUSY = """
import os, sys
parent = int(sys.argv[1])
while os.getppid() == parent:
    for _ in range(200000):
        pass
"""
# Fork and thread churn: children and threads come and go without pause, as on a busy host.
CHURN = """
import os, sys, threading
parent = int(sys.argv[1])
while os.getppid() == parent:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()
"""


@attrs.frozen
class Run:
    round: int
    target: str
    seed: int
    status: int  # the command's exit status (-1: it did not end within RUN_TIMEOUT)
    seconds: float
    report: dict[str, Any] | None  # its --json, if it wrote one
    leftovers: tuple[str, ...]  # what was left in its private temporary folder

    @property
    def false_alarm(self) -> bool:
        """Any failure on these correct targets, or a run that did not end cleanly."""
        refines = self.report is not None and self.report.get("refines") is True
        return self.status != 0 or not refines or bool(self.leftovers)

    def total(self, field: str) -> int:
        results = self.report["results"] if self.report else []
        return sum(int(r[field]) for r in results)

    @property
    def verdict(self) -> str:
        if not self.false_alarm:
            return "ok"
        if self.status == -1:
            return "HUNG"
        return "LEFT" if self.leftovers and self.status == 0 else f"FAIL({self.status})"

    @property
    def factor(self) -> str:
        speed = (self.report or {}).get("machine_speed")
        return f"{speed['factor']:.2f}" if speed else "-"


def start_load(cores: int, churn: bool) -> list[subprocess.Popen[bytes]]:
    me = str(os.getpid())
    scripts = [BUSY] * cores + ([CHURN] if churn else [])
    return [subprocess.Popen([sys.executable, "-c", s, me], start_new_session=True) for s in scripts]


def stop_load(load: list[subprocess.Popen[bytes]]) -> None:
    for proc in load:
        os.killpg(proc.pid, signal.SIGKILL)  # its group: a churn child caught mid-fork too
    for proc in load:
        proc.wait(timeout=30)


def one_run(round_: int, target: str, seed: int, args: argparse.Namespace, folder: Path) -> Run:
    report = folder / f"round{round_:02d}-{target}.json"
    tmp = Path(tempfile.mkdtemp(prefix=f"tmp-{round_:02d}-{target}-", dir=folder))
    command = [sys.executable, "-m", "checker.cli", "check", *TARGETS[target], "--seed", str(seed)]
    command += [*args.extra, "--json", str(report)]
    env = {k: v for k, v in os.environ.items() if k != "SOCKCHECK_DEADLINE"}  # the measured one
    if args.deadline is not None:  # or a fixed one, to see what the measured one is worth
        env["SOCKCHECK_DEADLINE"] = str(args.deadline)
    env["TMPDIR"] = str(tmp)
    started = time.monotonic()
    with open(folder / f"round{round_:02d}-{target}.out", "w") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            status = proc.wait(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            status = -1
    seconds = time.monotonic() - started
    data = json.loads(report.read_text()) if report.exists() else None
    leftovers = tuple(sorted(os.listdir(tmp))) + tuple(f"process {pid}" for pid in processes_in(tmp))
    shutil.rmtree(tmp, ignore_errors=True)
    return Run(round_, target, seed, status, seconds, data, leftovers)


def processes_in(tmp: Path) -> list[int]:
    """Processes whose TMPDIR is `tmp` or a folder in it: what is left of a run's checker,
    agents and their children once it has ended (every one inherits it). Linux only."""
    found = []
    if not os.path.isdir("/proc"):
        return found
    prefix = b"TMPDIR=" + bytes(tmp)
    for name in os.listdir("/proc"):
        try:
            entries = Path(f"/proc/{name}/environ").read_bytes().split(b"\0") if name.isdigit() else []
        except OSError:
            continue
        if any(e == prefix or e.startswith(prefix + b"/") for e in entries):
            found.append(int(name))
    return found


HEADER = f"{'round':>5} {'target':6} {'seed':>10} {'verdict':8} {'examples':>8} {'steps':>6} "
HEADER += f"{'seconds':>7} {'contra':>6} {'speed':>5}"


def row(run: Run) -> str:
    return (
        f"{run.round:>5} {run.target:6} {run.seed:>10} {run.verdict:8} {run.total('examples'):>8} "
        f"{run.total('steps'):>6} {run.seconds:>7.1f} {run.total('repeats_contradicted'):>6} {run.factor:>5}"
    )


def keep_failure(run: Run, folder: Path, failures: Path) -> None:
    failures.mkdir(parents=True, exist_ok=True)
    for suffix in (".json", ".out"):
        source = folder / f"round{run.round:02d}-{run.target}{suffix}"
        if source.exists():
            shutil.copy(source, failures / source.name)
    if run.leftovers:
        (failures / f"round{run.round:02d}-{run.target}.leftovers").write_text(
            "\n".join(run.leftovers) + "\n"
        )


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 20 examples, no coverage pass")
    parser.add_argument("--churn", action="store_true", help="also a process forking and starting threads")
    parser.add_argument("--load", type=int, default=os.cpu_count() or 1, help="busy loops (default: cores)")
    parser.add_argument("--seed", type=int, help="the first round's seed (default: random, printed)")
    parser.add_argument(
        "--deadline", type=float, help="a fixed SOCKCHECK_DEADLINE instead of the measured one"
    )
    parser.add_argument("--failures", default="soak-failures", help="where failing runs are kept")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.load < 0:
        parser.error("--rounds must be at least 1 and --load at least 0")
    args.extra = ["--examples", "20", "--no-cover"] if args.quick else []
    if args.quick:
        args.rounds = min(args.rounds, 2)
    if args.seed is None:
        args.seed = random.randrange(2**31)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    mode = " (quick)" if args.quick else ""
    print(
        f"soak{mode}: {args.rounds} rounds x {list(TARGETS)}, "
        f"seeds {args.seed}..{args.seed + args.rounds - 1}, "
        f"load: {args.load} busy loops"
        + (" + fork/thread churn" if args.churn else "")
        + (f", fixed deadline {args.deadline} s" if args.deadline is not None else ""),
        flush=True,
    )
    print(HEADER, flush=True)
    started = time.monotonic()
    runs: list[Run] = []
    failures = Path(args.failures)
    load = start_load(args.load, args.churn)
    try:
        with tempfile.TemporaryDirectory(prefix="sockcheck-soak-") as where:
            for round_ in range(args.rounds):
                for target in TARGETS:
                    run = one_run(round_, target, args.seed + round_, args, Path(where))
                    runs.append(run)
                    print(row(run), flush=True)
                    if run.false_alarm:
                        keep_failure(run, Path(where), failures)
    except KeyboardInterrupt:
        print("soak: interrupted", file=sys.stderr)
        return 130
    finally:
        stop_load(load)
    alarms = sum(r.false_alarm for r in runs)
    seconds = time.monotonic() - started
    contradicted = sum(r.total("repeats_contradicted") for r in runs)
    factors = sorted(float(r.factor) for r in runs if r.factor != "-") or [0.0]
    print(
        f"{len(runs)} runs, {alarms} false alarms ({seconds / 60:.1f} min; {contradicted} contradicted "
        f"repeats; speed factors {factors[0]:.2f}..{factors[-1]:.2f})"
    )
    if alarms:
        print(f"soak: the failing runs' reports are in {failures}/", file=sys.stderr)
    return 1 if alarms else 0


if __name__ == "__main__":
    sys.exit(main())
