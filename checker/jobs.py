"""`sockcheck check --jobs N`: a check's work spread over N worker processes.

Units. The work of a check is its units: each (kind, transport) pair it checks, in the order
a serial run checks and prints them (transports outer, kinds inner). With `--jobs N` the
units run in up to N worker processes at once; each worker is a spawned interpreter (as
`sockcheck matrix` starts its own: nothing inherited) with a driver, so an agent, of its own,
used for every task it is given, as a serial run uses one for all its units.

Shards. With fewer units than jobs, each unit's search is split into `shards` = jobs // units
searches (never more than it has examples), run at once. Shard k has examples // shards
examples, one more for k < examples % shards. The shards' results are merged into one per
unit (`merge`), and the unit's coverage pass (run.cover_rest) runs once, after them, from the
transitions they took together, so it takes only what none of them did.

Seeds. A unit run whole (one shard) has the run's --seed, as in a serial run. Shard k of a
unit has `shard_seed(seed, k)`: the seed itself for k = 0; for k >= 1 the first 8 bytes of
the SHA-256 of the text "sockcheck-shard:SEED:k", as a big-endian unsigned integer (a hash,
so that shard 1 of --seed 0 is not shard 0 of --seed 1). So a run makes the same draws for
the same --seed, --jobs, --examples, kinds and transports. Without --seed every shard draws
a seed at random, as a serial run does. --jobs 1 starts no worker: it is the serial run,
in the checker's own process (cli.cmd_check).

Nothing here holds an integer literal of 100 or more: Hypothesis draws about 5% of its
integers from the literals of the local modules loaded (those of -99 to 99 aside), and the
machine draws from 0 to machine.CHOICES + WINDOW_CHOICES - 1 (227): such a literal in a
module the checker imports would change the search. (cli imports this module only for
--jobs 2 or more, all the same.)

Ctrl-C. The workers start with SIGINT blocked and then ignore it: a Ctrl-C (which reaches the
whole process group) is the parent's, which ends each worker with SIGTERM; a worker turns
that into KeyboardInterrupt, so its check stops as a serial one stops on Ctrl-C and its
driver ends its agent. A worker that dies or fails all the same is reported (run.WorkerDied)
beside what the others found, never as a traceback; its temporary folder, where its agents
kept theirs, is removed by the parent.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import io
import multiprocessing
import multiprocessing.connection
import os
import pickle
import shutil
import signal
import tempfile
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import attrs
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase

from checker import coverage, stops
from checker.driver import CannotRun, Driver
from checker.machine import Counterexample, RunConfig, counterexample_class
from checker.replay import what
from checker.run import Failure, FlakyTarget, KindResult, WorkerDied, check_kind, cover_rest
from checker.targets import Target
from model import BY_NAME, PROFILES, Guarantee, Kind, Transport

# Seconds a worker has to end its check and its agent once told to stop, before it is killed.
STOP_SECONDS = 30.0


@attrs.frozen
class Unit:
    kind: Kind
    transport: Transport

    @property
    def where(self) -> str:
        return f"{self.kind.value} {self.transport.value}"


def units(kinds: Sequence[Kind], transports: Sequence[Transport]) -> tuple[Unit, ...]:
    """The units of a check, in the order a serial run checks and prints them."""
    return tuple(Unit(kind, transport) for transport in transports for kind in kinds)


def shard_count(count: int, jobs: int, examples: int) -> int:
    """Shards per unit of `count`: the jobs shared out evenly, never more than examples."""
    return max(1, min(jobs // count, examples))


def shard_seed(seed: int | None, shard: int) -> int | None:
    """Shard k's seed: the run's for k = 0, a hash of it and k otherwise (module docstring)."""
    if seed is None or shard == 0:
        return seed
    digest = hashlib.sha256(f"sockcheck-shard:{seed}:{shard}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def shard_examples(examples: int, shards: int) -> list[int]:
    """Each shard's examples: as even as can be, the first ones one more."""
    share, extra = divmod(examples, shards)
    return [share + (k < extra) for k in range(shards)]


