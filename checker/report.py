"""Counterexamples in words: the guarantee, the minimal steps, the model beside the observation."""

from __future__ import annotations

from typing import Any

import attrs

from checker.driver import TIMEOUT_SECONDS
from checker.machine import Step
from model import (
    Call,
    Close,
    Connect,
    Event,
    HangUp,
    Kind,
    Observation,
    Outcome,
    Phase,
    Reaped,
    Release,
    Serve,
    SetAttr,
    Shutdown,
    State,
    TimeOut,
    Timeout,
    Violation,
    Worker,
    WorkerObs,
    effective_timeout,
)


def event_text(event: Event, before: State) -> str:
    call, comment = _event_parts(event, before)
    return f"{call:<28} # {comment}" if comment else call


def _event_parts(event: Event, before: State) -> tuple[str, str]:
    if isinstance(event, Connect):
        if before.server.phase is Phase.CLOSED:
            return "connect()", "to the closed server"
        if event.rejected:
            return "connect(rejected)", f"verify_request() says no to w{len(before.workers)}"
        if event.fails:
            return "connect(spawn fails)", f"process_request() cannot start w{len(before.workers)}"
        call = "connect(hangs up)" if event.hangs_up else "connect()"
        wid = len(before.workers)
        if before.server.capped is not None:
            return call, f"w{wid} waits in the backlog" + (", reset" if event.hangs_up else "")
        if before.server.waits_in_select and before.server.shutdown_request:
            return call, f"wakes the loop, which stops: w{wid} waits in the backlog"
        spawner = "serve_forever()" if before.server.loop else "handle_request()"
        return call, f"{spawner} spawns w{wid}" + (", its client already gone" if event.hangs_up else "")
    if isinstance(event, HangUp):
        return f"hang_up(w{event.wid})", "its client resets the connection"
    if isinstance(event, Serve):
        if event.poll_interval is Timeout.NONE:
            return "server.serve_forever(poll_interval=None)", "its select() waits for a connection"
        return "server.serve_forever()", "on a thread of its own"
    if isinstance(event, Shutdown):
        if before.server.waits_in_select:
            return "server.shutdown()", "it waits: nothing wakes the loop but a connection"
        return "server.shutdown()", ""
    if isinstance(event, TimeOut):
        return _time_out_text(event, before)
    if isinstance(event, Release):
        if event.outcome is Outcome.RAISE:
            return f"release(w{event.wid}, raise)", "its handler raises"
        if event.outcome is Outcome.EXIT:
            return f"release(w{event.wid}, exit)", "its handler raises SystemExit"
        return f"release(w{event.wid})", "its handler returns"
    if isinstance(event, SetAttr):
        return _set_text(event)
    assert isinstance(event, Close)
    if event.by_exit:
        return "with server as s: raise ValueError", "__enter__(), then __exit__() with it"
    if event.by_handler is not None:
        return f"w{event.by_handler}: server.server_close()", f"called by w{event.by_handler}'s handler"
    return "server.server_close()", ""


def _time_out_text(event: TimeOut, before: State) -> tuple[str, str]:
    settings = {"timeout": event.timeout, "socket_timeout": event.socket_timeout}
    settings = {name: value for name, value in settings.items() if value is not None}
    first = [_set_text(SetAttr(name, value))[0] for name, value in settings.items()]
    times_out = effective_timeout(attrs.evolve(before.server, **settings)) is Timeout.SHORT
    how = "it times out" if times_out else "it waits for a connection"
    return "; ".join([*first, "server.handle_request()"]), f"nothing to accept: {how}"


def _set_text(event: SetAttr) -> tuple[str, str]:
    value = event.value
    if not isinstance(value, Timeout):
        return f"server.{event.name} = {value}", ""
    seconds = TIMEOUT_SECONDS[value]
    why = {Timeout.SHORT: "passes within a step", Timeout.LONG: "never passes within a run"}.get(value, "")
    if event.name == "socket_timeout":
        return f"server.socket.settimeout({seconds})", why
    return f"server.{event.name} = {seconds}", why


def steps_text(steps: tuple[Step, ...]) -> list[str]:
    lines = []
    for i, s in enumerate(steps, 1):
        lines.append(f"{i}. {event_text(s.event, s.before)}")
        if s.window is not None:  # the second of two events made at once
            lines.append(f"   ^ {s.window}")
    return lines


