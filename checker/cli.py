"""The `sockcheck` command line. Exit status: 0 refines, 1 counterexample, 2 could not run."""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import json
import os
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from hypothesis.database import ExampleDatabase

from checker import coverage, docs, exploring, matrix_report, replay, speed, stops
from checker import matrix as matrix_run
from checker.databases import BadDatabase, open_database
from checker.driver import CannotRun, Driver, TargetInfo
from checker.machine import Counterexample, RunConfig
from checker.minimize import replayable
from checker.results import database_line, failure_lines, result_json, shrinking_line
from checker.run import FlakyTarget, KindResult, MissingClass, check_kind, env_seconds, shrink_seconds
from checker.targets import BadTarget, Target, resolve
from model import DOCUMENTED, PROFILES, Kind, Profile, Transport, profile_for_version
from model.explore import Bounds

if TYPE_CHECKING:
    from checker.jobs import Plan

DEFAULT_EXAMPLES = 100
EXPLORE_WORKERS = 3
# Seconds a call that must return may take on the reference machine; a check scales it by
# the machine's measured speed (checker.speed), and SOCKCHECK_DEADLINE overrides both.
DEFAULT_DEADLINE = 1.0
# Under the current directory: replay scripts (SOCKCHECK_REPLAY_DIR overrides), and Hypothesis's
# example database (SOCKCHECK_DB overrides); "none" turns either off.
DEFAULT_REPLAY_DIR = Path(".sockcheck", "replays")
DEFAULT_DB = Path(".sockcheck", "examples")


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2: never the usage block
        raise UsageError(message)