@attrs.frozen
class Plan:
    """Everything a worker needs to make a check's tasks: the run's target and options."""

    target: Target
    deadline: float
    profile: str  # its name: PROFILES has it on both sides
    units: tuple[Unit, ...]
    jobs: int
    examples: int
    seed: int | None
    misuse: bool = False
    cover: bool = True
    interleave: bool = False
    jitter: float = 0.0
    confirm_times: int = 0
    database: str | None = None  # the example database's folder
    progress: bool = False  # workers report each example, for the parent's progress line

    @property
    def shards(self) -> int:
        return shard_count(len(self.units), self.jobs, self.examples)

    def searches(self) -> list[Search]:
        """The searches to make, unit by unit in the serial order, shard by shard."""
        whole = self.shards == 1
        examples = shard_examples(self.examples, self.shards)
        return [
            Search(unit, shard, shard_seed(self.seed, shard), examples[shard], whole)
            for unit in range(len(self.units))
            for shard in range(self.shards)
        ]

    def seeds(self) -> list[int | None]:
        return [shard_seed(self.seed, k) for k in range(self.shards)]


@attrs.frozen
class Search:
    """One shard's search; `whole`: the unit's only shard, so its whole check (with the
    coverage pass, and the coverage it reports, as in a serial run)."""

    unit: int
    shard: int
    seed: int | None
    examples: int
    whole: bool


@attrs.frozen
class Finish:
    """A sharded unit's end: its shards merged, its coverage pass, the coverage it reports."""

    unit: int
    shards: tuple[KindResult, ...]


Task = Search | Finish


@attrs.frozen
class Part:
    """What a task gives back: a result, and where the unit is done, its coverage."""

    result: KindResult
    coverage: coverage.Coverage | None = None


# --- merging -----------------------------------------------------------------------------

# Every field of KindResult that `merge` sets on purpose. A field it does not know would be
# left at its default, silently: tests/checker/test_jobs.py fails until it is added here.
MERGED = frozenset(
    {
        "kind",
        "transport",
        "server_class",
        "profile",
        "examples",
        "steps",
        "seconds",
        "failures",
        "divergence",
        "misuse",
        "contradicted",
        "edges",
        "with_block",
        "windows_opened",
        "windows_missed",
        "confirmations",
        "replay",
        "found_after",
        "reused",
        "shrink_cut_short",
        "attributes",
    }
)


def merge(shards: Sequence[KindResult], after: KindResult | None = None) -> KindResult:
    """One unit's result from its shards' (run at once) and its coverage pass after them.

    Examples, steps, repeats contradicted and window counts are summed; the transitions
    taken are their union. Of each failure (replay.what: a guarantee, or a kind of failure)
    the shortest is kept, the first shard's where two are as short, with its confirmation;
    so is the shortest divergence from `documented`. The replay data is the first failure's
    shard's (every shard of a unit has the same: the target, the deadline and the options
    that decode draws). Seconds: the longest shard's, and the pass's after it; the time to
    the first failure, the earliest (counted so too). The examples reused from the database:
    the first shard's. Shrinking stopped at its bound if any part's did."""
    parts = [*shards, *([after] if after is not None else [])]
    first = next((p for p in parts if not _died(p)), parts[0])
    found = _shortest(parts)
    failures = tuple(sorted(found, key=lambda f: (isinstance(f, FlakyTarget), len(f.steps))))
    source = found[failures[0]][1] if failures else first
    values: dict[str, Any] = {
        "kind": first.kind,
        "transport": first.transport,
        "server_class": first.server_class,
        "profile": first.profile,
        "misuse": first.misuse,
        "with_block": first.with_block,
        "attributes": first.attributes,  # the target's, as every shard learnt them
        "examples": sum(p.examples for p in parts),
        "steps": sum(p.steps for p in parts),
        "seconds": max(s.seconds for s in shards) + (after.seconds if after is not None else 0.0),
        "failures": failures,
        "confirmations": tuple(found[f][0] for f in failures),
        "divergence": min(
            (p.divergence for p in parts if p.divergence is not None),
            key=lambda d: len(d.steps),
            default=None,
        ),
        "contradicted": sum(p.contradicted for p in parts),
        "edges": frozenset().union(*(p.edges for p in parts)),
        "windows_opened": _summed(p.windows_opened for p in parts),
        "windows_missed": _summed(p.windows_missed for p in parts),
        "replay": source.replay,
        "found_after": _found_after(shards, after),
        # Every shard has the same database key, so each replays the same saved examples
        # first: the first shard's count is the unit's (a sum would count each one N times).
        "reused": shards[0].reused,
        # A shard whose shrinking stopped at the bound: the unit's did (each has the same).
        "shrink_cut_short": max((p.shrink_cut_short for p in parts if p.shrink_cut_short), default=None),
    }
    return KindResult(**values)


