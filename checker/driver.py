"""The driver: runs the agent in the target interpreter and speaks its line protocol.

Every exchange has a deadline. An agent that does not answer in time is killed with its whole
process group (its forked children too) and reported as hung; one that dies is reported as
crashed, with the end of what it wrote to stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import attrs

from checker.targets import Target
from model import Call, Child, Observation, Outcome, Probe, Timeout, Where, WorkerObs

AGENT = Path(__file__).with_name("agent.py")


class CannotRun(Exception):
    """The run could not be made: the target does not load, or lacks what a check needs."""


class TargetFailure(Exception):
    """The target hung or crashed: a finding about the target, not a guarantee step."""


@attrs.frozen
class TargetInfo:
    version: tuple[int, int, int]
    implementation: str
    executable: str
    file: str | None
    # What the module does not have of what the checker's steps use, as "Class.attribute"
    # (2.7: BaseServer.__enter__, BaseServer.service_actions, ThreadingMixIn.block_on_close,
    # ...): steps that need one are steps this target cannot take, not failures.
    lacks: tuple[str, ...] = ()
    # --server: what the agent learnt of the user's class or factory (agent.UserServer.describe):
    # its class, kind, transport, the modelled attributes it starts with, its mix-in's module.
    server: dict[str, Any] | None = attrs.field(default=None, hash=False)


# The model's timeouts in seconds. SHORT is the agent's own server.timeout (agent.TIMEOUT),
# which passes within a step; LONG never passes within a run.
TIMEOUT_SECONDS: dict[Timeout, float | None] = {
    Timeout.NONE: None,
    Timeout.SHORT: 0.005,
    Timeout.LONG: 3600.0,
}


@attrs.define
class _Agent:
    """One agent process, with the stderr file and the temporary folder that live as long."""

    proc: subprocess.Popen[bytes]
    stderr: Any
    tmp: str


class Driver:
    def __init__(self, target: Target, deadline: float) -> None:
        self.target = target
        self.deadline = deadline
        self.info: TargetInfo | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None
        self._tmp: str | None = None
        self._jitter: tuple[float, int] | None = None  # seconds, and the next server's seed
        self.window_missed = False  # the last window step's point was never reached
        # An agent started ahead, its module loaded, for the next restart. A target that hangs
        # gets its agent killed after each example that hangs; starting the next interpreter
        # and importing the module then took 0.2-0.4 s on a loaded 2-core machine, as much as
        # the example itself. The spare starts while the checker waits out a deadline. Only a
        # driver that has restarted once keeps one: most runs never restart.
        self._spare: _Agent | None = None

    # -- the agent process ------------------------------------------------------------------

    def load(self) -> TargetInfo:
        """Start the agent (again, if it was killed) and import the target module in it."""
        restart = self.info is not None
        self._end()
        agent = self._take_spare() or self._spawn()
        self._proc, self._stderr, self._tmp = agent.proc, agent.stderr, agent.tmp
        try:
            result = self._receive("load")
        except TargetFailure as exc:  # the agent itself cannot run there: not a finding
            self.quit(graceful=False)
            last = str(exc).strip().splitlines()[-1]
            raise CannotRun(f"the agent cannot run in {self.target.python}: {last}") from None
        self.info = TargetInfo(
            version=tuple(result["version"]),  # type: ignore[arg-type]
            implementation=result["implementation"],
            executable=result["executable"],
            file=result["file"],
            lacks=tuple(result.get("lacks", ())),
            server=result.get("server"),
        )
        if restart and self._spare is None:
            with contextlib.suppress(CannotRun):  # no spare: the next restart waits, that is all
                self._spare = self._spawn()
        return self.info

    def _spawn(self) -> _Agent:
        """Start an agent and send it the load command (its answer is read when it is used)."""
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the agent
        # The agent's temporary files (Unix socket folders, the target's own) go in a folder
        # of the driver's, removed when the agent ends: a killed agent leaves nothing behind.
        tmp = tempfile.mkdtemp(prefix="sockcheck-agent-")
        try:
            proc = subprocess.Popen(
                [self.target.python, *self.target.isolation, str(AGENT)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                start_new_session=True,  # its own process group: one kill ends its children
                env={**os.environ, "TMPDIR": tmp},
            )
        except OSError as exc:
            stderr.close()
            shutil.rmtree(tmp, ignore_errors=True)
            raise CannotRun(f"cannot start {self.target.python}: {exc.strerror}") from None
        agent = _Agent(proc, stderr, tmp)
        assert proc.stdin is not None
        try:
            proc.stdin.write(json.dumps({"op": "load", **self.target.load_args()}).encode() + b"\n")
            proc.stdin.flush()
        except OSError:
            pass  # it died at once: reading its answer says so, with its stderr
        return agent

    def _take_spare(self) -> _Agent | None:
        spare, self._spare = self._spare, None
        if spare is not None and spare.proc.poll() is not None:  # it died waiting: start anew
            self._discard(spare)
            return None
        return spare

    def _discard(self, agent: _Agent) -> None:
        self._kill(agent.proc)
        agent.stderr.close()
        shutil.rmtree(agent.tmp, ignore_errors=True)

    def quit(self, graceful: bool = True) -> None:
        """End the agent, and the spare if there is one: the driver is done."""
        self._end(graceful)
        spare, self._spare = self._spare, None
        if spare is not None:
            self._discard(spare)

    def _end(self, graceful: bool = True) -> None:
        """End the agent in use (its spare, if any, stays for the next load)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                if graceful and proc.poll() is None and proc.stdin is not None:
                    proc.stdin.write(b'{"op": "quit"}\n')
                    proc.stdin.flush()
                    proc.wait(self.deadline)
            except (OSError, subprocess.TimeoutExpired):
                pass
            self._kill(proc)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                # A command that was being written when the agent died is still in the pipe's
                # buffer: closing flushes it into the broken pipe. It is dropped, not raised.
                with contextlib.suppress(BrokenPipeError):
                    stream.close()

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        return "\n".join(lines[-12:])

    def _ask(self, command: dict[str, Any]) -> Any:
        try:
            return self._exchange(command)
        except (TargetFailure, CannotRun):
            raise
        except BaseException:
            # Cut short (Ctrl-C, a signal turned into an exception): the agent's reply to
            # this command may still come, and would be read as the answer to the next one.
            # An agent out of step with its driver is ended at once; the next start() makes
            # a new one, and a stop() or quit() on the way out has nothing left to do.
            if self._proc is not None:
                self._kill(self._proc)
                self._proc = None
            raise

    def _exchange(self, command: dict[str, Any]) -> Any:
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        try:
            proc.stdin.write(json.dumps(command).encode() + b"\n")
            proc.stdin.flush()
        except OSError:
            raise self._died(command["op"]) from None
        return self._receive(command["op"])

    def _receive(self, op: str) -> Any:
        """The agent's answer to the command `op` it was sent."""
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        # A step waits for at most a few deadlines inside the agent; past this it is hung.
        budget = self.deadline * 6 + 5
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            if not selector.select(budget):
                tail = self._stderr_tail()
                self._kill(proc)
                self._proc = None
                raise TargetFailure(
                    f"the agent did not answer {op} within {budget:.0f}s" + (f"\n{tail}" if tail else "")
                )
        line = proc.stdout.readline()
        if not line:
            raise self._died(op)
        reply = json.loads(line)
        if reply["ok"]:
            return reply["result"]
        if reply.get("load"):
            raise CannotRun(reply["error"])
        raise TargetFailure(f"{op} failed in the agent: {reply['error']}")

    def _died(self, op: str) -> TargetFailure:
        tail = self._stderr_tail()
        if self._proc is not None:
            self._kill(self._proc)
            self._proc = None
        return TargetFailure(f"the agent died during {op}" + (f"\n{tail}" if tail else ""))

    # -- steps ----------------------------------------------------------------------------

    def start(self, kind: str, transport: str = "tcp") -> str:
        """Start a server; return the name of its class (composed where the target lacks it)."""
        if self._proc is None:
            self.load()
        if self._jitter is not None:
            seconds, seed = self._jitter
            self._ask({"op": "jitter", "seconds": seconds, "seed": seed})
            self._jitter = (seconds, seed + 1)
        result = self._ask({"op": "start", "kind": kind, "transport": transport, "deadline": self.deadline})
        return str(result["class"]) + (" (composed)" if result["composed"] else "")

    def connect(
        self,
        rejected: bool = False,
        queued: bool = False,
        fails: bool = False,
        hangs_up: bool = False,
        listening: bool = False,
        stops_loop: bool = False,
    ) -> Observation:
        """A client connects (or sends); with `hangs_up`, it resets the connection at once;
        with `listening`, the handle_request() already waiting takes it (none is started);
        with `stops_loop` (and `queued`), it wakes a loop without poll_interval that a
        shutdown() waits for: both return, and the connection waits in the backlog."""
        command = {"op": "connect", "rejected": rejected, "fails": fails, "hangs_up": hangs_up}
        command["queued"] = queued
        if listening:  # only then: an older agent need not know the word
            command["listening"] = True
        if stops_loop:  # the same
            command["stops_loop"] = True
        return _observation(self._ask(command))

    def hang_up(self, wid: int) -> Observation:
        """The client of a held request resets its connection."""
        return _observation(self._ask({"op": "hang_up", "rid": wid}))

    def serve(
        self,
        turn: bool = False,
        returns: bool = False,
        accepted: list[int] | None = None,
        poll_interval: Timeout = Timeout.SHORT,
    ) -> Observation:
        """Start serve_forever(); with `turn`, return once a whole turn of its loop is done;
        with `returns`, once it has returned (a shutdown() flag was set); `accepted`: waiting
        connections it takes. With `poll_interval` NONE, once it sits in select()."""
        command: dict[str, Any] = {"op": "serve", "turn": turn, "returns": returns}
        if accepted:  # only then: an older agent need not know the word
            command["accepted"] = accepted
        if poll_interval is not Timeout.SHORT:  # the same; SHORT is the agent's own POLL
            command["poll_interval"] = TIMEOUT_SECONDS[poll_interval]
        return _observation(self._ask(command))

    def shutdown(self, must_return: bool = True) -> Observation:
        """Call shutdown(); wait until it and the loop have returned, or until it is blocked."""
        return _observation(self._ask({"op": "shutdown", "must_return": must_return}))

    def time_out(
        self,
        must_return: bool = True,
        listens: bool = False,
        timeout: Timeout | None = None,
        socket_timeout: Timeout | None = None,
    ) -> Observation:
        """handle_request() with nothing to accept: it times out (and may wait at max_children
        in handle_timeout()), or, `listens`, it waits in select() for a connection. The
        timeouts given are set first."""
        command: dict[str, Any] = {"op": "time_out", "must_return": must_return}
        if listens:  # only where needed: an older agent need not know the words
            command["listens"] = True
        for name, value in (("timeout", timeout), ("socket_timeout", socket_timeout)):
            if value is not None:
                command.setdefault("first", {})[name] = TIMEOUT_SECONDS[value]
        return _observation(self._ask(command))

    def release(
        self,
        wid: int,
        outcome: Outcome,
        close_must_return: bool,
        dispatch_must_return: bool = True,
        accepted: list[int] | None = None,
        turn: bool = False,
        shutdown_returns: bool = False,
        loop_stops: bool = False,
    ) -> Observation:
        """Release a held handler; `accepted`: waiting connections the loop then takes;
        `turn`: return once the running loop has made a whole turn after the worker ended;
        `shutdown_returns`: once a waiting shutdown() and its loop have returned;
        `loop_stops`: once the loop has returned (a synchronous handler's SystemExit)."""
        command = {
            "turn": turn,
            "shutdown_returns": shutdown_returns,
            "op": "release",
            "rid": wid,
            "outcome": outcome.value,
            "close_must_return": close_must_return,
            "dispatch_must_return": dispatch_must_return,
            "accepted": accepted or [],
        }
        if loop_stops:  # only then: an older agent need not know the word
            command["loop_stops"] = True
        return _observation(self._ask(command))

    def set_attr(self, name: str, value: bool | int | Timeout, sync_loop: bool = False) -> Observation:
        """Set an attribute (a timeout in seconds); with `sync_loop`, return once the running
        loop has looked at it."""
        sent = TIMEOUT_SECONDS[value] if isinstance(value, Timeout) else value
        return _observation(self._ask({"op": "set", "name": name, "value": sent, "sync_loop": sync_loop}))

    def close(
        self, must_return: bool, turn: bool = False, by_exit: bool = False, by_handler: int | None = None
    ) -> Observation:
        """server_close() (`by_exit`: the end of a `with server:` block, by an exception;
        `by_handler`: called by that request's handler); with `turn`, also wait for a whole
        turn of a loop still running."""
        command = {"op": "close", "must_return": must_return, "turn": turn, "by_exit": by_exit}
        if by_handler is not None:  # only then: an older agent need not know the word
            command["by_handler"] = by_handler
        return _observation(self._ask(command))

    def window(self, point: str, intruder: dict[str, Any], rid: int | None = None) -> None:
        """Arm a controlled interleaving for the next step: the server thread that reaches
        `point` (a worker's: request `rid`'s) stops there while `intruder` is made."""
        self._ask({"op": "window", "point": point, "intruder": intruder, "rid": rid})

    def settle(self, close_must_return: bool = True, shutdown_must_return: bool = True) -> Observation:
        """After a window step: its intruder's calls settle; the observation."""
        command = {"op": "settle", "close_must_return": close_must_return}
        command["shutdown_must_return"] = shutdown_must_return
        raw = self._ask(command)
        # The server never reached the window's point: its call was made after the step.
        self.window_missed = bool(raw.get("window_missed"))
        return _observation(raw)

    def jitter(self, seconds: float, seed: int = 0) -> None:
        """Random pauses of up to `seconds` at every window point, from the next start on
        (each server's pauses seeded in turn from `seed`, also after the agent restarts)."""
        self._jitter = (seconds, seed)

    def probe(self) -> Observation:
        return _observation(self._ask({"op": "probe"}))

    def stop(self) -> list[str]:
        """End the example: release and reap everything. Leftovers mean the agent is restarted."""
        if self._proc is None:
            return []
        leftovers: list[str] = self._ask({"op": "stop"})["leftovers"]
        if leftovers:  # what would not end is ended with the agent, at once
            self._end(graceful=False)
        return leftovers


