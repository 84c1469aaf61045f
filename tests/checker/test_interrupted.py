"""A run cut short ends promptly and leaves nothing behind: Ctrl-C, and the agent killed.

Each test runs the real command in a session of its own with a private TMPDIR, waits (bounded)
until its agent is checking (it has forked a server child, or runs a thread besides its own
two: examples are under way, past the preflight), and then interrupts it. Every process the
run made (the checker, its agents, their children) inherits that TMPDIR, which is how the
test finds any that remain, wherever they were reparented.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

SOCKCHECK = [sys.executable, "-m", "checker.cli", "check", "--no-cover"]
# A shell starts a foreground job with SIGINT at its default: only then is Ctrl-C a
# KeyboardInterrupt. A test run started in the background of a script (`pytest &`) has SIGINT
# ignored, every child inherits that, and Python leaves it ignored, so the Ctrl-C tests would
# watch a run that cannot hear them finish its 1000 examples. The run under test gets the
# default back before it starts, as at a prompt.
_AT_A_PROMPT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.executable, [sys.executable] + sys.argv[1:])"
)


def at_a_prompt(command: list[str]) -> list[str]:
    """`command` (an interpreter and its arguments) as started from a shell prompt."""
    python, *rest = command
    return [python, "-c", _AT_A_PROMPT, *rest]


STARTED = 120.0  # seconds for the agent to be checking (a cold start on a loaded machine)
ENDED = 60.0  # seconds for the run to end once cut short


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, ppid, pgrp, session, ...)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def agent_of(pid: int) -> int | None:
    for child in _pids():
        fields = _stat(child)
        if fields is not None and int(fields[1]) == pid:
            try:
                if b"agent.py" in Path(f"/proc/{child}/cmdline").read_bytes():
                    return child
            except OSError:
                continue
    return None


def has_child(pid: int) -> bool:
    return any((fields := _stat(p)) is not None and int(fields[1]) == pid for p in _pids())


def runs_a_thread(pid: int) -> bool:
    """More than the agent's main thread and its event reader: a call or a handler runs."""
    try:
        return len(os.listdir(f"/proc/{pid}/task")) > 2
    except OSError:
        return False


def _in(tmp: Path, pid: int) -> bool:
    """Whether the process's TMPDIR is `tmp` or a folder in it (an agent's is the driver's
    sockcheck-agent-* folder)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:  # gone meanwhile, or a zombie whose memory is gone (checked apart)
        return False
    where = bytes(tmp)
    return any(e == b"TMPDIR=" + where or e.startswith(b"TMPDIR=" + where + b"/") for e in environ)


def run_processes(tmp: Path) -> list[str]:
    """Every process (zombies too) of the run, as "pid state"."""
    found = []
    for pid in _pids():
        fields = _stat(pid)
        if _in(tmp, pid):
            found.append(f"{pid} {fields[0] if fields else '?'}")
        elif fields is not None and fields[0] == "Z" and int(fields[3]) in _sessions:
            found.append(f"{pid} Z")
    return found


_sessions: set[int] = set()  # the agents' sessions: a zombie has no environment to read


def wait_for(check: Callable[[], object], timeout: float, what: str) -> object:
    end = time.monotonic() + timeout
    pause = 0.005
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(pause)  # polling the process table, not an observation of the target
        pause = min(pause * 2, 0.1)


def start(tmp: Path, kind: str, *args: str, deadline: str | None = None) -> tuple[subprocess.Popen[str], int]:
    """The check, in a session of its own; and its agent, once that is checking."""
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    if deadline is not None:
        env["SOCKCHECK_DEADLINE"] = deadline
    run = subprocess.Popen(
        at_a_prompt([*SOCKCHECK, "--kind", kind, *args]),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # Ctrl-C reaches the terminal's foreground group: this one
    )
    try:
        agent = wait_for(lambda: agent_of(run.pid), STARTED, "the agent starts")
        assert isinstance(agent, int)
        _sessions.add(agent)  # the agent leads a session of its own
        checking = has_child if kind == "fork" else runs_a_thread
        wait_for(lambda: checking(agent) or run.poll() is not None, STARTED, "the agent checks")
        assert run.poll() is None, run.communicate()
        # The look for leftovers is not blind: it sees the checker and its agent now.
        assert len(run_processes(tmp)) >= 2, run_processes(tmp)
    except BaseException:
        os.killpg(run.pid, signal.SIGKILL)
        run.communicate()
        raise
    return run, agent


def finish(run: subprocess.Popen[str]) -> tuple[str, str, float]:
    started = time.monotonic()
    try:
        out, err = run.communicate(timeout=ENDED)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)
        run.communicate()
        raise AssertionError(f"the run did not end within {ENDED:.0f} s") from None
    return out, err, time.monotonic() - started


def assert_nothing_left(tmp: Path) -> None:
    """No process of the run (the killed agent's group is killed and reaped by the driver;
    a bounded wait covers an orphan being reaped), no sockcheck-agent-* folder, no socket."""
    try:
        wait_for(lambda: not run_processes(tmp), 5.0, "the run's processes end")
    except AssertionError:
        raise AssertionError(f"processes of the run left: {run_processes(tmp)}") from None
    assert os.listdir(tmp) == []


def test_ctrl_c_stops_the_check_promptly_and_cleanly(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    run, _ = start(tmp, "fork", "--examples", "1000")
    os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C on a terminal does
    out, err, seconds = finish(run)
    assert run.returncode == 130, (out, err)
    assert err == "sockcheck: interrupted\n"
    assert seconds < ENDED
    assert_nothing_left(tmp)


def test_a_killed_agent_is_reported_as_a_crash_and_the_run_ends(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    # Thread servers: a killed agent's failure does not replay, and Hypothesis's shrinking
    # of it costs a few seconds here, ~40 s with forks.
    run, agent = start(tmp, "thread", "--examples", "30", "--seed", "0")
    os.kill(agent, signal.SIGKILL)
    out, err, _ = finish(run)
    assert run.returncode == 1, (out, err)
    assert "the target hung or crashed: the agent died during" in out, out
    assert "Traceback" not in err, err
    assert_nothing_left(tmp)


def test_an_agent_that_stops_answering_is_reported_as_hung_and_the_run_ends(tmp_path: Path) -> None:
    """SIGSTOP: the agent neither answers nor dies. The driver waits out its budget for an
    answer (6 deadlines + 5 s), kills the agent's group, says so, and the run goes on."""
    tmp = tmp_path / "tmp"
    run, agent = start(tmp, "thread", "--examples", "30", "--seed", "0", deadline="0.1")
    os.kill(agent, signal.SIGSTOP)
    out, err, seconds = finish(run)
    assert run.returncode == 1, (out, err)
    assert "the target hung or crashed: the agent did not answer" in out, out
    assert "Traceback" not in err, err
    assert seconds < ENDED
    assert_nothing_left(tmp)