def _shortest(parts: Sequence[KindResult]) -> dict[Failure, tuple[Any, KindResult]]:
    """The shortest failure of each kind over the parts in order, with its confirmation and
    its part (insertion ordered: the first part's first)."""
    best: dict[str, tuple[Failure, Any, KindResult]] = {}
    for part in parts:
        confirmations = part.confirmations or (None,) * len(part.failures)
        for failure, confirmed in zip(part.failures, confirmations, strict=True):
            kept = best.get(what(failure))
            if kept is None or len(failure.steps) < len(kept[0].steps):
                best[what(failure)] = (failure, confirmed, part)
    return {failure: (confirmed, part) for failure, confirmed, part in best.values()}


def _summed(counts: Iterator[dict[str, int]]) -> dict[str, int]:
    total: collections.Counter[str] = collections.Counter()
    for count in counts:
        total.update(count)
    return dict(total)


def _found_after(shards: Sequence[KindResult], after: KindResult | None) -> float | None:
    """The earliest first failure: the shards start together; the pass starts after them."""
    found = [s.found_after for s in shards if s.found_after is not None]
    if after is not None and after.found_after is not None:
        found.append(max(s.seconds for s in shards) + after.found_after)
    return min(found, default=None)


def _died(result: KindResult) -> bool:
    return any(isinstance(f, WorkerDied) for f in result.failures)


# --- results across processes ------------------------------------------------------------
#
# A failure is an exception whose class may be made at run time (one per guarantee:
# machine.counterexample_class) and whose __init__ does not take its args back, so plain
# pickle can take neither. Each is sent as its class and its attributes, each guarantee as
# its name; the receiving side is a plain pickle.loads.


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, type) and issubclass(obj, Counterexample) and obj is not Counterexample:
            return counterexample_class, (obj.guarantee,)
        if isinstance(obj, Guarantee):
            return _guarantee, (obj.name,)
        if isinstance(obj, Exception):  # tracebacks, causes and contexts stay behind
            return _exception, (type(obj), obj.args, dict(vars(obj)))
        return NotImplemented


def dumps(value: object) -> bytes:
    out = io.BytesIO()
    _Pickler(out, pickle.HIGHEST_PROTOCOL).dump(value)
    return out.getvalue()


def _guarantee(name: str) -> Guarantee:
    return BY_NAME[name]


def _exception(cls: type[Exception], args: tuple[Any, ...], state: dict[str, Any]) -> Exception:
    made = cls.__new__(cls)
    made.args = args
    made.__dict__.update(state)
    return made


# --- the parent: tasks to workers, results back -------------------------------------------


