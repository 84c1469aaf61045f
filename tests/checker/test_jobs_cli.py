"""`sockcheck check --jobs N`, the real command: a seeded bug is found in shards and in whole
units, reported as a serial run reports it, and its replay script reproduces it; --jobs 1 is
the serial run; bad --jobs is one line; a run cut short, or a worker killed, leaves nothing
behind and no traceback."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from checker.jobs import shard_seed
from tests.checker.test_interrupted import (
    _pids,
    _sessions,
    _stat,
    assert_nothing_left,
    at_a_prompt,
    finish,
    has_child,
    runs_a_thread,
    wait_for,
)
from tests.regression.mutants import VARIANTS
from tests.regression.test_variants import (
    SOCKCHECK,
    assert_cannot_run,
    assert_confirmed_and_replayable,
    found,
    sockcheck,
)

VARIANT = next(v for v in VARIANTS if v.name == "thread-close-no-join")  # close-waits, 2 steps
STARTED = 120.0  # seconds for every worker's agent to be checking (cold starts, loaded machine)


def check(folder: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """`sockcheck check ARGS --json` (seed 0, one confirming replay each); its report."""
    folder.mkdir()
    report = folder / "report.json"
    done = sockcheck("check", "--seed", "0", "--confirm", "1", *args, "--json", str(report))
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done, json.loads(report.read_text())


def text_shape(out: str) -> list[str]:
    """The report's lines past its header, numbers and replay digests masked, less the list
    of the transitions not taken (which ones depends on the search)."""
    lines = [line for line in out.splitlines() if not line.startswith(("sockcheck check:", "      "))]
    return [re.sub(r"\d+(\.\d+)?", "N", re.sub(r"-[0-9a-f]{10}\.py", "-D.py", line)) for line in lines]


def json_shape(value: Any) -> Any:
    """The keys of a report, all the way down, and the types of its values (of a list, its
    first item's: how many transitions were not taken depends on the search)."""
    if isinstance(value, dict):
        return {key: json_shape(v) for key, v in value.items()}
    if isinstance(value, list):
        return [json_shape(v) for v in value[:1]]
    return type(value).__name__


def without_timing(report: dict[str, Any]) -> dict[str, Any]:
    report = {k: v for k, v in report.items() if k != "machine_speed"}
    timing = ("seconds", "found_after_seconds")
    report["results"] = [{k: v for k, v in r.items() if k not in timing} for r in report["results"]]
    return report


def test_two_jobs_find_a_seeded_bug_in_shards_and_report_it_as_a_serial_run_does(tmp_path: Path) -> None:
    """One unit, two jobs: two shards of 25 examples, merged, then one coverage pass."""
    module = VARIANT.write(tmp_path)
    args = ("--module", str(module), "--kind", "thread", "--examples", "50")
    serial, serial_report = check(tmp_path / "serial", *args)
    sharded, report = check(tmp_path / "jobs", *args, "--jobs", "2")
    assert serial.returncode == sharded.returncode == 1
    # The variant breaks two more guarantees (its threads stay tracked): each shard and the
    # serial run find all three, minimally.
    assert found(report) == found(serial_report)
    assert found(report)["close-waits"] == VARIANT.steps
    assert text_shape(sharded.stdout) == text_shape(serial.stdout)
    assert ", 2 jobs, each check in 2 shards" in sharded.stdout.splitlines()[0]
    assert json_shape(report["results"]) == json_shape(serial_report["results"])
    assert report["jobs"] == {"jobs": 2, "shards_per_check": 2, "shard_seeds": [0, shard_seed(0, 1)]}
    (result,) = report["results"]
    assert result["examples"] >= 50  # both shards' (and the coverage pass's), summed
    assert_confirmed_and_replayable(report, "close-waits")


def test_two_jobs_check_whole_units_at_once_as_a_serial_run_would(tmp_path: Path) -> None:
    """Two units, two jobs: each unit whole in a worker of its own, the same search as in a
    serial run (same seed, same examples, and the worker loads no module whose literals
    change Hypothesis's draws), printed in the serial order: thread first."""
    module = VARIANT.write(tmp_path)
    args = ("--module", str(module), "--kind", "both", "--examples", "30", "--no-cover")
    serial, serial_report = check(tmp_path / "serial", *args)
    done, report = check(tmp_path / "jobs", *args, "--jobs", "2")
    assert done.returncode == serial.returncode == 1
    assert [(r["kind"], r["transport"], r["passed"]) for r in report["results"]] == [
        ("thread", "tcp", False),
        ("fork", "tcp", True),
    ]
    assert report["jobs"]["shards_per_check"] == 1
    assert without_timing(report)["results"] == without_timing(serial_report)["results"]
    verdicts = [line.split()[:2] for line in done.stdout.splitlines() if " examples, " in line]
    assert verdicts == [["ThreadingTCPServer", "FAIL"], ["ForkingTCPServer", "ok"]]
    assert_confirmed_and_replayable(report, "close-waits")


# The serial search by the library's own definition: check_kind, called as cmd_check calls it,
# in a process that has loaded what a check loads (`from checker import cli`: Hypothesis draws
# some integers from the literals of the local modules loaded, so a process with other modules
# would make other draws).
SERIAL_SEARCH = """
import json
from checker import cli
from checker.driver import Driver
from checker.run import check_kind
from checker.targets import resolve
from model import DOCUMENTED, Kind, Transport

driver = Driver(resolve("impl", None), 1.0)
driver.load()
try:
    r = check_kind(driver, DOCUMENTED, Kind.THREAD, transport=Transport.TCP, examples=40, seed=3,
                   cover=True, confirm_times=1)
finally:
    driver.quit()
print(json.dumps({"examples": r.examples, "steps": r.steps, "edges": len(r.edges)}))
"""


def test_one_job_is_the_serial_run(tmp_path: Path) -> None:
    """--jobs 1 (and no --jobs) is check_kind's search itself: the same examples, steps and
    transitions, so the same draws; and the same report whether --jobs 1 is given or not,
    seconds and the measured machine speed aside."""
    args = ("--target", "impl", "--kind", "thread", "--examples", "40", "--seed", "3")
    serial, serial_report = check(tmp_path / "serial", *args)
    one, report = check(tmp_path / "one", *args, "--jobs", "1")
    env = {**os.environ, "SOCKCHECK_DEADLINE": "1.0"}
    made = subprocess.run(
        [sys.executable, "-c", SERIAL_SEARCH], capture_output=True, text=True, env=env, timeout=300
    )
    assert made.returncode == 0, made.stderr
    (result,) = report["results"]
    taken = result["coverage"]["taken"] + result["coverage"]["beyond_the_bound"]
    assert {"examples": result["examples"], "steps": result["steps"], "edges": taken} == json.loads(
        made.stdout
    )
    assert without_timing(report) == without_timing(serial_report)

    def timeless(out: str) -> list[str]:
        return [re.sub(r"steps, \d+\.\d s", "steps, T s", line) for line in out.splitlines()[2:]]

    assert timeless(one.stdout) == timeless(serial.stdout)
    assert serial.stdout.splitlines()[0] == one.stdout.splitlines()[0]  # no jobs in the header


@pytest.mark.parametrize("jobs", ["0", "-1", "two"])
def test_bad_jobs_exit_2_with_one_line(jobs: str) -> None:
    assert_cannot_run(sockcheck("check", "--jobs", jobs), "positive whole number")


# --- cut short: Ctrl-C, SIGTERM, a worker killed ----------------------------------------------


def children_of(pid: int, marker: bytes) -> list[int]:
    found = []
    for child in _pids():
        fields = _stat(child)
        if fields is None or int(fields[1]) != pid:
            continue
        try:
            if marker in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
        except OSError:
            continue
    return found


def start_jobs(tmp: Path, kind: str, *args: str) -> tuple[subprocess.Popen[str], list[int]]:
    """A check with --jobs 2 in a session of its own; its two workers, once each one's agent
    is checking."""
    tmp.mkdir()
    run = subprocess.Popen(
        at_a_prompt([*SOCKCHECK, "check", "--no-cover", "--kind", kind, "--jobs", "2", *args]),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp)},
        start_new_session=True,  # Ctrl-C reaches the terminal's foreground group: this one
    )
    checking = has_child if kind == "fork" else runs_a_thread
    try:
        workers = wait_for(
            lambda: len(w := children_of(run.pid, b"spawn_main")) == 2 and w, STARTED, "workers"
        )
        assert isinstance(workers, list)
        for worker in workers:
            agent = wait_for(lambda w=worker: children_of(w, b"agent.py"), STARTED, "an agent starts")
            assert isinstance(agent, list)
            _sessions.add(agent[0])  # the agent leads a session of its own
            wait_for(lambda a=agent[0]: checking(a) or run.poll() is not None, STARTED, "it checks")
        assert run.poll() is None, run.communicate()
    except BaseException:
        os.killpg(run.pid, signal.SIGKILL)
        run.communicate()
        raise
    return run, workers


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_a_check_in_jobs_cut_short_ends_its_workers_and_agents(tmp_path: Path, how: str) -> None:
    """Ctrl-C reaches every process of the group; SIGTERM only the parent, which ends its
    workers, each of which ends its agent: either way one line, exit 130, nothing left."""
    tmp = tmp_path / "tmp"
    run, _ = start_jobs(tmp, "fork", "--examples", "1000")
    if how == "ctrl-c":
        os.killpg(run.pid, signal.SIGINT)
    else:
        os.kill(run.pid, signal.SIGTERM)
    out, err, _ = finish(run)
    assert run.returncode == 130, (out, err)
    assert err == "sockcheck: interrupted\n"
    assert_nothing_left(tmp)


def test_a_killed_worker_is_a_report_and_the_rest_of_the_run_stands(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    run, workers = start_jobs(tmp, "thread", "--examples", "60", "--seed", "0")
    os.kill(workers[0], signal.SIGKILL)
    out, err, _ = finish(run)
    assert run.returncode == 1, (out, err)
    assert "Traceback" not in err, err
    died = re.findall(
        r"the check did not finish: the worker process checking thread tcp, shard (\d) of 2: (.*)", out
    )
    assert len(died) == 1 and died[0][1] == "it was killed by SIGKILL", out
    assert "(a checker failure, not one of the target's)" in out
    assert re.search(r"ThreadingTCPServer +FAIL +\d+ examples", out), out  # the other shard's count
    assert_nothing_left(tmp)
