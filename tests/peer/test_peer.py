"""The peer suite: CPython's own test_socketserver against impl, the stdlib and broken modules.

A run takes about half a second per interpreter, so every installed interpreter is in the
default run (about 5 s a test). An interpreter that ships no test_socketserver (a
distribution's python3 often does not) is passed over; with none left, the test is skipped
with the reasons.
"""

from __future__ import annotations

import ast
import functools
import os
import socketserver
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

from checker import peer
from checker.interpreters import Interpreter, discover
from checker.peer import NoSuite, PeerError, PeerResult, impl_supports, run_peer, running
from tests.regression.mutants import BY_NAME

RUNNING = running()
# A liveness bound only: every run here takes under a second, a loaded machine a few.
DEADLINE = 120.0
SUITE = "test.test_socketserver."


@functools.cache
def _others() -> tuple[Interpreter, ...]:
    """Every installed interpreter but the running one (the same installation or version).

    Found when a test runs, not at collection: a probe that times out on a loaded machine
    would otherwise give pytest-xdist's workers different collections.
    """
    mine = os.path.realpath(RUNNING.executable)
    found = discover()
    return tuple(i for i in found if os.path.realpath(i.executable) != mine and i.version != RUNNING.version)


def _run_each(interpreters: Iterable[Interpreter], target: str) -> None:
    """Run the suite against `target` in each interpreter; all must pass; skip if none can."""
    results, no_suite = [], []
    for interpreter in interpreters:
        try:
            results.append(run_peer(interpreter, target, deadline=DEADLINE))  # type: ignore[arg-type]
        except NoSuite as exc:
            no_suite.append(str(exc))
    if not results:
        pytest.skip("; ".join(no_suite) or "no other interpreter on PATH or in a pyenv root")
    failures = [f"{r.summary()}\n{r.output_tail}" for r in results if not _passed(r)]
    assert not failures, "\n\n".join(failures)


def _passed(result: PeerResult) -> bool:
    # 2.7's suite has 16 tests, 3.6's and 3.7's 25, 3.8+'s 27: nothing passes by running few.
    return result.passed and not result.hung and result.failed == () and result.tests_run >= 15


def _assert_passed(result: PeerResult) -> None:
    assert _passed(result), f"{result.summary()}\n{result.output_tail}"


@pytest.fixture(scope="module")
def baseline() -> PeerResult:
    """The running interpreter's stdlib under its own suite."""
    return run_peer(RUNNING, "stdlib", deadline=DEADLINE)


def test_impl_passes_cpythons_suite_on_the_running_interpreter(baseline):
    result = run_peer(RUNNING, "impl", deadline=DEADLINE)
    _assert_passed(result)
    assert result.skipped == ()  # nothing passes by being left out: the fork and Unix tests ran
    assert result.tests_run == baseline.tests_run


def test_impl_passes_cpythons_suite_on_every_other_interpreter():
    _run_each([i for i in _others() if impl_supports(i)], "impl")


def test_the_stdlib_passes_its_own_suite(baseline):
    _assert_passed(baseline)


def test_every_other_stdlib_passes_its_own_suite():
    _run_each(_others(), "stdlib")  # 2.7 and 3.6 too: the runner works where impl cannot


def test_impl_needs_postponed_annotations():
    too_old = Interpreter((3, 6, 15), "cpython", "/nonexistent/python3.6", path="/nonexistent/python3.6")
    with pytest.raises(PeerError, match=r"impl needs Python 3\.7\+"):
        run_peer(too_old, "impl")


@pytest.mark.parametrize(
    ("variant", "caught_by"),
    [
        # Reference §3 M7: a request rejected by verify_request is never shut down (bpo-26309).
        ("verify-reject-not-shut-down", "MiscTestCase.test_shutdown_request_called_if_verify_request_false"),
        # Reference §3 M13: _threads defaults to None, so closing an unused server raises.
        ("threads-none-default", "SocketServerTest.test_close_immediately"),
    ],
)
def test_a_reinjected_bug_fails_the_test_that_catches_it(tmp_path, baseline, variant, caught_by):
    module = BY_NAME[variant].write(tmp_path)
    result = run_peer(RUNNING, module, deadline=DEADLINE)
    assert not result.passed
    assert not result.hung
    assert result.failed == (SUITE + caught_by,), result.output_tail
    assert result.target == str(module.resolve())
    assert result.tests_run == baseline.tests_run


def test_a_module_that_hangs_on_import_is_reported_hung_within_its_deadline(tmp_path):
    module = tmp_path / "socketserver.py"
    module.write_text("import time\nwhile True:\n    time.sleep(3600)\n")
    result = run_peer(RUNNING, module, deadline=2.0)
    assert result.hung
    assert not result.passed
    assert result.failed == ()  # no test had started
    assert 2.0 <= result.seconds < 4.0  # killed at its deadline, not later


def test_a_hung_test_is_named(tmp_path):
    source = Path(socketserver.__file__).read_text()
    wait = "        self.__is_shut_down.wait()\n"
    assert source.count(wait) == 1
    module = tmp_path / "socketserver.py"
    module.write_text(source.replace(wait, "        threading.Event().wait()  # never set\n"))
    result = run_peer(RUNNING, module, deadline=5.0)
    assert result.hung
    assert not result.passed
    (hung_in,) = result.failed  # the one test that started and never stopped
    assert hung_in.startswith(SUITE)
    assert result.seconds < 7.0


def test_a_module_that_does_not_import_is_an_error(tmp_path):
    module = tmp_path / "socketserver.py"
    module.write_text("raise ImportError('broken on purpose')\n")
    with pytest.raises(PeerError, match="does not import") as caught:
        run_peer(RUNNING, module, deadline=DEADLINE)
    assert "broken on purpose" in str(caught.value)


def test_a_module_the_suite_does_not_import_is_an_error(tmp_path):
    # It puts the stdlib's module in its own place: the suite would test the stdlib.
    module = tmp_path / "socketserver.py"
    module.write_text(
        "import importlib.machinery, importlib.util, os, sys\n"
        "spec = importlib.machinery.PathFinder.find_spec('socketserver', [os.path.dirname(os.__file__)])\n"
        "real = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(real)\n"
        "sys.modules['socketserver'] = real\n"
    )
    with pytest.raises(PeerError, match="imported another socketserver"):
        run_peer(RUNNING, module, deadline=DEADLINE)


def test_a_missing_module_file_is_an_error(tmp_path):
    with pytest.raises(PeerError, match="no such file"):
        run_peer(RUNNING, tmp_path / "absent.py")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        # The suite's own package, which stdlib_module_names leaves out; imp, 2.7's path only,
        # is gone from 3.12's stdlib.
        (peer.RUNNER, {"test", "imp"}),
        (peer.SHIM, {"impl"}),
    ],
)
def test_what_runs_in_the_target_uses_the_stdlib_only(path, allowed):
    extra = _imports(path) - set(sys.stdlib_module_names)
    assert extra <= allowed
