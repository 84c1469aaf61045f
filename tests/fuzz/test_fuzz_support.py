"""The fuzz targets check what `sockcheck check` checks, and share its example database.

What a HypoFuzz campaign finds is saved by Hypothesis under the fuzz target's key; these
tests show that key is `sockcheck check`'s for the same target and options, so the check
replays a campaign's failure first. HypoFuzz itself is optional (the extra `sockcheck[fuzz]`):
the test of its collection is skipped without it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

if sys.version_info < (3, 11):  # pragma: no cover - Hypothesis ships the backport there
    from exceptiongroup import BaseExceptionGroup

import pytest
from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase

from checker import fuzz
from checker.driver import Driver
from checker.machine import Counterexample
from checker.run import check_kind
from checker.targets import resolve
from model import Kind
from tests.regression.mutants import VARIANTS

NO_JOIN = next(v for v in VARIANTS if v.name == "thread-close-no-join")  # close-waits, 2 steps
TARGETS = Path(__file__).with_name("test_fuzz_targets.py")
ROOT = TARGETS.parents[2]  # the checkout: pytest's rootdir, which node ids are relative to


def test_the_module_named_by_the_environment_replaces_the_stdlib(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    module = NO_JOIN.write(tmp_path)
    monkeypatch.setenv(fuzz.MODULE_VARIABLE, str(module))
    stdlib = fuzz.fuzz_machine("stdlib", Kind.THREAD).config.driver.target
    impl = fuzz.fuzz_machine("impl", Kind.THREAD).config.driver.target
    assert (stdlib.source, stdlib.path) == ("file", str(module.resolve()))
    assert impl.label == "impl"  # impl is impl whatever the stdlib is replaced by
    monkeypatch.delenv(fuzz.MODULE_VARIABLE)
    assert fuzz.fuzz_machine("stdlib", Kind.THREAD).config.driver.target.source == "stdlib"


def test_a_failure_a_fuzz_target_saves_is_the_first_example_sockcheck_check_tries(tmp_path: Path) -> None:
    """The stdlib thread target, pointed at a server_close() that joins nothing, fails (as a
    campaign would) and Hypothesis saves the failure; `sockcheck check` of the same module,
    with that database, another seed and one example, replays it first and fails at once."""
    module = NO_JOIN.write(tmp_path)
    database = DirectoryBasedExampleDatabase(str(tmp_path / "examples"))
    target = fuzz.fuzz_target("stdlib", Kind.THREAD, str(module))
    target.settings = settings(target.settings, database=database)  # type: ignore[attr-defined]
    case = target()
    try:
        with pytest.raises((Counterexample, BaseExceptionGroup)) as raised:
            case.runTest()  # type: ignore[attr-defined]
    finally:
        case.tearDown()
    assert NO_JOIN.guarantee in broken(raised.value)  # with the others it finds, if any
    assert any(Path(database.path).iterdir())  # Hypothesis saved it

    driver = Driver(resolve("stdlib", str(module)), deadline=NO_JOIN.deadline)
    try:
        driver.load()
        result = check_kind(
            driver, fuzz.profile_of("file"), Kind.THREAD, examples=1, seed=5, database=database
        )
    finally:
        driver.quit()
    assert result.reused is not None and result.reused.first_failed, result.reused
    assert NO_JOIN.guarantee in {f.guarantee.name for f in result.failures if isinstance(f, Counterexample)}


def broken(raised: BaseException) -> set[str]:
    """The guarantees a Hypothesis run raised as broken: one failure, or a group of them."""
    if isinstance(raised, BaseExceptionGroup):
        return {name for inner in raised.exceptions for name in broken(inner)}
    return {raised.guarantee.name} if isinstance(raised, Counterexample) else set()


HYPOFUZZ_COLLECTS = """
import json, sys
from hypofuzz.collection import collect_tests
found = collect_tests([sys.argv[1], "-p", "no:xdist", "-o", "addopts="])
print(json.dumps({"targets": sorted(t.nodeid for t in found.fuzz_targets),
                  "not_collected": sorted(found.not_collected)}))
"""


def test_hypofuzz_collects_the_four_targets_and_nothing_else() -> None:
    pytest.importorskip("hypofuzz", reason="HypoFuzz is not installed (pip install -e '.[fuzz]')")
    done = subprocess.run(
        [sys.executable, "-c", HYPOFUZZ_COLLECTS, str(TARGETS)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "SOCKCHECK_DEADLINE": "1.0"},  # no speed measured for a collection
    )
    assert done.returncode == 0, done.stdout + done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    classes = ["TestImplFork", "TestImplThread", "TestStdlibFork", "TestStdlibThread"]
    assert found == {
        "targets": [f"{TARGETS.relative_to(ROOT)}::{c}::runTest" for c in classes],
        "not_collected": [],
    }
