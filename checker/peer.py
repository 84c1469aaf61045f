"""The peer suite: CPython's own test_socketserver, run against a module of one's choosing.

Each interpreter ships the suite its socketserver was released with
(``lib/pythonX.Y/test/test_socketserver.py``; 2.7's tests ``SocketServer``). ``run_peer``
runs it in that interpreter against

* ``"stdlib"``: the interpreter's own module, unchanged (the suite's own baseline);
* a ``Path``: that file, loaded in place of the stdlib module (a patch, or a re-injected
  historical bug);
* ``"impl"``: this project's impl package, presented as ``socketserver`` by a shim
  (checker/peer_shim.py).

The suite runs under ``unittest`` rather than regrtest, whose command line and in-process
entry points differ from 2.7 to 3.13; resources are enabled as by ``-u all``. The counts and
test ids come from unittest's result object inside the run, written as JSON, not from
parsing a summary line whose wording changed across versions. Inside the run,
checker/peer_runner.py checks that the module the suite imported is the one asked for, and
the run fails loudly (PeerError) if it is not. The run has a deadline: past it the whole
process group is killed and the result says it hung, and in which test.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import attrs

from checker.interpreters import Interpreter

RUNNER = Path(__file__).with_name("peer_runner.py")
SHIM = Path(__file__).with_name("peer_shim.py")
# impl's modules start with `from __future__ import annotations` (PEP 563): a SyntaxError
# before 3.7. Nothing else in impl needs more (pidfds, 3.9+, are used where they exist).
IMPL_FLOOR = (3, 7)
DEFAULT_DEADLINE = 300.0  # seconds; the suite takes about one, so only a hang meets this
TAIL_LINES = 60
# peer_runner.py's exit statuses for a run that could not be made.
_WRONG_MODULE, _NO_SUITE, _NOT_IMPORTABLE = 3, 4, 5

PeerTarget = Literal["stdlib", "impl"] | Path


class PeerError(RuntimeError):
    """The run could not be made: the module does not import, or is not the one the suite ran."""


class NoSuite(PeerError):
    """The interpreter ships no test_socketserver (distributions often package it apart)."""


@attrs.frozen
class PeerResult:
    interpreter: Interpreter
    target: str  # "stdlib", "impl", or the module file's path
    passed: bool  # every test ran to the end, none failed or errored, at least one ran
    tests_run: int  # tests that ran to the end
    failed: tuple[str, ...]  # ids of the tests that failed, errored, or hung or crashed the run
    skipped: tuple[str, ...]  # "id: reason" of each skipped test
    seconds: float  # wall time of the run, interpreter start-up included
    hung: bool  # killed at its deadline
    output_tail: str  # the last lines of the run's stdout and stderr

    def summary(self) -> str:
        if self.hung:
            verdict = f"HUNG in {', '.join(self.failed) or 'start-up'}"
        elif self.passed:
            verdict = "ok"
        else:
            verdict = f"FAIL {', '.join(self.failed) or '(no test ran)'}"
        counts = f"{self.tests_run} tests, {self.seconds:.1f} s"
        return f"{self.interpreter.label} {self.target}: {verdict} ({counts})"


def running() -> Interpreter:
    """The interpreter this process runs in."""
    version: Any = tuple(sys.version_info[:3])
    return Interpreter(version, sys.implementation.name, sys.executable, path=sys.executable)


def impl_supports(interpreter: Interpreter) -> bool:
    return interpreter.version[:2] >= IMPL_FLOOR


def impl_root() -> Path:
    """The folder that holds the impl package (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("impl")
    if spec is None or spec.origin is None:
        raise PeerError("the impl package is not importable here")
    return Path(spec.origin).resolve().parent.parent


def run_peer(
    interpreter: Interpreter, target: PeerTarget = "stdlib", *, deadline: float = DEFAULT_DEADLINE
) -> PeerResult:
    """Run `interpreter`'s test_socketserver against `target`, killed after `deadline` seconds."""
    config = _config(interpreter, target)
    with tempfile.TemporaryDirectory(prefix="sockcheck-peer-") as private:
        folder = Path(private)
        config["result"] = str(folder / "result.json")
        config["progress"] = str(folder / "progress")
        (folder / "config.json").write_text(json.dumps(config))
        seconds, hung, status = _run(interpreter, folder, deadline)
        output = (folder / "output").read_bytes().decode(errors="replace")
        tail = "\n".join(output.rstrip().splitlines()[-TAIL_LINES:])
        if not hung and status in (_WRONG_MODULE, _NO_SUITE, _NOT_IMPORTABLE):
            error = NoSuite if status == _NO_SUITE else PeerError
            raise error(f"{interpreter.label} {config['label']}: {_reason(output)}")
        result = _read_json(folder / "result.json")
        started, done = _progress(folder / "progress")
    unfinished = tuple(test for test in started if test not in done)
    if result is None:  # hung, or the run died before it could say: name where it stopped
        tests_run, failed, skipped = len(done), unfinished, ()
    else:
        tests_run, failed, skipped = result["run"], tuple(result["failed"]), tuple(result["skipped"])
    return PeerResult(
        interpreter=interpreter,
        target=config["label"],
        passed=not hung and status == 0 and result is not None and tests_run > 0 and not failed,
        tests_run=tests_run,
        failed=failed,
        skipped=skipped,
        seconds=seconds,
        hung=hung,
        output_tail=tail,
    )


def _config(interpreter: Interpreter, target: PeerTarget) -> dict[str, Any]:
    module = "SocketServer" if interpreter.version[0] == 2 else "socketserver"
    if target == "stdlib":
        return {"label": "stdlib", "module": module, "source": None, "impl": None}
    if target == "impl":
        if not impl_supports(interpreter):
            floor = ".".join(map(str, IMPL_FLOOR))
            raise PeerError(f"{interpreter.label}: impl needs Python {floor}+ (PEP 563 annotations)")
        return {"label": "impl", "module": module, "source": str(SHIM), "impl": str(impl_root())}
    path = Path(target).resolve()
    if not path.is_file():
        raise PeerError(f"{target}: no such file")
    return {"label": str(path), "module": module, "source": str(path), "impl": None}


def _run(interpreter: Interpreter, folder: Path, deadline: float) -> tuple[float, bool, int]:
    """Run the runner in a session of its own; (seconds, hung, exit status)."""
    tmp = folder / "tmp"  # the suite's own temporary files (Unix sockets) go here
    tmp.mkdir()
    command = [interpreter.executable, *interpreter.isolation, "-B", str(RUNNER), str(folder / "config.json")]
    start = time.monotonic()
    # Output goes to a file, not a pipe: a forked child that outlives the run cannot hold
    # the checker on a pipe it keeps open.
    with (folder / "output").open("wb") as output:
        try:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=folder,
                env={**os.environ, "TMPDIR": str(tmp)},
                start_new_session=True,  # its own process group: one kill ends its children
            )
        except OSError as exc:
            raise PeerError(f"cannot start {interpreter.executable}: {exc.strerror}") from None
        try:
            hung = not _exits_by(proc, start + deadline)
        finally:
            # The leader is not reaped yet, so its group id cannot have been reused: this
            # kills what the run left behind (forked children of a broken module), or the
            # whole hung run.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            status = proc.wait()
    return time.monotonic() - start, hung, status


def _exits_by(proc: subprocess.Popen[bytes], end: float) -> bool:
    """Wait until `proc` has exited (without reaping it) or `end` has passed."""
    fd = os.pidfd_open(proc.pid)
    try:
        readable, _, _ = select.select([fd], [], [], max(0.0, end - time.monotonic()))
        return bool(readable)
    finally:
        os.close(fd)


def _reason(output: str) -> str:
    marker = "sockcheck peer: "
    at = output.rfind(marker)
    return output[at + len(marker) :].strip() if at >= 0 else output.strip()[-2000:]


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def _progress(path: Path) -> tuple[list[str], set[str]]:
    """The tests that started, in order, and those that stopped."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return [], set()
    done = {line[: -len(" done")] for line in lines if line.endswith(" done")}
    return [line for line in lines if not line.endswith(" done")], done
