"""Every test must leave no thread, child process, descriptor or temporary file behind.

The `no_leftovers` fixture is autouse: it records what the test process has before each
test and fails the test if, after it (and a bounded wait for things that are ending), any
thread, child process (zombies included), file descriptor or entry of the temporary folder
is new. Each test process gets a temporary folder of its own (TMPDIR, inherited by every
command and agent a test starts), so a parallel worker's files are never blamed on it.

No test uses Hypothesis's example database of `sockcheck check` (SOCKCHECK_DB=none: a run
is what its seed makes it, and nothing is written into the checkout), and the replay
scripts it writes go to a folder of the test process's own (SOCKCHECK_REPLAY_DIR), beside
its temporary folder rather than in it, removed at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import settings

T = TypeVar("T")

# The model's property tests judge what a function returns, never how fast: Hypothesis's
# default 200 ms deadline per example made one fail on a loaded machine (a full suite beside
# other jobs).
settings.register_profile("sockcheck", deadline=None)
settings.load_profile("sockcheck")
SETTLE = 5.0  # seconds for threads and children that are ending to be gone


def children() -> set[int]:
    """Every child of this process, zombies included (Linux: /proc/.../children)."""
    found: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            found.update(int(pid) for pid in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def descriptors() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


def _settled(check: Callable[[], set[T]], timeout: float) -> set[T]:
    """Wait (bounded) for `check()` to come back empty; return what is still there."""
    end = time.monotonic() + timeout
    left = check()
    pause = 0.001
    while left and time.monotonic() < end:
        time.sleep(pause)  # waiting for teardown to finish, not an observation
        pause = min(pause * 2, 0.05)
        left = check()
    return left


def pytest_configure(config: pytest.Config) -> None:
    private = tempfile.mkdtemp(prefix="sockcheck-tests-")
    replays = tempfile.mkdtemp(prefix="sockcheck-replays-")
    config.stash[_PRIVATE_TMP] = (os.environ.get("TMPDIR"), private)
    config.stash[_REPLAYS] = replays
    os.environ["TMPDIR"] = private
    os.environ["SOCKCHECK_DB"] = "none"
    os.environ["SOCKCHECK_REPLAY_DIR"] = replays
    tempfile.tempdir = None  # gettempdir() reads TMPDIR again


def pytest_unconfigure(config: pytest.Config) -> None:
    if _PRIVATE_TMP not in config.stash:
        return
    earlier, private = config.stash[_PRIVATE_TMP]
    if earlier is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = earlier
    tempfile.tempdir = None
    shutil.rmtree(private, ignore_errors=True)
    shutil.rmtree(config.stash[_REPLAYS], ignore_errors=True)
    os.environ.pop("SOCKCHECK_DB", None)
    os.environ.pop("SOCKCHECK_REPLAY_DIR", None)


_PRIVATE_TMP = pytest.StashKey[tuple[str | None, str]]()
_REPLAYS = pytest.StashKey[str]()


# -- the order of the run: the longest first --------------------------------------------
#
# The two xdist workers take the next test as each finishes one (--dist loadgroup, where a
# test not in a group is a unit of its own; --dist load would send each worker a block of
# consecutive tests, the longest all to one). Collected in file order, the longest tests
# came last (tests/regression, then docs/), so the run ended with one worker in a 3-minute
# test while the other had nothing left. The longest first, the short ones fill in at the
# end. Measured on this 2-core machine (durations of a full run under load): these took
# 60-180 s each, every other test of tests/regression and tests/refinement 5-75 s, most
# of the rest under 1 s.
LONGEST = (
    "tests/regression/test_variants.py::test_variant_is_found_minimally[shutdown-never-sets-the-flag]",
    "tests/regression/test_variants.py::test_unmodified_copy_refines",
    # the docs test that makes the generated texts (60-100 s); the others read them at the end
    "tests/test_docs.py::test_committed_docs_are_what_the_command_writes[SEMANTICS.md]",
    "tests/regression/test_variants.py::test_variant_is_found_minimally[fork-close-ignores-block_on_close]",
    "tests/regression/test_variants.py::test_variant_is_found_minimally[thread-process-request-joins]",
    "tests/regression/test_variants.py::test_variant_is_found_minimally[close-from-handler-joins-backwards]",
    "tests/regression/test_history.py::test_historical_bug_is_found_minimally[bpo-11109]",
    "tests/regression/test_variants.py::test_variant_is_found_minimally[fork-child-lingers]",
    "tests/refinement/test_matrix.py::test_matrix_checks_each_interpreter_against_its_profile_and_documented",
)
LONG = (
    "tests/regression/",
    "tests/refinement/",
    "tests/checker/test_coverage.py",
    "tests/checker/test_jobs_cli.py",
    "tests/test_leftovers.py",
    "tests/checker/test_shared_database.py",  # 35-55 s: three checks through the command line
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_rank)  # stable: within a rank, the order of collection


def _rank(item: pytest.Item) -> tuple[int, int]:
    for i, start in enumerate(LONGEST):
        if item.nodeid.startswith(start):
            return 0, i
    return (1, 0) if item.nodeid.startswith(LONG) else (2, 0)


def temporary_files() -> set[str]:
    """The entries of this process's temporary folder, less pytest's own (tmp_path)."""
    return {name for name in os.listdir(tempfile.gettempdir()) if not name.startswith("pytest-of-")}


def fuzzing() -> bool:
    """Under HypoFuzz (`hypothesis fuzz`), which runs this fixture around each stretch of a fuzz
    target's examples and tears it down before the target's own tearDown() has quit its agent:
    the agent, its threads and its spare are the campaign's, kept between examples on purpose."""
    try:
        from hypofuzz.detection import in_hypofuzz_run
    except ImportError:  # HypoFuzz is optional (the extra sockcheck[fuzz])
        return False
    return in_hypofuzz_run()


@pytest.fixture(autouse=True)
def no_leftovers() -> Iterator[None]:
    if fuzzing():
        yield
        return
    threads_before = set(threading.enumerate())
    children_before = children()
    fds_before = descriptors()
    tmp_before = temporary_files()
    yield
    threads = _settled(lambda: {t for t in threading.enumerate() if t not in threads_before}, SETTLE)
    kids = _settled(lambda: children() - children_before, SETTLE)
    fds = _settled(lambda: descriptors() - fds_before, 1.0)
    tmp = _settled(lambda: temporary_files() - tmp_before, 1.0)
    problems = []
    if threads:
        problems.append(f"threads left running: {sorted(t.name for t in threads)}")
    if kids:
        problems.append(f"child processes left (running or zombie): {sorted(kids)}")
    if fds:
        problems.append(f"descriptors left open: {_describe(fds)}")
    if tmp:
        problems.append(f"temporary files left in {tempfile.gettempdir()}: {sorted(tmp)}")
    if problems:
        pytest.fail("the test left things behind: " + "; ".join(problems))


def _describe(fds: set[int]) -> str:
    parts = []
    for fd in sorted(fds):
        try:
            parts.append(f"{fd} -> {os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:
            parts.append(str(fd))
    return ", ".join(parts)
