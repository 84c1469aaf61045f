"""The `sockcheck` command line. Exit status: 0 refines, 1 counterexample, 2 could not run."""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from checker import docs, exploring, matrix_report, replay, speed, stops
from checker import matrix as matrix_run
from checker.checking import (  # noqa: F401 - _database, _folder, choose_profile: tests and benchmarks
    DEFAULT_DB,
    DEFAULT_DEADLINE,
    DEFAULT_EXAMPLES,
    DEFAULT_REPLAY_DIR,
    CheckOptions,
    UsageError,
    _database,
    _deadline,
    _folder,
    _kinds,
    _shrink_bound,
    _speed_line,
    _transports,
    choose_profile,
    command_line,
    run_check,
    windows_line,
)
from checker.driver import CannotRun
from checker.machine import RunConfig
from checker.targets import BadTarget, resolve
from model import PROFILES, Kind, Transport
from model.explore import Bounds

EXPLORE_WORKERS = 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2: never the usage block
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sockcheck", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    check = commands.add_parser("check", help="check that a target refines its profile")
    check.add_argument(
        "--target", default="stdlib", help="impl, stdlib (default), or an interpreter: python3.7, a path"
    )
    check.add_argument("--python", metavar="PYTHON", help="the interpreter to run impl or stdlib in")
    check.add_argument("--module", metavar="PATH", help="a socketserver.py to check in place of the stdlib's")
    check.add_argument(
        "--server",
        metavar="MODULE:NAME",
        help="a server class or factory of your own to check (MODULE:NAME or FILE.py:NAME), "
        "built on the target's socketserver",
    )
    check.add_argument(
        "--kind",
        choices=("thread", "fork", "both"),
        help="default: both; with --server, the kind of the server's mix-in",
    )
    check.add_argument(
        "--transport",
        choices=(*(t.value for t in Transport), "all"),
        help="default: tcp; with --server, the server's own",
    )
    check.add_argument("--profile", default="auto", help="a profile name, or auto (default)")
    check.add_argument("--examples", type=_positive, default=DEFAULT_EXAMPLES)
    check.add_argument("--seed", type=int)
    check.add_argument(
        "--jobs",
        type=_positive,
        default=1,
        metavar="N",
        help="worker processes to spread the checks over, and their examples if fewer (default 1: none)",
    )
    check.add_argument(
        "--misuse",
        action="store_true",
        help="also call shutdown() with no loop running and server_close() under a running loop",
    )
    check.add_argument(
        "--no-cover",
        action="store_true",
        help="skip taking, after the search, the model transitions it left untaken",
    )
    check.add_argument(
        "--interleave",
        action="store_true",
        help="controlled interleavings: also pause a step at a hook point while another call is made",
    )
    check.add_argument(
        "--jitter",
        type=_jitter,
        default=0.0,
        metavar="SECONDS",
        help="random pauses of up to SECONDS at the same hook points (e.g. 0.002)",
    )
    check.add_argument("--json", metavar="FILE")
    check.add_argument(
        "--confirm",
        type=_count,
        default=replay.DEFAULT_CONFIRM,
        metavar="N",
        help=f"replays of each failure before it is reported (default {replay.DEFAULT_CONFIRM}; 0: none)",
    )
    check.add_argument(
        "--replay-dir",
        metavar="DIR",
        help=f"where each failure's replay script goes (default {DEFAULT_REPLAY_DIR}/; none: nowhere)",
    )
    check.add_argument(
        "--db",
        metavar="DIR|URL",
        help=f"Hypothesis's example database: a folder (default {DEFAULT_DB}/), "
        "redis://HOST:PORT (needs sockcheck[redis]), or none",
    )
    replay_cmd = commands.add_parser("replay", help="rerun a replay script that sockcheck check wrote")
    replay_cmd.add_argument("file", metavar="FILE")
    replay_cmd.add_argument("--times", type=_positive, default=1, help="how many replays (default 1)")
    matrix = commands.add_parser(
        "matrix", help="every interpreter x kind x transport, against its profile and documented"
    )
    matrix.add_argument(
        "--python",
        action="append",
        default=[],
        metavar="PATH",
        help="an interpreter (repeatable; default: all found)",
    )
    matrix.add_argument(
        "--out", metavar="FILE", help="FILE.md, FILE.html or FILE.json (default: Markdown on stdout)"
    )
    matrix.add_argument("--kind", choices=("thread", "fork", "both"), default="both")
    matrix.add_argument("--transport", choices=(*(t.value for t in Transport), "all"), default="all")
    matrix.add_argument("--examples", type=_positive, default=matrix_run.DEFAULT_EXAMPLES)
    matrix.add_argument("--seed", type=int, default=0)
    matrix.add_argument("--jobs", type=_positive, default=matrix_run.default_jobs(), help="cells run at once")
    explore = commands.add_parser("explore", help="explore the model exhaustively within bounds")
    explore.add_argument(
        "--workers", type=_positive, default=EXPLORE_WORKERS, help="requests alive at once (default 3)"
    )
    explore.add_argument("--steps", type=_positive, help="events from the start (default: unbounded)")
    explore.add_argument("--profile", default="all", help="a profile name, or all (default)")
    explore.add_argument("--kind", choices=("thread", "fork", "both"), default="both")
    explore.add_argument("--transport", choices=(*(t.value for t in Transport), "all"), default="tcp")
    explore.add_argument("--misuse", action="store_true", help="also the calls outside the contract")
    explore.add_argument("--dot", metavar="FILE", help="write the state graph, abstracted to phases")
    explore.add_argument("--json", metavar="FILE")
    explore.add_argument("--jobs", type=_positive, default=os.cpu_count() or 1, help="explorations at once")
    docs_cmd = commands.add_parser(
        "docs", help="write docs/SEMANTICS.md and the state diagram from the model"
    )
    docs_cmd.add_argument(
        "--out", metavar="DIR", default="docs", help="the directory to write (default docs/)"
    )
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    _stacks_on_request()
    if argv is None:  # the command itself (not a test calling it): its process is its own
        stops.raise_lost_stops(_interrupt)  # a Ctrl-C landed in a gc callback still stops it
    try:
        args = build_parser().parse_args(argv)
        args.argv = sys.argv[1:] if argv is None else argv
        commands = {
            "matrix": cmd_matrix,
            "explore": cmd_explore,
            "check": cmd_check,
            "docs": cmd_docs,
            "replay": cmd_replay,
        }
        return commands[args.command](args)
    except (UsageError, BadTarget, CannotRun, replay.NotAReplay) as exc:
        print(f"sockcheck: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sockcheck: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`sockcheck check | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


# The check under way (its RunConfig, kind and transport): what SIGUSR1's line says.
_UNDER_WAY: dict[str, Any] = {}


def _stacks_on_request() -> None:
    """`kill -USR1 PID` prints the stack of each of the checker's threads on stderr, then a
    line of how far the check is, and the run goes on: where a run that seems stuck waits
    (for its agent, whose every answer has a bound, for Hypothesis, for a replay) and what it
    has seen, without ending it to find out."""
    if not hasattr(signal, "SIGUSR1"):
        return
    try:
        sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):
        return  # stderr is no file (main() called under a test's capture): nowhere to print
    with contextlib.suppress(ValueError):  # off the main thread, no handler can be set
        signal.signal(signal.SIGUSR1, _say_how_far)
        # The stacks first, then (chained) the line: set after it, the line would replace them.
        faulthandler.register(signal.SIGUSR1, all_threads=True, chain=True)