def run(plan: Plan, show: Callable[[str], None] | None = None) -> list[tuple[KindResult, coverage.Coverage]]:
    """Every unit of the plan checked in worker processes: each unit's result and coverage, in
    the serial order. `show`: a progress line, now and then. CannotRun as a serial run raises
    it: a worker that cannot check its unit ends the run."""
    pending: collections.deque[Task] = collections.deque(plan.searches())
    shards: dict[int, dict[int, KindResult]] = collections.defaultdict(dict)
    done: dict[int, Part] = {}
    progress: dict[tuple[int, int], int] = {}
    context = multiprocessing.get_context("spawn")
    workers: list[_Worker] = []
    try:
        while len(done) < len(plan.units):
            _give(context, plan, workers, pending)
            for worker in _ready(workers):
                message = worker.receive()
                task = worker.task
                assert task is not None
                if message is None:  # it died: its task is a report, and it is replaced
                    workers.remove(worker)
                    worker.stop()
                    part = _lost(plan, task, worker.reap())
                elif message[0] == "progress":
                    progress[task.unit, getattr(task, "shard", 0)] = message[1]
                    if show is not None:
                        _show(show, plan, task.unit, progress)
                    continue
                else:
                    worker.task = None
                    part = _outcome(plan, task, message)
                _record(plan, task, part, shards, done, pending)
    except BaseException:  # interrupted, or a worker could not run: end the others now
        _end(workers, at_once=True)
        raise
    _end(workers)
    return [_with_coverage(done[unit]) for unit in range(len(plan.units))]


def _give(context: Any, plan: Plan, workers: list[_Worker], pending: collections.deque[Task]) -> None:
    """Each pending task to an idle worker, starting workers as they are needed."""
    while pending:
        idle = next((w for w in workers if w.task is None), None)
        if idle is None:
            if len(workers) == plan.jobs:
                return
            idle = _Worker(context, plan)
            workers.append(idle)  # before it starts: a Ctrl-C as it starts then ends it too
            idle.start()
        idle.give(pending.popleft())


def _end(workers: list[_Worker], at_once: bool = False) -> None:
    """Stop every worker, then wait for each: they end their agents side by side."""
    for worker in workers:
        worker.stop(at_once)
    for worker in workers:
        worker.reap()


def _ready(workers: list[_Worker]) -> list[_Worker]:
    busy = {w.conn: w for w in workers if w.task is not None}
    assert busy, "no task under way and none to give: a unit can never finish"
    return [busy[c] for c in multiprocessing.connection.wait(list(busy))]  # type: ignore[index]


def _outcome(plan: Plan, task: Task, message: tuple[str, Any]) -> Part:
    status, value = message
    if status == "cannot-run":
        raise CannotRun(value)
    if status == "failed":
        return _lost(plan, task, f"the checker failed in it: {value}")
    assert status == "done", status
    return value


def _record(
    plan: Plan,
    task: Task,
    part: Part,
    shards: dict[int, dict[int, KindResult]],
    done: dict[int, Part],
    pending: collections.deque[Task],
) -> None:
    """A task's part where it belongs; a unit whose shards are all in gets its Finish next."""
    if isinstance(task, Search) and not task.whole:
        shards[task.unit][task.shard] = part.result
        if len(shards[task.unit]) == plan.shards:
            ordered = tuple(shards[task.unit][k] for k in range(plan.shards))
            pending.appendleft(Finish(task.unit, ordered))
        return
    done[task.unit] = part


def _lost(plan: Plan, task: Task, why: str) -> Part:
    """What stands of a task that gave no result: a report of it; for a Finish, beside its
    shards' results merged."""
    lost = _placeholder(plan, task, why)
    return Part(merge(task.shards, lost) if isinstance(task, Finish) else lost)


def _placeholder(plan: Plan, task: Task, why: str) -> KindResult:
    """A result that stands for a task that gave none: no examples, one WorkerDied."""
    unit = plan.units[task.unit]
    if isinstance(task, Search) and not task.whole:
        what_ = f"{unit.where}, shard {task.shard + 1} of {plan.shards}"
    elif isinstance(task, Finish):
        what_ = f"{unit.where}, after its shards"
    else:
        what_ = unit.where
    return KindResult(
        kind=unit.kind,
        transport=unit.transport,
        server_class=_server_class(unit),
        profile=PROFILES[plan.profile],
        examples=0,
        steps=0,
        seconds=0.0,
        failures=(WorkerDied(f"the worker process checking {what_}: {why}"),),
        divergence=None,
        misuse=plan.misuse,
        confirmations=(None,),
    )