def _where(raw: dict[str, int]) -> Where:
    return Where(worker=raw["worker"], server=raw["server"])


def _worker(raw: dict[str, Any]) -> WorkerObs:
    return WorkerObs(
        wid=raw["wid"],
        alive=raw["alive"],
        daemon=raw["daemon"],
        child=_CHILD[raw["child"]] if raw["child"] else None,
        entered=raw["entered"],
        exited=raw["exited"],
        handle_error=_where(raw["handle_error"]),
        quiet_errors=raw["quiet_errors"],
        stdout_errors=raw["stdout_errors"],
        shutdown_request=_where(raw["shutdown_request"]),
        close_request=_where(raw["close_request"]),
        closed_before_exit=raw["closed_before_exit"],
        client_eof=raw["client_eof"],
        released_seq=raw["released_seq"],
        ended_seq=raw.get("ended_seq"),
        retained=raw["retained"],
        exit_status=raw["exit_status"],
    )


_CALL = {"none": Call.NONE, "blocked": Call.BLOCKED, "returned": Call.RETURNED, "raised": Call.RAISED}
_CHILD = {"running": Child.RUNNING, "zombie": Child.ZOMBIE, "reaped": Child.REAPED}


def _observation(raw: dict[str, Any]) -> Observation:
    return Observation(
        workers=tuple(_worker(w) for w in raw["workers"]),
        close=_CALL[raw["close"]],
        close_error=raw["close_error"],
        close_return_seq=raw["close_return_seq"],
        dispatch=_CALL[raw["dispatch"]],
        dispatch_error=raw["dispatch_error"],
        probe=Probe(raw["probe"]) if raw["probe"] else None,
        handle_timeout=raw["handle_timeout"],
        loop=_CALL[raw["loop"]],
        loop_error=raw["loop_error"],
        loop_stopped_seq=raw["loop_stopped_seq"],
        shutdown_return_seq=raw["shutdown_return_seq"],
        shutdown=_CALL[raw["shutdown"]],
        server_sockets=raw["server_sockets"],
    )