def worker_expected(worker: Worker) -> str:
    parts = [f"w{worker.wid}"]
    if worker.queued:
        return f"w{worker.wid} waits in the backlog" + (" (to be rejected)" if worker.rejected else "")
    if worker.rejected:
        return f"w{worker.wid} rejected"
    if worker.held:
        parts.append("held")
    else:
        parts.append(f"finished ({worker.outcome.value if worker.outcome else '?'})")
    if worker.kind is Kind.THREAD:
        parts.append("daemon" if worker.daemon else "non-daemon")
    elif not worker.held:
        parts.append(
            {Reaped.NO: "zombie", Reaped.MAYBE: "zombie or reaped", Reaped.YES: "reaped"}[worker.reaped]
        )
    return " ".join(parts)


def state_text(state: State) -> str:
    server = state.server
    phase = server.phase.value
    call = "server_close()" if server.closer is None else f"w{server.closer}'s server_close()"
    if server.phase is Phase.CLOSING:
        waiting = ", ".join(f"w{w}" for w in sorted(server.awaited))
        phase = f"closing: {call} blocked on {waiting}"
    elif server.phase is Phase.CLOSED:
        phase = "closed: server_close() " + ("raised" if server.close_raises else "returned")
    if server.listening:
        phase += "; handle_request() waits for a connection"
    if server.capped is not None:
        phase += f"; {server.capped.value} waits at max_children={server.max_children}"
    if server.waits_in_select:
        phase += "; serve_forever() waits in select() for a connection"
    if server.shutdown_waits:
        phase += "; shutdown() waits for the loop to stop"
    attrs = f"block_on_close={server.block_on_close}"
    if server.kind is Kind.THREAD:
        attrs += f", daemon_threads={server.daemon_threads}"
    workers = "; ".join(worker_expected(w) for w in state.workers) or "no workers"
    return f"{phase}; {attrs}; {workers}"


def worker_observed(obs: WorkerObs) -> str:
    parts = [f"w{obs.wid}"]
    if obs.child is not None:
        parts.append(f"child {obs.child.value}")
    else:
        parts.append("alive" if obs.alive else "ended")
    if obs.daemon is not None:
        parts.append("daemon" if obs.daemon else "non-daemon")
    counts = [
        ("handle_error", obs.handle_error),
        ("shutdown_request", obs.shutdown_request),
        ("close_request", obs.close_request),
    ]
    for name, where in counts:
        if where.worker or where.server:
            parts.append(f"{name} {where.worker}+{where.server}")
    if obs.client_eof:
        parts.append("client EOF")
    if obs.retained:
        parts.append("still referenced")
    return " ".join(parts)


def observation_text(obs: Observation) -> str:
    close = {
        Call.NONE: "server_close() not called",
        Call.BLOCKED: "server_close() blocked",
        Call.RETURNED: "server_close() returned",
        Call.RAISED: f"server_close() raised {obs.close_error}",
    }[obs.close]
    workers = "; ".join(worker_observed(w) for w in obs.workers) or "no workers"
    probe = f"; connection {obs.probe.value}" if obs.probe else ""
    return f"{close}{probe}; {workers}"


def counterexample_text(violations: tuple[Violation, ...], steps: tuple[Step, ...]) -> list[str]:
    head = violations[0].guarantee
    lines = [f"guarantee  {head.name}: {head.statement}"]
    if head.issue:
        lines.append(f"issue      {head.issue}")
    lines.append("")
    lines.append(f"steps ({len(steps)}, minimal):")
    lines.extend("  " + s for s in steps_text(steps))
    last = steps[-1]
    lines.append("")
    lines.append(f"after step {len(steps)}:")
    lines.append(f"  model     {state_text(last.after)}")
    lines.append(f"  observed  {observation_text(last.obs)}")
    for violation in violations:
        for detail in violation.details:
            lines.append(f"  broken    [{violation.guarantee.name}] {detail}")
    lines.append("  (counts are worker+server; 'hook a+b' ran a times in the worker, b in the server)")
    return lines


def steps_json(steps: tuple[Step, ...]) -> list[dict[str, Any]]:
    return [
        {
            "step": i,
            "event": event_text(s.event, s.before).split("#")[0].strip(),
            "model": state_text(s.after),
            "observed": observation_text(s.obs),
            **({"window": s.window} if s.window is not None else {}),
        }
        for i, s in enumerate(steps, 1)
    ]
