"""The corpus of broken server subclasses (tests/regression/subclasses/): each is found by
the guarantee it breaks, with a counterexample at most as long as its entry says; each
correct version beside them passes.

In-process, as `sockcheck check --server FILE.py:NAME --seed 0` runs them (the kind from the
class's mix-in, the transport from its socket, the model starting with the attributes the
class sets), with a small example budget. A broken class is searched for its own guarantee:
the other guarantees it may break too are muted, so the run does not spend its time
shrinking those (unmuted, `sockcheck check --server` reports them as well; the search for a
few of them then takes 15-50 s).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from checker.driver import Driver
from checker.machine import Counterexample
from checker.results import failure_lines
from checker.run import KindResult, check_kind
from checker.targets import resolve
from model import GUARANTEES, Kind, Profile, Transport, profile_for_version

HERE = Path(__file__).parent / "subclasses"
DEADLINE = float(os.environ.get("SOCKCHECK_DEADLINE", "1.0"))


@attrs.frozen
class Broken:
    file: str  # in tests/regression/subclasses/
    name: str
    guarantee: str  # the guarantee it must be found by
    steps: int  # at most this many steps in its minimal counterexample
    examples: int = 30
    # Stop at the first failure, as found (no shrinking): for a class whose first failure is
    # already minimal, and whose search would go on to hunt its other bugs for a minute.
    find_only: bool = False

    @property
    def id(self) -> str:
        return f"{self.file.removesuffix('.py')}:{self.name}"


BROKEN: tuple[Broken, ...] = (
    # --- threads.py ---------------------------------------------------------------------
    Broken("threads.py", "CloseSkipsMixIn", "close-waits", 2),
    Broken("threads.py", "CloseJoinsWithTimeout", "close-waits", 2),
    Broken("threads.py", "CloseJoinsSnapshot", "close-waits", 2),
    Broken("threads.py", "OwnThreadList", "finished-not-retained", 3),
    Broken("threads.py", "AlwaysDaemon", "daemon-at-spawn", 1),
    Broken("threads.py", "ShutdownDoesNotWait", "shutdown-stops-loop", 2),
    Broken("threads.py", "SpawnFailureSwallowed", "handle-error-once", 1),
    Broken("threads.py", "ThreadWithoutHandleError", "handle-error-once", 2),
    Broken("threads.py", "ClosesTwiceOnError", "request-closed-once", 2),
    Broken("threads.py", "BareExcept", "handle-error-once", 2),
    Broken("threads.py", "PooledThreads", "daemon-at-spawn", 1),
    Broken("threads.py", "FinishSwallows", "handle-error-once", 2),
    Broken("threads.py", "FinishReportsAndReraises", "handle-error-once", 2),
    Broken("threads.py", "HandleErrorReraises", "handle-error-prints", 1),
    Broken("threads.py", "HandleErrorOneLine", "handle-error-prints", 1),
    Broken("threads.py", "VerifyCountsPerClient", "dispatch-does-not-wait", 1),
    # --- forks.py -----------------------------------------------------------------------
    Broken("forks.py", "ServiceActionsForgetsSuper", "loop-reaps", 3),
    Broken("forks.py", "HandleTimeoutOverridden", "timeout-reaps", 3, examples=150),
    Broken("forks.py", "CollectIgnoresMaxChildren", "max-children", 3, examples=150),
    Broken("forks.py", "CloseSkipsMixIn", "close-waits", 2),
    Broken("forks.py", "CloseCollectsWithoutBlocking", "close-waits", 2),
    Broken("forks.py", "OwnPidsNeverWaited", "no-zombie-after-blocking-close", 3, examples=150),
    Broken("forks.py", "OwnPidsReapedAtCloseNoHang", "close-waits", 2),
    Broken("forks.py", "ChildExitsZero", "child-exit-status", 2),
    Broken("forks.py", "ParentKeepsItsCopy", "request-closed-once", 1),
    Broken("forks.py", "ChildSkipsShutdown", "request-closed-once", 2),
    Broken("forks.py", "FinishSwallows", "handle-error-once", 2),
    Broken("forks.py", "HandleErrorQuiet", "handle-error-prints", 1),
    # --- sync.py ------------------------------------------------------------------------
    Broken("sync.py", "ProcessWithoutShutdown", "request-closed-once", 2),
    Broken("sync.py", "HomemadeThreads", "handled-in-call", 1, find_only=True),
    Broken("sync.py", "ProcessSwallows", "handle-error-once", 2, examples=15),
    Broken("sync.py", "ProcessCatchesAll", "handled-in-call", 2),
    Broken("sync.py", "VerifyRaises", "handler-runs", 1, find_only=True),
)

CORRECT: tuple[tuple[str, str], ...] = (
    ("threads.py", "CloseCallsMixIn"),
    ("threads.py", "OwnThreadListPruned"),
    ("threads.py", "AlwaysDaemonSaysSo"),
    ("threads.py", "ShutdownFromAnotherThread"),
    ("threads.py", "SpawnFailureAnswered"),
    ("threads.py", "FinishLogsAndReraises"),
    ("threads.py", "HandleErrorLogs"),
    ("threads.py", "VerifyCountsPerClientGet"),
    ("forks.py", "ServiceActionsCallsSuper"),
    ("forks.py", "HandleTimeoutExtended"),
    ("forks.py", "CloseCallsMixIn"),
    ("forks.py", "ParentClosesItsCopy"),
    ("sync.py", "ProcessCallsSuper"),
)
CORRECT_EXAMPLES = 40

# Broken by their authors' intent but not found: why, each (kept out of the tests above; see
# the report of the corpus's commit).
UNCAUGHT: dict[str, str] = {
    "threads:BlockOnCloseOffInInit": (
        "the class turns block_on_close off in __init__ while its docstring promises a close "
        "that waits; sockcheck takes the attributes a class starts with as its contract (as it "
        "must for ThreadingHTTPServer's daemon_threads), so a close that waits for nothing is "
        "what the model expects: no guarantee can see a docstring"
    ),
    "threads:CloseJoinsWithLongTimeout": (
        "server_close() joins each handler with a 5 s timeout: it returns while a handler still "
        "runs only once a step holds a worker for longer than 5 s, and no step does (a blocked "
        "close is judged after a few ms, a liveness deadline is ~1-3 s); found with a timeout "
        "shorter than a step (CloseJoinsWithTimeout, 1 ms). What sockcheck does find in it is "
        "its other bug (close-returns, close-raises-nothing: it joins whatever block_on_close "
        "says, and joins the calling thread without raising), never close-waits. A gap: "
        "close-waits would need a hold longer than the largest join timeout a user picks"
    ),
}


@pytest.fixture(scope="module")
def profile() -> Profile:
    found = profile_for_version(sys.version_info[:3])
    assert found is not None
    return found


@contextlib.contextmanager
def driver_for(file: str, name: str) -> Iterator[Driver]:
    driver = Driver(resolve("stdlib", None, None, f"{HERE / file}:{name}"), deadline=DEADLINE)
    try:
        driver.load()
        yield driver
    finally:
        driver.quit()


def run(
    file: str,
    name: str,
    profile: Profile,
    examples: int,
    muted: frozenset[str] = frozenset(),
    find_only: bool = False,
) -> KindResult:
    with driver_for(file, name) as driver:
        server = driver.info.server
        assert server is not None
        kind, transport = Kind(server["kind"]), Transport(server["transport"])
        return check_kind(
            driver,
            profile,
            kind,
            transport=transport,
            examples=examples,
            seed=0,
            muted=muted,
            find_only=find_only,
        )


def found(result: KindResult) -> dict[str, int]:
    """Each guarantee a counterexample broke at its last step (not only the first one it
    names: a muted guarantee may come first), with the shortest such counterexample's length."""
    seen: dict[str, int] = {}
    for failure in result.failures:
        if isinstance(failure, Counterexample):
            for violation in failure.violations:
                name = violation.guarantee.name
                seen[name] = min(seen.get(name, len(failure.steps)), len(failure.steps))
    return seen