def _server_class(unit: Unit) -> str:
    """The class a unit checks, as the agent names it (for a unit that never said)."""
    mixin = "Threading" if unit.kind is Kind.THREAD else "Forking"
    server = {
        Transport.TCP: "TCPServer",
        Transport.UDP: "UDPServer",
        Transport.UNIX: "UnixStreamServer",
        Transport.UNIX_DATAGRAM: "UnixDatagramServer",
    }[unit.transport]
    return mixin + server


def _with_coverage(part: Part) -> tuple[KindResult, coverage.Coverage]:
    """A unit's result and coverage: computed here for one whose worker died before."""
    covered = part.coverage if part.coverage is not None else coverage.of(part.result)
    return part.result, covered


def _show(show: Callable[[str], None], plan: Plan, unit: int, progress: dict[tuple[int, int], int]) -> None:
    made = sum(n for (u, _), n in progress.items() if u == unit)
    show(f"{plan.units[unit].where:20} example {made}/{plan.examples}...")


class _Worker:
    """One worker process, the task it was given, and the temporary folder it works in."""

    def __init__(self, context: Any, plan: Plan) -> None:
        self.tmp = tempfile.mkdtemp(prefix="sockcheck-job-")
        self.conn, self._theirs = context.Pipe()
        # daemon: should the parent end without ending it, multiprocessing's exit does
        self.process = context.Process(target=serve, args=(self._theirs, plan, self.tmp), daemon=True)
        self.task: Task | None = None

    def start(self) -> None:
        try:
            with _sigint_blocked():
                self.process.start()
        except OSError as exc:
            raise CannotRun(f"cannot start a worker process: {exc.strerror}") from None
        finally:
            self._theirs.close()  # only the worker holds its end: its death is EOF here

    def give(self, task: Task) -> None:
        self.task = task
        with contextlib.suppress(OSError):  # it died: the next read says so
            self.conn.send_bytes(dumps(task))

    def receive(self) -> tuple[str, Any] | None:
        """Its next message; None once it is gone."""
        try:
            return pickle.loads(self.conn.recv_bytes())
        except (EOFError, OSError):
            return None

    def stop(self, at_once: bool = False) -> None:
        """Told to quit when idle; SIGTERM if `at_once` or busy (it stops its check)."""
        if self.process.pid is None:
            return  # never started
        if at_once or self.task is not None:
            self.process.terminate()
        else:
            with contextlib.suppress(OSError):
                self.conn.send_bytes(dumps(None))

    def reap(self) -> str:
        """Wait for it to end (SIGKILL past STOP_SECONDS), then end what it left; how it ended."""
        if self.process.pid is not None:
            self.process.join(STOP_SECONDS)
            if self.process.is_alive():
                self.process.kill()
                self.process.join()
        self.conn.close()
        self._theirs.close()
        _kill_left(self.tmp)
        shutil.rmtree(self.tmp, ignore_errors=True)
        return _ended(self.process.exitcode)


