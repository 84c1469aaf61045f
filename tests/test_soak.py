"""benchmarks/soak.py's own judgement: what counts as a false alarm, and its load ends.

The soak itself (20 rounds of full checks under load, ~30 min) is run by hand, not here:
see README, "The soak". These check the parts whose mistake would make it pass wrongly.
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "soak.py"
_spec = importlib.util.spec_from_file_location("soak", PATH)
assert _spec is not None and _spec.loader is not None
soak = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(soak)

PASSED = {"refines": True, "results": [{"examples": 3, "steps": 9, "repeats_contradicted": 0}]}


def run(status: int = 0, report: dict | None = PASSED, leftovers: tuple[str, ...] = ()) -> object:
    return soak.Run(0, "stdlib", 1, status, 1.0, report, leftovers)


def test_a_clean_pass_is_no_false_alarm() -> None:
    assert not run().false_alarm
    assert run().verdict == "ok"


@pytest.mark.parametrize(
    ("made", "verdict"),
    [
        (run(status=1, report={**PASSED, "refines": False}), "FAIL(1)"),
        (run(status=0, report={**PASSED, "refines": False}), "FAIL(0)"),
        (run(status=2, report=None), "FAIL(2)"),
        (run(status=-1, report=None), "HUNG"),
        (run(leftovers=("sockcheck-agent-x",)), "LEFT"),
        (run(leftovers=("process 123",)), "LEFT"),
    ],
)
def test_every_other_outcome_is_a_false_alarm(made: object, verdict: str) -> None:
    assert made.false_alarm
    assert made.verdict == verdict


def test_the_load_ends_when_stopped() -> None:
    load = soak.start_load(1, churn=True)
    assert len(load) == 2 and all(p.poll() is None for p in load)
    soak.stop_load(load)
    assert all(p.returncode is not None for p in load)


def test_a_run_s_leftover_processes_are_found_by_their_tmpdir(tmp_path: Path) -> None:
    assert soak.processes_in(tmp_path) == []
    env = {**os.environ, "TMPDIR": str(tmp_path / "agent")}  # a folder in it, as an agent's
    load = [soak.subprocess.Popen([soak.sys.executable, "-c", soak.BUSY, str(os.getpid())], env=env)]
    try:
        end = time.monotonic() + 10
        while not soak.processes_in(tmp_path) and time.monotonic() < end:
            time.sleep(0.01)  # until its exec is done and /proc shows the new environment
        assert soak.processes_in(tmp_path) == [load[0].pid]
    finally:
        load[0].kill()
        load[0].wait(timeout=10)