def read_until(stream: int, wanted: str, timeout: float) -> str:
    """What a pipe gives until `wanted` is in it (bounded); the run keeps the pipe."""
    end = time.monotonic() + timeout
    seen = ""
    while wanted not in seen:
        left = end - time.monotonic()
        if left <= 0 or not select.select([stream], [], [], left)[0]:
            raise AssertionError(f"not within {timeout:.0f} s: {wanted!r} in {seen[-2000:]!r}")
        chunk = os.read(stream, 65536)
        if not chunk:
            raise AssertionError(f"the pipe ended before {wanted!r}: {seen[-2000:]!r}")
        seen += chunk.decode(errors="replace")
    return seen


def test_sigusr1_prints_where_the_check_waits_and_the_check_goes_on(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    run, _ = start(tmp, "fork", "--examples", "1000")
    assert run.stderr is not None
    os.kill(run.pid, signal.SIGUSR1)
    said = read_until(run.stderr.fileno(), "broken so far: ", ENDED)
    assert "Current thread" in said and 'checker/cli.py", line' in said, said  # the stacks
    assert re.search(r"sockcheck: fork tcp: example [1-9]\d* \(1000 to generate", said), said
    assert run.poll() is None  # a look, not an end: still checking
    os.killpg(run.pid, signal.SIGINT)
    out, err, _ = finish(run)
    assert run.returncode == 130, (out, err)
    assert_nothing_left(tmp)


# Ctrl-C while a gc callback runs (Hypothesis has one): Python prints the KeyboardInterrupt as
# "Exception ignored" and goes on, and so did the check, to exit 0 (seen in a fresh-clone
# suite). Here the Ctrl-C is sent from inside such a callback, once examples are under way;
# `main()` as the command installs checker.stops' hook, `main(argv)` (as tests call it) not.
LOST_CTRL_C = """
import gc, os, signal, sys
from checker import cli
signal.signal(signal.SIGINT, signal.default_int_handler)  # as at a prompt
fired = []
def callback(phase, info):
    if phase == "start" and not fired and cli._UNDER_WAY:
        fired.append(1)
        os.kill(os.getpid(), signal.SIGINT)  # handled here, inside the callback
        sum(range(1000))
gc.callbacks.append(callback)
args = ["check", "--kind", "thread", "--no-cover", "--db", "none", "--replay-dir", "none"]
if sys.argv[1] == "command":
    sys.argv = ["sockcheck", *args, "--examples", "1000"]
    sys.exit(cli.main())
sys.exit(cli.main([*args, "--examples", "20"]))
"""


@pytest.mark.parametrize("how", ["command", "called"])
def test_a_ctrl_c_lost_in_a_gc_callback_still_stops_the_check(tmp_path: Path, how: str) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    run = subprocess.Popen(
        [sys.executable, "-c", LOST_CTRL_C, how],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp)},
        start_new_session=True,
    )
    out, err, _ = finish(run)
    if how == "command":
        assert (run.returncode, err.splitlines()[-1:]) == (130, ["sockcheck: interrupted"]), (out, err)
    else:  # without the hook: the stop printed and lost, the check run to its end
        assert run.returncode == 0 and "KeyboardInterrupt" in err, (out, err)
    assert_nothing_left(tmp)