def _kill_left(folder: str) -> None:
    """Kill every process still working in a worker's folder. A worker that ends as it should
    has ended its agents (Driver.quit); one killed mid-example leaves its agent waiting, for
    ever, on handler threads held for a word the dead driver will never send. The agent and
    all it forked have TMPDIR in that folder (the worker set it; the driver's own folders are
    in it), and nothing else has: it is a fresh mkdtemp."""
    inside = (b"TMPDIR=" + folder.encode(), b"TMPDIR=" + folder.encode() + b"/")
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as environ:
                variables = environ.read().split(b"\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if any(v == inside[0] or v.startswith(inside[1]) for v in variables):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(name), signal.SIGKILL)


def _ended(code: int | None) -> str:
    if code is not None and code < 0:
        return f"it was killed by {signal.Signals(-code).name}"
    return f"it ended with exit status {code} before its result"


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """SIGINT held back while a worker starts: it inherits the mask, so a Ctrl-C meanwhile
    waits until it ignores SIGINT (serve), and reaches the parent once this ends."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


# --- the worker -----------------------------------------------------------------------------


def serve(conn: Any, plan: Plan, tmp: str) -> None:
    """A worker's life: tasks from the parent until it says stop (None), or the parent is gone,
    or SIGTERM. Nothing escapes as a traceback."""
    signal.signal(signal.SIGINT, _ignored)  # a handler, not SIG_IGN: agents get the default
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    os.environ["TMPDIR"] = tmp  # the agents' folders go in the worker's, which the parent removes
    tempfile.tempdir = None
    driver = Driver(plan.target, plan.deadline)
    stops.raise_lost_stops(_stopped)  # SIGTERM stays ignored then, as after the first
    try:
        signal.signal(signal.SIGTERM, _stopped)
        while (task := pickle.loads(conn.recv_bytes())) is not None:
            conn.send_bytes(dumps(_work(plan, task, driver, conn)))
    except (KeyboardInterrupt, EOFError, OSError):
        pass  # told to stop (SIGTERM), or the parent is gone
    finally:
        driver.quit()


def _ignored(signum: int, frame: object) -> None:
    pass


def _stopped(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the driver's cleanup is not cut short
    raise KeyboardInterrupt


def _work(plan: Plan, task: Task, driver: Driver, conn: Any) -> tuple[str, Any]:
    """One task's message back: ("done", Part), ("cannot-run", why) or ("failed", why)."""
    try:
        if driver.info is None:
            driver.load()
        if isinstance(task, Finish):
            return "done", _finish(plan, task, driver)
        return "done", _search(plan, task, driver, _reporter(plan, conn))
    except CannotRun as exc:
        return "cannot-run", str(exc)
    except Exception as exc:  # the checker's own failure: a report, not a traceback
        return "failed", _oneline(exc)


def _search(plan: Plan, task: Search, driver: Driver, report: Callable[[RunConfig], None] | None) -> Part:
    unit = plan.units[task.unit]
    result = check_kind(
        driver,
        PROFILES[plan.profile],
        unit.kind,
        transport=unit.transport,
        examples=task.examples,
        seed=task.seed,
        misuse=plan.misuse,
        on_example=report,
        cover=plan.cover and task.whole,
        interleave=plan.interleave,
        jitter=plan.jitter,
        confirm_times=plan.confirm_times,
        database=_database(plan.database),
    )
    return Part(result, coverage.of(result) if task.whole else None)


def _finish(plan: Plan, task: Finish, driver: Driver) -> Part:
    """The shards merged; with the coverage pass, what it found merged in after them."""
    searched = merge(task.shards)
    if plan.cover:
        unit = plan.units[task.unit]
        rest = cover_rest(
            driver,
            PROFILES[plan.profile],
            unit.kind,
            transport=unit.transport,
            edges=searched.edges,
            known=frozenset(what(f) for f in searched.failures),
            misuse=plan.misuse,
            interleave=plan.interleave,
            jitter=plan.jitter,
            seed=plan.seed,
            confirm_times=plan.confirm_times,
        )
        searched = merge(task.shards, rest)
    return Part(searched, coverage.of(searched))


def _reporter(plan: Plan, conn: Any) -> Callable[[RunConfig], None] | None:
    if not plan.progress:
        return None

    def report(config: RunConfig) -> None:
        conn.send_bytes(dumps(("progress", config.examples_run)))

    return report


def _database(folder: str | None) -> ExampleDatabase | None:
    return None if folder is None else DirectoryBasedExampleDatabase(folder)


def _oneline(exc: BaseException) -> str:
    """An exception in one line, with where it was raised."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno})" if frames else ""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}{where}"
