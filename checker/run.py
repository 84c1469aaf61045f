"""One check: a target, a profile, a kind, a number of examples; Hypothesis does the search."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import attrs
from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis.database import ExampleDatabase
from hypothesis.errors import Flaky
from hypothesis.internal.conjecture import engine
from hypothesis.stateful import run_state_machine_as_test
from hypothesis.statistics import collector

from checker import coverage
from checker.driver import CannotRun, Driver, TargetFailure, TargetInfo
from checker.machine import (
    WITH_BLOCK,
    Counterexample,
    Divergence,
    RefinementMachine,
    RunConfig,
    TargetBroke,
    TargetLeftovers,
    lacks,
    machine_for,
)
from checker.minimize import minimize, replayable
from checker.replay import Confirmation, confirm, keyed_machine, run_data, what
from model import Kind, Profile, Transport
from model.explore import Edge

if sys.version_info < (3, 11):  # pragma: no cover - Hypothesis ships the backport there
    from exceptiongroup import BaseExceptionGroup

STEPS_PER_EXAMPLE = 20
# How long Hypothesis may shrink a run's failures. Its own bound is five minutes
# (engine.MAX_SHRINKING_SECONDS, left there to be changed): here each shrink runs real servers,
# some waiting out a liveness deadline, so a run with a slow failure reached it, and a check
# took minutes more for a counterexample no shorter (a variant in the suite: 125 s of shrinking
# for 2 steps). What shrinking leaves is then made 1-minimal by replay (checker.minimize).
SHRINK_SECONDS = 60.0
# How long replays may go on making a run's failures 1-minimal, all of them together
# (checker.minimize; idle, a failure takes a fraction of a second).
MINIMIZE_SECONDS = 120.0
SLOW_SHRINKING = engine.ExitReason.very_slow_shrinking.value  # Hypothesis's "stopped-because"


def env_seconds(name: str) -> float | None:
    """The seconds the environment variable `name` gives (None: unset or empty); ValueError,
    its message saying why, for one that is not a positive number."""
    raw = os.environ.get(name, "")
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number of seconds") from None
    if not value > 0:
        raise ValueError(f"{name}={raw!r} is not a positive number of seconds")
    return value


def shrink_seconds() -> float:
    """SOCKCHECK_SHRINK_SECONDS, else SHRINK_SECONDS (env_seconds' ValueError for a bad one)."""
    given = env_seconds("SOCKCHECK_SHRINK_SECONDS")
    return SHRINK_SECONDS if given is None else given


@contextlib.contextmanager
def _shrinking_within(seconds: float) -> Iterator[None]:
    """Hypothesis's shrinking bound, for one run (read when its shrinking starts)."""
    before = engine.MAX_SHRINKING_SECONDS
    engine.MAX_SHRINKING_SECONDS = seconds  # type: ignore[assignment]
    try:
        yield
    finally:
        engine.MAX_SHRINKING_SECONDS = before


class FlakyTarget(Exception):
    """A failure Hypothesis saw once but could not replay: the target behaves differently on
    the same steps (a race). Its steps are not known; the message says what was seen."""

    steps: tuple[()] = ()


class MissingClass(Exception):
    """The target lacks a server class its profile says the module provides (it was checked
    composed from its parts all the same)."""

    steps: tuple[str, ...] = ()


class WorkerDied(Exception):
    """A worker process of `sockcheck check --jobs` ended without its result (it was killed,
    or the checker itself failed in it): what it found is lost; the rest of the run stands."""

    steps: tuple[()] = ()


Failure = Counterexample | TargetBroke | TargetLeftovers | FlakyTarget | MissingClass | WorkerDied


@attrs.frozen
class Reused:
    """What a run's database gave it: the saved examples Hypothesis replayed first, before
    generating any, and how many of them failed again. A failure that a run found among them
    it found in the database (saved by an earlier run, here or on another machine)."""

    replayed: int
    failed: int
    first_failed: bool  # the run's very first example, a saved one, failed again

    @property
    def found_there(self) -> bool:
        return self.failed > 0

    def to_json(self) -> dict[str, Any]:
        return {
            "replayed": self.replayed,
            "failed": self.failed,
            "first_failed": self.first_failed,
            "found_there": self.found_there,
        }


@attrs.frozen
class KindResult:
    kind: Kind
    transport: Transport
    server_class: str  # the target's class that was checked ("(composed)": made from its parts)
    profile: Profile
    examples: int
    steps: int
    seconds: float
    failures: tuple[Failure, ...]
    divergence: Divergence | None
    misuse: bool = False  # calls outside the documented contract were made too
    # Repeats of the same steps that the target answered otherwise than the first time.
    contradicted: int = 0
    # The examples Hypothesis replayed from the database before it generated any (None: the
    # run had no database).
    reused: Reused | None = None
    edges: frozenset[Edge] = frozenset()  # the model transitions the run took (see coverage)
    with_block: bool = True  # the module has a with-block, so the run could exit one
    # Controlled interleavings: window steps by point, opened and missed (RunConfig's).
    windows_opened: dict[str, int] = attrs.field(factory=dict)
    windows_missed: dict[str, int] = attrs.field(factory=dict)
    # Beside each failure: how its replays went (None: no steps to replay, or not confirmed).
    confirmations: tuple[Confirmation | None, ...] = ()
    # Seconds from the search's start to its first failure (None: none): the time to find,
    # before shrinking, minimizing and confirming it (benchmarks/time_to_find.py).
    found_after: float | None = None
    # What a replay of this run's draws needs (checker.replay.run_data): for replay scripts.
    replay: dict[str, Any] = attrs.field(factory=dict, eq=False)
    # The bound Hypothesis's shrinking stopped at, in seconds (None: it ended by itself).
    shrink_cut_short: float | None = None
    # The modelled attributes a --server class starts with (RunConfig's).
    attributes: tuple[tuple[str, bool | int], ...] = ()

    @property
    def passed(self) -> bool:
        return not self.failures


# The mix-in attributes each kind's model has; a --server class's own values of them are the
# model's first state (block_on_close is the mix-ins', absent from a 2.7 or 3.6 class).
KIND_ATTRIBUTES = {
    Kind.THREAD: ("block_on_close", "daemon_threads"),
    Kind.FORK: ("block_on_close", "max_children"),
}


def server_attributes(info: TargetInfo | None, kind: Kind) -> tuple[tuple[str, bool | int], ...]:
    """What a --server class starts with of its kind's modelled attributes, sorted."""
    learnt = (info.server or {}).get("attributes", {}) if info is not None else {}
    names = KIND_ATTRIBUTES.get(kind, ())
    return tuple(sorted((name, value) for name, value in learnt.items() if name in names))


def preflight(driver: Driver, kind: Kind, transport: Transport) -> str:
    """Start one server of this kind and stop it, so a target that cannot run exits 2."""
    try:
        server_class = driver.start(kind.value, transport.value)
        leftovers = driver.stop()
    except TargetFailure as failure:  # a target that cannot start a server cannot be checked
        raise CannotRun(f"a fresh {kind.value} server did not start and stop: {_first(failure)}") from None
    if leftovers:
        raise CannotRun(f"a fresh {server_class} did not stop cleanly: {'; '.join(leftovers)}")
    return server_class


def check_kind(
    driver: Driver,
    profile: Profile,
    kind: Kind,
    *,
    transport: Transport = Transport.TCP,
    examples: int,
    seed: int | None,
    misuse: bool = False,
    on_example: Callable[[RunConfig], None] | None = None,
    muted: frozenset[str] = frozenset(),
    cover: bool = False,
    interleave: bool = False,
    jitter: float = 0.0,
    confirm_times: int = 0,
    database: ExampleDatabase | None = None,
    find_only: bool = False,
    key: bytes | None = None,
) -> KindResult:
    """`cover`: after the search, take every model transition the explorer reaches that no
    example took (checker.coverage), on the real target, judged like any step. `interleave`,
    `jitter`: controlled interleavings, random pauses (checker.windows).
    `confirm_times`: replay each failure that many times before it is reported.
    `database`: where Hypothesis keeps failing examples, tried first by the next run with the
    same target and options (the key is made from them, not from the machine's source).
    `find_only`: stop at the first failure, as found: no shrinking, no further search, no
    minimizing or confirming (benchmarks/time_to_find.py measures the search alone).
    `key`: the run's key in the database, in place of `sockcheck check`'s (checker.api's tests
    keep theirs, so a HypoFuzz campaign of the same test shares it)."""
    started = time.monotonic()
    server_class = preflight(driver, kind, transport)
    with_block = not lacks(driver.info, *WITH_BLOCK)
    config = RunConfig(
        driver=driver,
        profile=profile,
        kind=kind,
        transport=transport,
        misuse=misuse,
        on_example=on_example,
        muted=muted,
        interleave=interleave,
        jitter=jitter,
        attributes=server_attributes(driver.info, kind),
    )
    if jitter:
        driver.jitter(jitter, seed or 0)
    machine = keyed_machine(config, key)
    if seed is not None:
        machine._hypothesis_internal_use_seed = seed  # what @seed sets; Hypothesis copies it
    noted: list[dict[str, Any]] = []  # Hypothesis's statistics of the run, by phase
    run_settings = settings(
        max_examples=examples,
        stateful_step_count=STEPS_PER_EXAMPLE,
        deadline=None,
        database=database,
        derandomize=False,
        phases=[Phase.reuse] * (database is not None) + [Phase.generate] + [Phase.shrink] * (not find_only),
        report_multiple_bugs=not find_only,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        print_blob=False,
    )
    failures: tuple[Failure, ...] = ()
    shrinking = shrink_seconds()
    try:
        # Hypothesis's statistics are collected as its pytest plugin collects them.
        with collector.with_value(noted.append), _shrinking_within(shrinking):
            run_state_machine_as_test(machine, settings=run_settings)
    except (Counterexample, TargetBroke, TargetLeftovers) as failure:
        failures = (failure,)
    except Flaky as flaky:  # before the group: FlakyFailure is one too
        failures = (FlakyTarget(_first_line(flaky)),)  # and what was seen: _with_unraised
    except BaseExceptionGroup as group:  # several distinct failures, some perhaps flaky
        flaky, group = group.split(Flaky)
        leaves, rest = group.split((Counterexample, TargetBroke, TargetLeftovers)) if group else (None, None)
        if rest is not None:
            raise rest from None
        failures = tuple(_leaves(leaves))
        if flaky is not None:
            failures += (FlakyTarget(_first_line(flaky)),)
    finally:
        driver.stop()
    if cover:
        failures = _covered(machine, failures, with_block)
    failures = _with_unraised(failures, config)
    if not find_only:
        failures = _minimized(machine, failures)
    failures += _missing_class(profile, kind, transport, server_class)
    confirm_times = 0 if find_only else confirm_times  # as found: nothing replayed
    reused = _reused(noted, database)
    cut_short = shrinking if noted and noted[-1].get("stopped-because") == SLOW_SHRINKING else None
    result = _result(machine, failures, server_class, with_block, started, confirm_times, reused)
    return attrs.evolve(result, shrink_cut_short=cut_short)


def cover_rest(
    driver: Driver,
    profile: Profile,
    kind: Kind,
    *,
    transport: Transport,
    edges: frozenset[Edge],
    known: frozenset[str],
    misuse: bool = False,
    interleave: bool = False,
    jitter: float = 0.0,
    seed: int | None = None,
    confirm_times: int = 0,
) -> KindResult:
    """check_kind's coverage pass alone, for a check whose search ran elsewhere (in shards:
    checker.jobs): the transitions none of `edges` took, taken on the real target. Its
    failures are those it saw that are not one of `known` (what the search found, as
    replay.what names them), made minimal and confirmed as check_kind makes its own; its
    examples and steps are the pass's own; its edges, `edges` and the pass's."""
    server_class = preflight(driver, kind, transport)
    with_block = not lacks(driver.info, *WITH_BLOCK)
    config = RunConfig(
        driver=driver,
        profile=profile,
        kind=kind,
        transport=transport,
        misuse=misuse,
        interleave=interleave,
        jitter=jitter,
        edges=set(edges),  # what the search took is not taken again
        attributes=server_attributes(driver.info, kind),
    )
    if jitter:
        driver.jitter(jitter, seed or 0)
    machine = machine_for(config)
    started = time.monotonic()
    failures = _with_unraised(_covered(machine, (), with_block), config)
    failures = _minimized(machine, tuple(f for f in failures if what(f) not in known))
    return _result(machine, failures, server_class, with_block, started, confirm_times)


def _covered(
    machine: type[RefinementMachine], failures: tuple[Failure, ...], with_block: bool
) -> tuple[Failure, ...]:
    """`failures`, and those the coverage pass finds that are not one of them again."""
    config = machine.config
    ex = coverage.exploration(
        config.profile, config.kind, config.transport, config.misuse, with_block, config.attributes
    )
    failures = _new(failures, coverage.take_the_rest(machine, ex))
    if config.interleave:
        failures = _new(failures, coverage.take_the_windows(machine, ex))
    return failures


def _result(
    machine: type[RefinementMachine],
    failures: tuple[Failure, ...],
    server_class: str,
    with_block: bool,
    started: float,
    confirm_times: int,
    reused: Reused | None = None,
) -> KindResult:
    """The run's result, its failures shortest first, each confirmed. Its seconds are taken
    before the confirming replays: the search, the coverage pass and the minimizing."""
    config = machine.config
    failures = tuple(sorted(failures, key=lambda f: (isinstance(f, FlakyTarget), len(f.steps))))
    return KindResult(
        kind=config.kind,
        transport=config.transport,
        server_class=server_class,
        profile=config.profile,
        examples=config.examples_run,
        steps=config.steps_run,
        seconds=time.monotonic() - started,
        failures=failures,
        divergence=config.divergence,
        misuse=config.misuse,
        contradicted=config.contradicted,
        reused=reused,
        windows_opened=dict(config.windows_opened),
        windows_missed=dict(config.windows_missed),
        edges=frozenset(config.edges),
        with_block=with_block,
        confirmations=tuple(_confirmed(machine, f, confirm_times) for f in failures),
        found_after=None if config.first_failure_at is None else config.first_failure_at - started,
        replay=run_data(config),
        attributes=config.attributes,
    )


def _reused(noted: list[dict[str, Any]], database: ExampleDatabase | None) -> Reused | None:
    """The examples of Hypothesis's reuse phase (its statistics), and how many failed.

    Hypothesis replays every saved failure of this key first (and, if there are few, some
    of the examples that led to one); when each fails again as saved it stops there, without
    generating or shrinking, so such a run's examples are exactly these."""
    if database is None:
        return None
    phase = noted[-1].get("reuse-phase", {}) if noted else {}
    failed = [case.get("status") == "interesting" for case in phase.get("test-cases", [])]  # in order
    return Reused(len(failed), sum(failed), bool(failed) and failed[0])


def _new(failures: tuple[Failure, ...], more: list[Failure]) -> tuple[Failure, ...]:
    """`failures`, and those of `more` that are not one of them again."""
    known = {type(f).__name__ for f in failures}
    return failures + tuple(f for f in more if type(f).__name__ not in known)


def _missing_class(
    profile: Profile, kind: Kind, transport: Transport, server_class: str
) -> tuple[Failure, ...]:
    unix = transport in (Transport.UNIX, Transport.UNIX_DATAGRAM)
    if not (
        profile.forking_unix_classes and kind is Kind.FORK and unix and server_class.endswith("(composed)")
    ):
        return ()
    name = server_class.removesuffix(" (composed)")
    return (MissingClass(f"the module has no {name}, which {profile.name} provides (gh-103673, 3.12)"),)


def _with_unraised(failures: tuple[Failure, ...], config: RunConfig) -> tuple[Failure, ...]:
    """Hypothesis's failures, and the shortest of each other failure the machine saw for real
    but did not raise (on a repeat that went otherwise; or lost when a run was cut short)."""
    found = {_what(f): f for f in failures}
    for failure in sorted((*config.seen.values(), *config.unraised), key=lambda f: len(f.steps)):
        found.setdefault(_what(failure), failure)
    return tuple(found.values())


_what = what  # what a failure is, for telling two apart: its guarantee, or its kind


def _confirmed(machine: type[RefinementMachine], failure: Failure, times: int) -> Confirmation | None:
    """How `times` replays of a failure's draws went; None for one with no steps to replay.
    A failure Hypothesis's own replay did not show again (its steps are not known) is
    `flaky (0 of 1)` as it stands."""
    if times and isinstance(failure, FlakyTarget):
        return Confirmation(0, 1)
    if times == 0 or isinstance(failure, FlakyTarget | MissingClass) or not replayable(failure):
        return None
    return confirm(machine, failure, times)


def _minimized(
    machine: type[RefinementMachine], failures: tuple[Failure, ...], seconds: float = MINIMIZE_SECONDS
) -> tuple[Failure, ...]:
    """Each failure made 1-minimal by replay, in order, within one bound for them all: a run
    that broke a dozen guarantees (an old line against `documented`) would otherwise take a
    bound each. One that finds the bound spent is left as Hypothesis shrank it."""
    end = time.monotonic() + seconds
    return tuple(_minimal(machine, f, max(0.0, end - time.monotonic())) for f in failures)


def _minimal(machine: type[RefinementMachine], failure: Failure, seconds: float) -> Failure:
    """Hypothesis's result, unless a replay of its draws finds a smaller one (it gave up
    on a flaky run, or a race cut its shrinking short)."""
    if isinstance(failure, FlakyTarget | MissingClass):
        return failure
    try:
        return minimize(machine, failure, seconds)
    finally:
        machine.config.driver.stop()


def _first(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _first_line(error: BaseException) -> str:
    seen = [line.strip() for line in str(error).splitlines() if line.strip().startswith("last:")]
    return "a failure did not reproduce on replay" + (f" ({seen[0]})" if seen else "")


def _leaves(group: BaseException | None) -> list[Failure]:
    if group is None:
        return []
    if isinstance(group, BaseExceptionGroup):
        return [leaf for inner in group.exceptions for leaf in _leaves(inner)]
    return [group]  # type: ignore[list-item]