def _say_how_far(signum: int, frame: object) -> None:
    config: RunConfig | None = _UNDER_WAY.get("config")
    if config is None:
        print("sockcheck: no example has started yet", file=sys.stderr, flush=True)
        return
    seen = ", ".join(sorted(config.seen)) or "nothing"
    print(
        f"sockcheck: {_UNDER_WAY['where']}: example {config.examples_run} ({_UNDER_WAY['total']} to "
        f"generate, then shrinking), {config.steps_run} steps; broken so far: {seen}",
        file=sys.stderr,
        flush=True,
    )


def _interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


def cmd_matrix(args: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, _interrupt)  # a killed matrix stops its worker processes too
    if args.out and not args.out.endswith((".md", ".html", ".json")):
        raise UsageError(f"--out {args.out}: expected a .md, .html or .json file")
    _shrink_bound()
    measured = speed.measure()
    plan = matrix_run.Plan(
        columns=matrix_run.columns(args.python),
        kinds=tuple(_kinds(args.kind)),
        transports=tuple(_transports(args.transport)),
        examples=args.examples,
        seed=args.seed,
        deadline=_deadline(measured),
    )
    print(f"sockcheck matrix: {_speed_line(measured, plan.deadline)}", file=sys.stderr)
    for column in plan.columns:
        if column.skipped:
            print(f"sockcheck matrix: skipping {column.name}: {column.skipped}", file=sys.stderr)
    if not plan.cells():
        raise UsageError(
            "no interpreter to check: none found on PATH or in a pyenv root, or none of --python runs"
        )
    print(
        f"sockcheck matrix: {len(plan.cells())} cells over {len(plan.columns)} interpreters, "
        f"{args.jobs} at a time",
        file=sys.stderr,
    )
    data = matrix_run.run(plan, args.jobs, lambda line: print(line, file=sys.stderr, flush=True))
    if args.out:
        matrix_report.write(data, args.out)
        print(f"sockcheck matrix: wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(matrix_report.to_markdown(data))
    cells = data["cells"]
    if all(c["error"] for c in cells):
        raise CannotRun(f"no cell could run: {cells[0]['error']}")
    own_ok = all(matrix_run.own_passed(c) for c in cells if not c["error"])
    return 0 if own_ok else 1


def cmd_explore(args: argparse.Namespace) -> int:
    if args.profile != "all" and args.profile not in PROFILES:
        raise UsageError(f"no profile {args.profile!r}; there are: {', '.join(PROFILES)}")
    names = list(PROFILES) if args.profile == "all" else [args.profile]
    bounds = Bounds(workers=args.workers, steps=args.steps, misuse=args.misuse)
    jobs = [
        (name, kind, transport, bounds)
        for name in names
        for kind in _kinds(args.kind)
        for transport in _transports(args.transport)
    ]
    steps = "unbounded" if args.steps is None else f"<= {args.steps}"
    print(
        f"sockcheck explore: {len(jobs)} explorations; requests alive at once <= {args.workers}, "
        f"steps {steps}" + (", misuse mode" if args.misuse else ""),
        flush=True,
    )
    started = time.monotonic()

    def done(r: exploring.Exploration) -> None:  # progress, on stderr
        print(
            f"  explored {r.profile} {r.kind.value} {r.transport.value}: {r.states} states", file=sys.stderr
        )

    results = exploring.run(jobs, args.jobs, done)
    for line in exploring.render(results, time.monotonic() - started):
        print(line)
    if args.dot:
        exploring.write_dot(results, Path(args.dot))
    if args.json:
        Path(args.json).write_text(json.dumps(exploring.to_json(results), indent=2) + "\n")
    return 0 if all(r.ok for r in results) else 1


def cmd_docs(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {args.out}: not a directory")
    for path in docs.write(out):
        print(f"sockcheck docs: wrote {path}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    result = replay.replay_times(replay.read_script(Path(args.file)), args.times)
    for line in replay.outcome_lines(result):
        print(line)
    return 1 if result.reproduced else 0


def cmd_check(args: argparse.Namespace) -> int:
    target = resolve(args.target, args.module, args.python, args.server)
    options = CheckOptions(
        kind=args.kind,
        transport=args.transport,
        profile=args.profile,
        examples=args.examples,
        seed=args.seed,
        jobs=args.jobs,
        misuse=args.misuse,
        cover=not args.no_cover,
        interleave=args.interleave,
        jitter=args.jitter,
        confirm=args.confirm,
        replay_dir=args.replay_dir,
        db=args.db,
        json=args.json,
        command=command_line(args.argv),
    )

    def before_jobs() -> None:
        signal.signal(signal.SIGTERM, _interrupt)  # a killed check stops its workers too

    checked = run_check(target, options, emit=print, progress=_progress, before_jobs=before_jobs)
    return checked.exit_status


def _jitter(raw: str) -> float:
    try:
        seconds = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number of seconds") from None
    if not 0 <= seconds <= 0.1:
        raise argparse.ArgumentTypeError(f"{raw}: jitter must be between 0 and 0.1 seconds")
    return seconds


def _progress(kind: Kind, transport: Transport, total: int) -> Any:
    """Each example as it starts: kept for SIGUSR1's line, and shown where stderr is a terminal."""
    where = f"{kind.value} {transport.value}"
    terminal = sys.stderr.isatty()

    def show(config: RunConfig) -> None:
        _UNDER_WAY.update(where=where, config=config, total=total)
        if terminal:
            print(f"\r  {where:20} example {config.examples_run}/{total}...", end="", file=sys.stderr)

    return show


if __name__ == "__main__":
    sys.exit(main())
