"""`sockcheck check`'s work, shared by the command line (checker.cli) and the Python API
(checker.api, re-exported by the `sockcheck` package).

A check goes in four parts, each usable alone (refinement_test's TestCase runs them from its
setUpClass and runTest): `prepare` reads the options and the environment and measures the
machine (bad ones: UsageError); `load` starts the target's agent and says what will be checked
(its header lines); `check_one` runs one kind and transport; `finish` writes the replay
scripts and the JSON and makes the report. `run_check` is all four, as the command runs them:
its report's lines are given to `emit` as they are made, and kept in the CheckResult.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
from hypothesis.database import ExampleDatabase

from checker import coverage, replay, speed
from checker.databases import BadDatabase, open_database
from checker.driver import CannotRun, Driver, TargetInfo
from checker.machine import Counterexample, RunConfig
from checker.minimize import replayable
from checker.results import database_line, failure_lines, result_json, shrinking_line
from checker.run import FlakyTarget, KindResult, MissingClass, check_kind, env_seconds, shrink_seconds
from checker.targets import Target
from model import DOCUMENTED, PROFILES, Kind, Profile, Transport, profile_for_version

if TYPE_CHECKING:
    from checker.jobs import Plan

DEFAULT_EXAMPLES = 100
# Seconds a call that must return may take on the reference machine; a check scales it by
# the machine's measured speed (checker.speed), and SOCKCHECK_DEADLINE overrides both.
DEFAULT_DEADLINE = 1.0
# Under the current directory: replay scripts (SOCKCHECK_REPLAY_DIR overrides), and Hypothesis's
# example database (SOCKCHECK_DB overrides); "none" turns either off.
DEFAULT_REPLAY_DIR = Path(".sockcheck", "replays")
DEFAULT_DB = Path(".sockcheck", "examples")

Progress = Callable[[Kind, Transport, int], Callable[[RunConfig], None] | None]


class UsageError(ValueError):
    """An option that cannot be used: the command line's exit status 2, the API's ValueError."""


@attrs.frozen
class CheckOptions:
    """What `sockcheck check` is asked, less its target (checker.targets.resolve makes that).
    The fields are its flags; None where the flag was not given."""

    kind: str | None = None  # thread, fork, both; None: both, or a --server class's own
    transport: str | None = None  # a Transport's value or all; None: tcp, or the server's own
    profile: str = "auto"
    examples: int = DEFAULT_EXAMPLES
    seed: int | None = None
    jobs: int = 1
    misuse: bool = False
    cover: bool = True  # not --no-cover
    interleave: bool = False
    jitter: float = 0.0
    confirm: int = replay.DEFAULT_CONFIRM
    replay_dir: str | None = None  # None: SOCKCHECK_REPLAY_DIR, else DEFAULT_REPLAY_DIR
    db: str | None = None  # None: SOCKCHECK_DB, else DEFAULT_DB
    json: str | None = None  # a file to write the results to, as JSON
    command: str = "sockcheck check"  # what found a failure, in its replay script's header


@attrs.frozen
class Prepared:
    """A check's options with what the environment and the machine make of them."""

    target: Target
    options: CheckOptions
    measured: speed.Speed
    deadline: float
    database: ExampleDatabase | None
    replays: Path | None


@attrs.frozen
class Loaded:
    """What the loaded agent said: what is checked, against which profile."""

    info: TargetInfo
    profile: Profile
    kinds: tuple[Kind, ...]
    transports: tuple[Transport, ...]
    plan: Plan | None  # --jobs N: the checks spread over worker processes
    header: tuple[str, ...]  # the report's first lines


