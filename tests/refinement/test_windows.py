"""Controlled interleavings (checker.windows): each window is judged by linearizability.

Named windows are played step by step on the real targets (the library, in-process): what
impl and the running stdlib do in them, and the two orders the machine may choose between.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from checker import replay
from checker.driver import Driver
from checker.machine import Action, Counterexample, RefinementMachine, RunConfig, StepNotAllowed, machine_for
from checker.run import check_kind
from checker.targets import Target, resolve
from checker.windows import WINDOWS, Point, Window
from model import DOCUMENTED, Kind, Outcome, Profile, profile_for_version

STDLIB = profile_for_version(sys.version_info[:3])


def window(point: Point, intruder: str) -> Window:
    return next(w for w in WINDOWS if w.point is point and w.intruder == intruder)


ACCEPTED_CLOSE = window(Point.ACCEPTED, "server_close")
FINISHED_CLOSE = window(Point.FINISHED, "server_close")


@pytest.fixture
def machine_of() -> Iterator:
    """A machine on a target, with interleavings on; every one made is torn down."""
    made: list[tuple[RefinementMachine, Driver]] = []

    def make(target: Target, profile: Profile, kind: Kind) -> RefinementMachine:
        driver = Driver(target, deadline=1.0)
        driver.load()
        machine = machine_for(RunConfig(driver=driver, profile=profile, kind=kind, interleave=True))()
        made.append((machine, driver))
        return machine

    yield make
    for machine, driver in made:
        with contextlib.suppress(Exception):  # a failure the test has judged already
            machine.teardown()
        driver.quit()


@pytest.mark.parametrize("kind", [Kind.THREAD, Kind.FORK], ids=lambda k: k.value)
def test_stdlib_spawns_after_a_close_made_between_accept_and_spawn(machine_of, kind: Kind) -> None:
    """CPython's server_close() does not wait for a dispatch under way: a request accepted
    before it is spawned after it returned, and never joined or reaped (close-waits)."""
    machine = machine_of(resolve("stdlib", None), STDLIB, kind)
    failure = machine.play_window(ACCEPTED_CLOSE)  # nothing spawned yet: the close returns at once
    assert isinstance(failure, Counterexample) and failure.guarantee.name == "close-waits", failure
    assert failure.steps[-1].window is not None and "accept and spawn" in failure.steps[-1].window


@pytest.mark.parametrize("kind", [Kind.THREAD, Kind.FORK], ids=lambda k: k.value)
def test_impl_waits_for_the_dispatch_under_way(machine_of, kind: Kind) -> None:
    machine = machine_of(resolve("impl", None), DOCUMENTED, kind)
    assert machine.play_window(ACCEPTED_CLOSE) is None
    assert machine.state.server.phase.value == "closing"  # waiting for the worker it spawned
    assert machine.play(Action.RELEASE, Outcome.RETURN, False) is None
    assert machine.state.server.phase.value == "closed"


def test_an_attribute_set_between_accept_and_spawn_is_the_one_the_spawn_reads(machine_of) -> None:
    """Both orders fit what is seen right after the window; the model must take the one that
    really happened (the set, then the spawn that reads block_on_close as built since 3.8),
    or a later step is judged against the wrong thread list (seen: a false close-raises-
    nothing on the stdlib when the machine took the connect first)."""
    machine = machine_of(resolve("stdlib", None), STDLIB, Kind.THREAD)
    machine.play(Action.CONNECT, Outcome.RETURN, False)
    assert machine.play_window(window(Point.ACCEPTED, "block_on_close"), variant=0) is None
    assert [s.event.__class__.__name__ for s in machine.steps[-2:]] == ["SetAttr", "Connect"]
    assert machine.play(Action.CLOSE, Outcome.EXIT, False, index=1) is None  # w1's handler closes


def test_a_close_that_returned_before_the_worker_ended_is_not_after_it(machine_of, tmp_path: Path) -> None:
    """The event log rules an order out: a worker that takes itself off the list before it
    shuts its request down lets a close in that window return early. Connect-then-release-
    then-close would fit the final observation; the log says the close returned first."""
    machine = machine_of(racy_impl(tmp_path), DOCUMENTED, Kind.THREAD)
    machine.play(Action.CONNECT, Outcome.RETURN, False)
    failure = machine.play_window(FINISHED_CLOSE)
    assert isinstance(failure, Counterexample) and failure.guarantee.name == "close-waits", failure
    assert "before w0, which it awaited, ended" in " ".join(failure.violations[0].details)


def test_a_window_that_does_not_open_is_refused(machine_of) -> None:
    machine = machine_of(resolve("impl", None), DOCUMENTED, Kind.FORK)
    with pytest.raises(StepNotAllowed):
        machine.play_window(FINISHED_CLOSE)  # a forked child's hooks run in another process
    with pytest.raises(StepNotAllowed):
        machine.play_window(window(Point.SELECTED, "shutdown"))  # no loop runs
    assert machine.steps == []


# --- a racy broken variant: wrong only inside one window -------------------------------------

RACY = (
    """        finally:
            self.shutdown_request(request)  # type: ignore[attr-defined]""",
    """        finally:
            lock, threads = self._live_threads()
            with lock:  # the race: off the list server_close() waits for, too early
                threads.discard(threading.current_thread())
            self.shutdown_request(request)  # type: ignore[attr-defined]""",
)