def report(result: KindResult) -> str:
    return "\n".join(line for failure in result.failures for line in failure_lines(failure))


@pytest.mark.parametrize("broken", BROKEN, ids=lambda b: b.id)
def test_broken_subclass_is_found(broken: Broken, profile: Profile) -> None:
    others = frozenset(g.name for g in GUARANTEES) - {broken.guarantee}
    result = run(broken.file, broken.name, profile, broken.examples, muted=others, find_only=broken.find_only)
    seen = found(result)
    assert broken.guarantee in seen, report(result)
    assert seen[broken.guarantee] <= broken.steps, report(result)


@pytest.mark.parametrize(
    ("file", "name"), CORRECT, ids=lambda v: v.removesuffix(".py") if v.endswith(".py") else v
)
def test_correct_subclass_passes(file: str, name: str, profile: Profile) -> None:
    result = run(file, name, profile, CORRECT_EXAMPLES)
    assert result.passed, report(result)
    assert result.examples >= CORRECT_EXAMPLES


def test_every_class_of_the_corpus_is_listed() -> None:
    """A class added to the corpus is checked, or said to be uncaught: none is forgotten."""
    import ast

    listed = {b.id for b in BROKEN} | {f"{f.removesuffix('.py')}:{n}" for f, n in CORRECT} | set(UNCAUGHT)
    defined = set()
    for path in HERE.glob("*.py"):
        tree = ast.parse(path.read_text())
        defined |= {
            f"{path.stem}:{c.name}"
            for c in tree.body
            if isinstance(c, ast.ClassDef) and not c.name.startswith("_")
        }
    assert defined == listed