@attrs.frozen
class CheckResult:
    """A check's results, as `sockcheck check` reports them.

    `results`: one KindResult per kind and transport checked, in the report's order;
    `refines`: every one passed (the command's exit status 0); `replay_scripts`: beside each
    result, the script written for each of its failures (None where there is none);
    `report()`: the report the command prints."""

    target: Target
    info: TargetInfo
    profile: Profile
    results: tuple[KindResult, ...]
    coverage: tuple[coverage.Coverage, ...]
    scripts: tuple[tuple[Path | None, ...], ...]
    lines: tuple[str, ...]
    machine_speed: dict[str, Any]
    plan: Plan | None = None

    @property
    def refines(self) -> bool:
        return all(result.passed for result in self.results)

    @property
    def exit_status(self) -> int:
        return 0 if self.refines else 1

    @property
    def replay_scripts(self) -> list[Path]:
        """Every replay script written, in the report's order."""
        return [script for written in self.scripts for script in written if script is not None]

    @property
    def failures(self) -> list[Any]:
        """Every failure found, in the report's order (checker.run.Failure)."""
        return [failure for result in self.results for failure in result.failures]

    def report(self) -> str:
        return "\n".join(self.lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        """What `sockcheck check --json FILE` writes."""
        info = self.info
        data: dict[str, Any] = {
            "target": self.target.label,
            "python": {
                "implementation": info.implementation,
                "version": list(info.version),
                "executable": info.executable,
            },
            "module": info.file,
            "machine_speed": self.machine_speed,  # the measured factor and the liveness deadline it gave
            "results": [
                {**result_json(r, s), "coverage": coverage.to_json(c)}
                for r, c, s in zip(self.results, self.coverage, self.scripts, strict=True)
            ],
            "refines": self.refines,
        }
        plan = self.plan
        if plan is not None:  # how the work was spread, and each shard's seed (checker.jobs)
            data["jobs"] = {"jobs": plan.jobs, "shards_per_check": plan.shards, "shard_seeds": plan.seeds()}
        return data


def run_check(
    target: Target,
    options: CheckOptions,
    *,
    emit: Callable[[str], None] | None = None,
    progress: Progress | None = None,
    before_jobs: Callable[[], None] | None = None,
) -> CheckResult:
    """The whole check, as `sockcheck check` makes it. `emit`: each line of the report as it
    is made; `progress`: for a kind, a transport and the examples to run, what to call as
    each example starts; `before_jobs`: called before worker processes start (--jobs N)."""
    prepared = prepare(target, options)
    lines: list[str] = []

    def say(line: str) -> None:
        lines.append(line)
        if emit is not None:
            emit(line)

    driver = Driver(target, prepared.deadline)
    results: list[KindResult] = []
    try:
        loaded = load(prepared, driver, say)
        if loaded.plan is None:  # the serial run: its checks one after another, on this agent
            results = [
                check_one(prepared, loaded, driver, kind, transport, progress=progress)
                for transport in loaded.transports
                for kind in loaded.kinds
            ]
    finally:
        driver.quit()  # before any worker starts: each has an agent of its own
    if loaded.plan is None:
        covered = [coverage.of(result) for result in results]
    else:
        if before_jobs is not None:
            before_jobs()
        results, covered = _in_jobs(loaded.plan)
    return finish(prepared, loaded, results, covered, say, lines)


def prepare(target: Target, options: CheckOptions) -> Prepared:
    """The options as the environment completes them, and the machine's speed (measured
    before any agent starts: the machine as the run finds it). UsageError for a bad one."""
    _shrink_bound()
    measured = speed.measure()
    deadline = _deadline(measured)
    database = _database(options.db)
    replays = _folder(options.replay_dir, "SOCKCHECK_REPLAY_DIR", DEFAULT_REPLAY_DIR)
    if replays is not None and replays.exists() and not replays.is_dir():
        raise UsageError(f"--replay-dir {replays}: not a directory")
    return Prepared(target, options, measured, deadline, database, replays)


def load(prepared: Prepared, driver: Driver, say: Callable[[str], None]) -> Loaded:
    """Load the target in `driver`'s agent; say the report's header lines."""
    target, options = prepared.target, prepared.options
    kinds = _kinds(options.kind or "both")
    transports = _transports(options.transport or "tcp")
    header = []
    info = driver.load()
    if info.server is not None:
        kinds, transports = _server_checks(options, info.server)
        if options.transport == "all":
            only = f"{info.server['class']} serves {transports[0].value} only"
            header.append(f"sockcheck check: {only}: checking that")
    profile = choose_profile(options.profile, target, info)
    version = ".".join(map(str, info.version))
    plan = _plan(prepared, profile, kinds, transports) if options.jobs > 1 else None
    header.append(
        f"sockcheck check: {target.label} ({info.implementation} {version}, "
        f"{info.file}), profile {profile.name}" + _modes(options, plan)
    )
    header.append(f"sockcheck check: {_speed_line(prepared.measured, prepared.deadline)}")
    for line in header:
        say(line)
    return Loaded(info, profile, tuple(kinds), tuple(transports), plan, tuple(header))


def check_one(
    prepared: Prepared,
    loaded: Loaded,
    driver: Driver,
    kind: Kind,
    transport: Transport,
    *,
    progress: Progress | None = None,
    examples: int | None = None,
    seed: int | None = None,
    database: ExampleDatabase | str | None = "prepared",
    key: bytes | None = None,
) -> KindResult:
    """One kind and transport of the check, on `driver` (loaded). `examples`, `seed`,
    `database`, `key` (the example database's): where the caller's differ from the options'."""
    options = prepared.options
    examples = options.examples if examples is None else examples
    return check_kind(
        driver,
        loaded.profile,
        kind,
        transport=transport,
        examples=examples,
        seed=options.seed if seed is None else seed,
        misuse=options.misuse,
        on_example=None if progress is None else progress(kind, transport, examples),
        cover=options.cover,
        interleave=options.interleave,
        jitter=options.jitter,
        confirm_times=options.confirm,
        database=prepared.database if isinstance(database, str) else database,
        key=key,
    )


def finish(
    prepared: Prepared,
    loaded: Loaded,
    results: list[KindResult],
    covered: list[coverage.Coverage],
    say: Callable[[str], None],
    lines: list[str],
) -> CheckResult:
    """Write the replay scripts (and the JSON); say the results; the CheckResult, whose report
    is `lines` (those said so far, and these)."""
    scripts = [_write_scripts(prepared.replays, result, prepared.options.command) for result in results]
    for result, cover, written in zip(results, covered, scripts, strict=True):
        for line in result_lines(result, written):
            say(line)
        for line in coverage.lines(cover):
            say(f"    {line}")
    machine = {**prepared.measured.to_json(), "deadline": round(prepared.deadline, 3)}
    checked = CheckResult(
        target=prepared.target,
        info=loaded.info,
        profile=loaded.profile,
        results=tuple(results),
        coverage=tuple(covered),
        scripts=tuple(scripts),
        lines=tuple(lines),
        machine_speed=machine,
        plan=loaded.plan,
    )
    if prepared.options.json:
        import json

        with open(prepared.options.json, "w") as out:
            json.dump(checked.to_json(), out, indent=2)
            out.write("\n")
    return checked


def command_line(argv: list[str]) -> str:
    return shlex.join(["sockcheck", *argv])


# -- the options ---------------------------------------------------------------------------


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


def _server_checks(options: CheckOptions, server: dict[str, Any]) -> tuple[list[Kind], list[Transport]]:
    """A --server check's kind (its mix-in's, unless --kind says) and transport (its socket's)."""
    own = Transport(server["transport"])
    if options.transport not in (None, "all", own.value):
        raise UsageError(
            f"--transport {options.transport}: {server['class']} serves {own.value} only (its socket's)"
        )
    if options.kind is not None:
        kinds = _kinds(options.kind)
    elif server["kind"] in {k.value for k in Kind}:
        kinds = [Kind(server["kind"])]
    else:
        raise UsageError(
            f"--server {server['spec']}: {server['class']} has no ThreadingMixIn or ForkingMixIn in its MRO; "
            "the sync kind is not modelled yet: pass --kind thread or --kind fork if it spawns workers"
        )
    return kinds, [own]


def _kinds(choice: str) -> list[Kind]:
    return [Kind.THREAD, Kind.FORK] if choice == "both" else [Kind(choice)]


def _transports(choice: str) -> list[Transport]:
    return list(Transport) if choice == "all" else [Transport(choice)]


# -- --jobs N ------------------------------------------------------------------------------


def _plan(prepared: Prepared, profile: Profile, kinds: list[Kind], transports: list[Transport]) -> Plan:
    # Imported here, not above: a serial run loads no module it does not use (Hypothesis
    # draws some integers from the literals of the local modules loaded).
    from checker import jobs

    options = prepared.options
    database = _folder(options.db, "SOCKCHECK_DB", DEFAULT_DB)
    return jobs.Plan(
        target=prepared.target,
        deadline=prepared.deadline,
        profile=profile.name,
        units=jobs.units(kinds, transports),
        jobs=options.jobs,
        examples=options.examples,
        seed=options.seed,
        misuse=options.misuse,
        cover=options.cover,
        interleave=options.interleave,
        jitter=options.jitter,
        confirm_times=options.confirm,
        database=None if database is None else str(database),
        progress=sys.stderr.isatty(),
    )


def _in_jobs(plan: Plan) -> tuple[list[KindResult], list[coverage.Coverage]]:
    """The plan's checks in worker processes: results and coverage in the serial order."""
    from checker import jobs

    def show(line: str) -> None:
        print(f"\r  {line}", end="", file=sys.stderr)

    checked = jobs.run(plan, show if plan.progress else None)
    return [result for result, _ in checked], [covered for _, covered in checked]


def _modes(options: CheckOptions, plan: Plan | None = None) -> str:
    modes = [
        *(["misuse mode"] if options.misuse else []),
        *(["controlled interleavings"] if options.interleave else []),
        *([f"jitter up to {options.jitter * 1000:g} ms"] if options.jitter else []),
        *([_jobs_mode(plan)] if plan is not None else []),
    ]
    return "".join(f", {mode}" for mode in modes)


def _jobs_mode(plan: Plan) -> str:
    shards = f", each check in {plan.shards} shards" if plan.shards > 1 else ""
    return f"{plan.jobs} jobs{shards}"


# -- the results ---------------------------------------------------------------------------


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


def result_lines(result: KindResult, scripts: tuple[Path | None, ...]) -> list[str]:
    """One check's verdict, its failures and its notes, as the report says them."""
    if sys.stderr.isatty():  # the progress line goes
        print("\r" + " " * 50 + "\r", end="", file=sys.stderr)
    verdict = "ok" if result.passed else "FAIL"
    lines = [
        f"  {result.server_class:38} {verdict:4}  {result.examples} examples, {result.steps} steps, "
        f"{result.seconds:.1f} s"
    ]
    if (reused := database_line(result)) is not None:  # before the failures it may have found
        lines.append(f"    {reused}")
    for failure, confirmed, script in zip(
        result.failures, result.confirmations or (None,) * len(result.failures), scripts, strict=True
    ):
        lines.append("")
        mode = ", misuse mode" if result.misuse else ""
        lines.append(f"counterexample ({result.server_class}, profile {result.profile.name}{mode}):")
        if confirmed is not None:
            lines.append(f"  confirmed  {confirmed.text}")
        if script is not None:
            lines.append(f"  replay     {script}")
        lines.extend(("  " + line).rstrip() for line in failure_lines(failure))
    if result.windows_opened or result.windows_missed:
        lines.append(f"    {windows_line(result)}")
    if (cut_short := shrinking_line(result)) is not None:
        lines.append(f"    {cut_short}")
    if result.contradicted:
        lines.append(
            f"    note: {result.contradicted} repeats of the same steps went otherwise than their first "
            "run: the target races (each kept its first verdict)"
        )
    broken = {f.guarantee.name for f in result.failures if isinstance(f, Counterexample)}
    if result.divergence is not None and result.divergence.violations[0].guarantee.name not in broken:
        first = result.divergence.violations[0].guarantee.name
        lines.append(
            f"    note: {result.server_class} also diverges from `documented` ({first}); "
            "--profile documented shows a minimal counterexample"
        )
    return lines


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