def racy_impl(folder: Path) -> Target:
    """A copy of impl whose handler thread leaves the list server_close() joins once its
    handler has returned, before it shuts its request down: a close made in that window (and
    only there) returns while the thread still runs."""
    import impl

    copy = folder / "impl"
    shutil.copytree(Path(impl.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    source = copy / "threading_mixin.py"
    text = source.read_text()
    assert text.count(RACY[0]) == 1
    source.write_text(text.replace(*RACY))
    return Target(label="racy impl", python=sys.executable, source="package", path=str(folder), name="impl")


def run_racy(folder: Path, interleave: bool, seed: int):
    driver = Driver(racy_impl(folder), deadline=1.0)
    driver.load()
    try:
        return check_kind(
            driver,
            DOCUMENTED,
            Kind.THREAD,
            examples=20,
            seed=seed,
            cover=True,
            interleave=interleave,
            confirm_times=2,
        )
    finally:
        driver.quit()


def test_the_racy_variant_passes_without_interleavings(tmp_path: Path) -> None:
    """The search and every model transition taken after it (cover): nothing shows it."""
    result = run_racy(tmp_path, interleave=False, seed=0)
    assert result.passed, result.failures


@pytest.mark.parametrize("seed", [0, 3])
def test_the_racy_variant_is_found_with_interleavings_every_time(tmp_path: Path, seed: int) -> None:
    """Found whatever the seed: after the search each window is opened in the first states
    where it can be (coverage.take_the_windows). Seed 3's search alone misses it."""
    result = run_racy(tmp_path, interleave=True, seed=seed)
    found = {f.guarantee.name: len(f.steps) for f in result.failures if isinstance(f, Counterexample)}
    assert found == {"close-waits": 3}, result.failures
    # confirmed, and its replay script (interleavings on, as the run) reproduces it
    (failure,), (confirmed,) = result.failures, result.confirmations
    assert confirmed is not None and confirmed.label == "deterministic", confirmed
    script = replay.write_script(tmp_path / "replays", result.replay, failure, "test")
    data = replay.read_script(script)
    assert data["options"]["interleave"] is True
    outcome = replay.replay_times(data, 1)
    assert (outcome.what, outcome.reproduced) == ("close-waits", 1), outcome


@pytest.mark.parametrize("kind", [Kind.THREAD, Kind.FORK], ids=lambda k: k.value)
def test_impl_refines_documented_with_interleavings(kind: Kind) -> None:
    """The search with windows drawn, then every window opened where it first can be."""
    driver = Driver(resolve("impl", None), deadline=1.0)
    driver.load()
    try:
        result = check_kind(driver, DOCUMENTED, kind, examples=20, seed=1, cover=True, interleave=True)
    finally:
        driver.quit()
    assert result.passed, result.failures
    # every point the kind has was reached, none skipped by the server
    points = {p.value for p in Point} - ({Point.FINISHED.value} if kind is Kind.FORK else set())
    assert set(result.windows_opened) == points and not result.windows_missed, result.windows_missed