# `both` is the two mix-ins (the default, as it always was); `all` adds the plain servers.
KIND_CHOICES = ("thread", "fork", "sync", "both", "all")


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
        "--contract",
        metavar="CALL=METHOD,...",
        help="with --server: the server's own methods for serve_forever, shutdown or server_close "
        "(e.g. shutdown=stop)",
    )
    check.add_argument(
        "--kind",
        choices=KIND_CHOICES,
        help="default: both (thread and fork; all adds sync); with --server, the kind of the server's mix-in",
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
    matrix.add_argument("--kind", choices=KIND_CHOICES, default="both")
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
    explore.add_argument("--kind", choices=KIND_CHOICES, default="both")
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


def _deadline(measured: speed.Speed | None = None) -> float:
    """SOCKCHECK_DEADLINE, else the default scaled by the measured speed (never below it)."""
    try:
        given = env_seconds("SOCKCHECK_DEADLINE")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if given is None:
        return DEFAULT_DEADLINE * (measured.factor if measured is not None else 1.0)
    return given


def _shrink_bound() -> None:
    """A SOCKCHECK_SHRINK_SECONDS that is no bound is a usage error before anything runs."""
    try:
        shrink_seconds()
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _speed_line(measured: speed.Speed, deadline: float) -> str:
    medians = ", ".join(f"{k} {v * 1000:.2f}" for k, v in measured.medians.items())
    source = " (SOCKCHECK_DEADLINE)" if os.environ.get("SOCKCHECK_DEADLINE") else ""
    return (
        f"machine speed: factor {measured.factor:.2f} (medians ms: {medians}); "
        f"liveness deadline {deadline:.2f} s{source}"
    )


def _folder(flag: str | None, variable: str, default: Path) -> Path | None:
    """A folder named by its flag, else by its environment variable, else the default;
    None where it is turned off ("none")."""
    chosen = flag if flag is not None else os.environ.get(variable) or str(default)
    return None if chosen.lower() == "none" else Path(chosen)


def _database(flag: str | None) -> ExampleDatabase | None:
    """--db, else SOCKCHECK_DB, else the default folder (not _folder: a URL is no path)."""
    chosen = flag if flag is not None else os.environ.get("SOCKCHECK_DB") or str(DEFAULT_DB)
    try:
        return open_database(chosen)
    except BadDatabase as exc:
        raise UsageError(f"--db {exc}") from None


def choose_profile(name: str, target: Target, info: TargetInfo) -> Profile:
    if name != "auto":
        if name not in PROFILES:
            raise UsageError(f"--profile {name}: unknown; known: {', '.join(PROFILES)}, auto")
        return PROFILES[name]
    if target.source == "package" or _on_impl(info):
        return DOCUMENTED
    profile = profile_for_version(info.version)
    if profile is None or info.implementation != "cpython":
        version = ".".join(map(str, info.version))
        raise CannotRun(f"no profile models {info.implementation} {version} yet; pass --profile documented")
    return profile


def _on_impl(info: TargetInfo) -> bool:
    """A --server class built on impl's mix-ins: impl refines `documented`, so the class must."""
    mixin = (info.server or {}).get("mixin_module") or ""
    return mixin == "impl" or mixin.startswith("impl.")


def _server_checks(args: argparse.Namespace, server: dict[str, Any]) -> tuple[list[Kind], list[Transport]]:
    """A --server check's kind (its mix-in's, unless --kind says) and transport (its socket's)."""
    own = Transport(server["transport"])
    if args.transport not in (None, "all", own.value):
        raise UsageError(
            f"--transport {args.transport}: {server['class']} serves {own.value} only (its socket's)"
        )
    # No mix-in in the MRO is the sync kind: the handler runs inside handle_request()'s call.
    kinds = _kinds(args.kind) if args.kind is not None else [Kind(server["kind"])]
    return kinds, [own]


def _kinds(choice: str) -> list[Kind]:
    if choice == "all":
        return [Kind.THREAD, Kind.FORK, Kind.SYNC]
    return [Kind.THREAD, Kind.FORK] if choice == "both" else [Kind(choice)]


def _transports(choice: str) -> list[Transport]:
    return list(Transport) if choice == "all" else [Transport(choice)]


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
    target = resolve(args.target, args.module, args.python, args.server, args.contract)
    kinds = _kinds(args.kind or "both")
    transports = _transports(args.transport or "tcp")
    _shrink_bound()
    measured = speed.measure()  # before the agent starts: the machine as the run finds it
    deadline = _deadline(measured)
    database = _database(args.db)
    replays = _folder(args.replay_dir, "SOCKCHECK_REPLAY_DIR", DEFAULT_REPLAY_DIR)
    if replays is not None and replays.exists() and not replays.is_dir():
        raise UsageError(f"--replay-dir {replays}: not a directory")
    plan: Plan | None = None
    driver = Driver(target, deadline)
    try:
        info = driver.load()
        if info.server is not None:
            kinds, transports = _server_checks(args, info.server)
            if args.transport == "all":
                only = f"{info.server['class']} serves {transports[0].value} only"
                print(f"sockcheck check: {only}: checking that")
        profile = choose_profile(args.profile, target, info)
        version = ".".join(map(str, info.version))
        if args.jobs > 1:
            plan = _plan(args, target, deadline, profile, kinds, transports)
        print(
            f"sockcheck check: {target.label} ({info.implementation} {version}, "
            f"{info.file}), profile {profile.name}" + _modes(args, plan)
        )
        print(f"sockcheck check: {_speed_line(measured, deadline)}")
        if plan is None:  # the serial run: its checks one after another, on this agent
            results = [
                check_kind(
                    driver,
                    profile,
                    kind,
                    transport=transport,
                    examples=args.examples,
                    seed=args.seed,
                    misuse=args.misuse,
                    on_example=_progress(kind, transport, args.examples),
                    cover=not args.no_cover,
                    interleave=args.interleave,
                    jitter=args.jitter,
                    confirm_times=args.confirm,
                    database=database,
                )
                for transport in transports
                for kind in kinds
            ]
    finally:
        driver.quit()  # before any worker starts: each has an agent of its own
    if plan is None:
        covered = [coverage.of(result) for result in results]
    else:
        results, covered = _in_jobs(plan)
    command = shlex.join(["sockcheck", *args.argv])
    scripts = [_write_scripts(replays, result, command) for result in results]
    for result, cover, written in zip(results, covered, scripts, strict=True):
        _print_result(result, written)
        for line in coverage.lines(cover):
            print(f"    {line}")
    if args.json:
        machine = {**measured.to_json(), "deadline": round(deadline, 3)}
        _write_json(args.json, target, info, results, covered, machine, scripts, plan)
    return 0 if all(r.passed for r in results) else 1


def _plan(
    args: argparse.Namespace,
    target: Target,
    deadline: float,
    profile: Profile,
    kinds: list[Kind],
    transports: list[Transport],
) -> Plan:
    # Imported here, not above: a serial run loads no module it does not use (Hypothesis
    # draws some integers from the literals of the local modules loaded).
    from checker import jobs

    database = _folder(args.db, "SOCKCHECK_DB", DEFAULT_DB)
    return jobs.Plan(
        target=target,
        deadline=deadline,
        profile=profile.name,
        units=jobs.units(kinds, transports),
        jobs=args.jobs,
        examples=args.examples,
        seed=args.seed,
        misuse=args.misuse,
        cover=not args.no_cover,
        interleave=args.interleave,
        jitter=args.jitter,
        confirm_times=args.confirm,
        database=None if database is None else str(database),
        progress=sys.stderr.isatty(),
    )


def _in_jobs(plan: Plan) -> tuple[list[KindResult], list[coverage.Coverage]]:
    """The plan's checks in worker processes: results and coverage in the serial order."""
    from checker import jobs

    signal.signal(signal.SIGTERM, _interrupt)  # a killed check stops its workers too

    def show(line: str) -> None:
        print(f"\r  {line}", end="", file=sys.stderr)

    checked = jobs.run(plan, show if plan.progress else None)
    return [result for result, _ in checked], [covered for _, covered in checked]


def _modes(args: argparse.Namespace, plan: Plan | None = None) -> str:
    modes = [
        *(["misuse mode"] if args.misuse else []),
        *(["controlled interleavings"] if args.interleave else []),
        *([f"jitter up to {args.jitter * 1000:g} ms"] if args.jitter else []),
        *([_jobs_mode(plan)] if plan is not None else []),
    ]
    return "".join(f", {mode}" for mode in modes)


def _jobs_mode(plan: Plan) -> str:
    shards = f", each check in {plan.shards} shards" if plan.shards > 1 else ""
    return f"{plan.jobs} jobs{shards}"


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


def _write_scripts(folder: Path | None, result: KindResult, command: str) -> tuple[Path | None, ...]:
    """A replay script for each failure that has draws to replay (None beside the others)."""
    if folder is None:
        return (None,) * len(result.failures)
    try:
        return tuple(
            None
            if isinstance(f, FlakyTarget | MissingClass) or not replayable(f)
            else replay.write_script(folder, result.replay, f, command)
            for f in result.failures
        )
    except OSError as exc:  # the check's verdict stands; only its scripts are missing
        print(f"sockcheck: cannot write replay scripts in {folder}: {exc.strerror}", file=sys.stderr)
        return (None,) * len(result.failures)


def _print_result(result: KindResult, scripts: tuple[Path | None, ...]) -> None:
    if sys.stderr.isatty():
        print("\r" + " " * 50 + "\r", end="", file=sys.stderr)
    verdict = "ok" if result.passed else "FAIL"
    print(
        f"  {result.server_class:38} {verdict:4}  {result.examples} examples, {result.steps} steps, "
        f"{result.seconds:.1f} s"
    )
    if (reused := database_line(result)) is not None:  # before the failures it may have found
        print(f"    {reused}")
    for failure, confirmed, script in zip(
        result.failures, result.confirmations or (None,) * len(result.failures), scripts, strict=True
    ):
        print()
        mode = ", misuse mode" if result.misuse else ""
        print(f"counterexample ({result.server_class}, profile {result.profile.name}{mode}):")
        if confirmed is not None:
            print(f"  confirmed  {confirmed.text}")
        if script is not None:
            print(f"  replay     {script}")
        for line in failure_lines(failure):
            print(("  " + line).rstrip())
    if result.windows_opened or result.windows_missed:
        print(f"    {windows_line(result)}")
    if (cut_short := shrinking_line(result)) is not None:
        print(f"    {cut_short}")
    if result.contradicted:
        print(
            f"    note: {result.contradicted} repeats of the same steps went otherwise than their first "
            "run: the target races (each kept its first verdict)"
        )
    broken = {f.guarantee.name for f in result.failures if isinstance(f, Counterexample)}
    if result.divergence is not None and result.divergence.violations[0].guarantee.name not in broken:
        first = result.divergence.violations[0].guarantee.name
        print(
            f"    note: {result.server_class} also diverges from `documented` ({first}); "
            "--profile documented shows a minimal counterexample"
        )


def windows_line(result: KindResult) -> str:
    """How many window steps were made, by point; and any whose point the server never
    reached (its call was made after the step instead: a target that skips the hook)."""
    opened = result.windows_opened
    points = ", ".join(f"{p} {n}" for p, n in sorted(opened.items()))
    line = f"windows opened: {sum(opened.values())} ({points})"
    if result.windows_missed:
        missed = ", ".join(f"{p} {n}" for p, n in sorted(result.windows_missed.items()))
        line += f"; never reached, so made after the step: {missed}"
    return line


def _write_json(
    path: str,
    target: Target,
    info: TargetInfo,
    results: list[KindResult],
    covered: list[coverage.Coverage],
    machine: dict[str, Any],
    scripts: list[tuple[Path | None, ...]],
    plan: Plan | None = None,
) -> None:
    data = {
        "target": target.label,
        "python": {
            "implementation": info.implementation,
            "version": list(info.version),
            "executable": info.executable,
        },
        "module": info.file,
        "machine_speed": machine,  # the measured factor and the liveness deadline it gave
        "results": [
            {**result_json(r, s), "coverage": coverage.to_json(c)}
            for r, c, s in zip(results, covered, scripts, strict=True)
        ],
        "refines": all(r.passed for r in results),
    }
    if plan is not None:  # how the work was spread, and each shard's seed (checker.jobs)
        data["jobs"] = {"jobs": plan.jobs, "shards_per_check": plan.shards, "shard_seeds": plan.seeds()}
    with open(path, "w") as out:
        json.dump(data, out, indent=2)
        out.write("\n")


if __name__ == "__main__":
    sys.exit(main())
