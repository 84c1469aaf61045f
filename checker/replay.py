"""Confirmed failures and replay scripts.

Every failure with steps is replayed before it is reported (`confirm`): the label says
whether each replay showed the same failure (`deterministic`) or only some did (`flaky (k
of n)`). Each is also written as a standalone Python script (`write_script`): a header in
words, the run's options and the failure's draws as one literal, `REPLAY`, and a `main()`
that replays the draws on a fresh machine through `checker.minimize.replay`, without
Hypothesis's engine. `sockcheck replay FILE` reads that literal without running the file
(`read_script`) and replays it the same way.

Everything a replay needs to decode the draws into the same steps is in `REPLAY`: the target
(`target_options`), the deadline, and the RunConfig fields named in `DECODING`
(`replay_options`, inverted by `run_config`). A RunConfig field that changes how draws are
decoded is one more name there.
"""

from __future__ import annotations

import ast
import hashlib
import json
import pprint
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

import checker
from checker.driver import Driver
from checker.machine import Counterexample, RefinementMachine, RunConfig, machine_for
from checker.minimize import Found, draws, replay
from checker.targets import Target
from model import BY_NAME as GUARANTEES
from model import PROFILES, Kind, Profile, Transport

FORMAT = 1  # of REPLAY; a script of another format is refused, not misread
_KEYS = {"target", "deadline", "options", "failure"}  # what REPLAY of that format holds
DEFAULT_CONFIRM = 5  # replays per failure before it is reported (see README: what it costs)
# The RunConfig fields that change how a run's draws become steps: a replay must set each.
# (interleave: whether draws past the plain ones are windows; jitter: the agent's pauses,
# which a replay applies too;
# attributes: what a --server class starts with, which the model's first state has too.)
DECODING = ("kind", "transport", "profile", "misuse", "muted", "interleave", "jitter", "attributes")
# How a field's plain (literal) value is made back into RunConfig's; a plain one is kept.
_DECODE: dict[str, Callable[[Any], Any]] = {
    "kind": Kind,
    "transport": Transport,
    "profile": lambda name: PROFILES[name],
    "muted": frozenset,
    "attributes": lambda pairs: tuple((name, value) for name, value in pairs),
}


class NotAReplay(Exception):
    """The file is not a sockcheck replay script (or not one this version can read)."""


@attrs.frozen
class Confirmation:
    """How many of `replays` fresh replays of a failure's draws showed the same failure."""

    reproduced: int
    replays: int

    @property
    def label(self) -> str:
        if self.reproduced == self.replays:
            return "deterministic"
        return f"flaky ({self.reproduced} of {self.replays})"

    @property
    def text(self) -> str:
        """The label in words, for the report."""
        if self.reproduced == self.replays:
            return f"deterministic ({self.replays} of {self.replays} replays showed it)"
        if self.reproduced == 0:
            replays = "replay" if self.replays == 1 else "replays"
            return f"flaky (0 of {self.replays}): seen once, not reproduced in {self.replays} {replays}"
        return f"flaky ({self.reproduced} of {self.replays} replays showed it)"

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "reproduced": self.reproduced, "replays": self.replays}


def what(failure: BaseException) -> str:
    """What a failure is, for telling two apart: its guarantee, or its kind."""
    return failure.guarantee.name if isinstance(failure, Counterexample) else type(failure).__name__


def confirm(machine: type[RefinementMachine], failure: Found, times: int) -> Confirmation:
    """Replay a failure's draws `times` times on fresh machines, for real; count the replays
    that ended with the same failure (same guarantee, or same kind of failure)."""
    choices = draws(failure)
    try:
        same = sum(_same(replay(machine, choices), failure) for _ in range(times))
    finally:
        machine.config.driver.stop()
    return Confirmation(same, times)


def _same(found: Found | None, failure: Found) -> bool:
    return found is not None and what(found) == what(failure)


# -- the run's options, as plain data and back ---------------------------------------------


def replay_options(config: RunConfig) -> dict[str, Any]:
    """The RunConfig fields that decide how draws become steps, as literals."""
    return {name: _plain(getattr(config, name)) for name in DECODING}


def run_config(options: dict[str, Any], driver: Driver) -> RunConfig:
    """The inverse of replay_options: a RunConfig that decodes the same draws the same way."""
    unknown = set(options) - set(DECODING)
    if unknown:
        raise NotAReplay(f"options this sockcheck does not know: {', '.join(sorted(unknown))}")
    try:
        values = {name: _DECODE.get(name, _same_value)(value) for name, value in options.items()}
    except (KeyError, ValueError, TypeError) as exc:
        raise NotAReplay(f"an option this sockcheck cannot read: {exc}") from None
    return RunConfig(driver=driver, **values)


def _same_value(value: Any) -> Any:
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Kind | Transport):
        return value.value
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Profile):
        return value.name
    return value


def target_options(target: Target) -> dict[str, Any]:
    return {**attrs.asdict(target), "isolation": list(target.isolation)}


def target_of(options: dict[str, Any]) -> Target:
    try:
        return Target(**{**options, "isolation": tuple(options.get("isolation", ()))})
    except TypeError as exc:
        raise NotAReplay(f"a target this sockcheck cannot read: {exc}") from None


def database_key(config: RunConfig) -> bytes:
    """What tells one run's saved examples from another's: what is checked (`checked`) and
    every option that changes how draws are decoded.

    Nothing about where it runs is in it: not the checkout's folder, nor the module's, nor
    the interpreter's path (each machine and each venv has its own), nor the deadline (a
    liveness bound scaled by the machine's speed, which never changes what a draw means).
    So one database, shared by every machine and checkout, gives each the examples the others
    saved for the same check. (Hypothesis adds to it the source of its state-machine runner
    and of RefinementMachine: machines share examples when they run the same sockcheck with
    the same Hypothesis, which is also when a saved draw still means the same step.)"""
    plain = {"target": checked(config.driver), "options": replay_options(config)}
    return json.dumps(plain, sort_keys=True).encode()


def keyed_machine(config: RunConfig) -> type[RefinementMachine]:
    """machine_for(config), keyed in Hypothesis's example database by database_key: how
    `sockcheck check` and the fuzz targets (checker.fuzz) make their machines, so that one's
    saved examples are the other's."""
    machine = machine_for(config)
    # Hypothesis keys a state machine's examples by the digest of its class, to which it adds
    # this; every run's machine is the same class, so the run's target and options go here.
    machine._hypothesis_internal_add_digest = database_key(config)  # type: ignore[attr-defined]
    return machine


def checked(driver: Driver) -> dict[str, Any]:
    """The target as the same on every machine: its kind of source, the package's or the
    module file's name (not its folder: the same patch in two checkouts is one target), and
    the interpreter's implementation and version line (not its path). The version line keeps
    apart the stdlibs of two interpreters, which differ, so that a shared database does not
    drop one's failure each time the other passes it (Hypothesis deletes a saved example
    that no longer fails)."""
    target = driver.target
    implementation, version = _interpreter_of(driver)
    return {
        "source": target.source,
        "name": target.name,
        "module": Path(target.path).name if target.source == "file" and target.path else None,
        "interpreter": f"{implementation} {version[0]}.{version[1]}",
        # A --server target is its class or factory as named (not its folder): two classes
        # checked in one checkout keep their saved examples apart.
        **({"server": target.label} if target.server is not None else {}),
    }


def _interpreter_of(driver: Driver) -> tuple[str, tuple[int, ...]]:
    """What the driver's agent reported at load; before a load, the running interpreter's, if
    that is the target's (the fuzz targets key their machines before any agent starts)."""
    info = driver.info
    if info is not None:
        return info.implementation, tuple(info.version)
    if driver.target.python == sys.executable:
        return sys.implementation.name, tuple(sys.version_info[:3])
    raise ValueError(f"the database key of {driver.target.python} needs its driver loaded first")


# -- the script ----------------------------------------------------------------------------


def run_data(config: RunConfig) -> dict[str, Any]:
    """Everything a replay of this run's draws needs, as literals."""
    return {
        "format": FORMAT,
        "sockcheck": str(Path(checker.__file__).resolve().parent.parent),
        "target": target_options(config.driver.target),
        "deadline": config.driver.deadline,
        "options": replay_options(config),
    }


def write_script(folder: Path, run: dict[str, Any], failure: Found, command: str) -> Path:
    """Write a failure's replay script into `folder`; its name is made from what it holds,
    so two failures never share one (the same failure found again writes the same file)."""
    data = {**run, "failure": {"what": what(failure), "draws": draws(failure)}}
    text = _SCRIPT.format(header=_header(run, failure, command), data=_literal(data))
    digest = hashlib.sha256(_literal(data).encode()).hexdigest()[:10]
    options = run["options"]
    name = f"{what(failure)}-{options['kind']}-{options['transport']}-{digest}.py"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    path.write_text(text)
    return path


def _header(run: dict[str, Any], failure: Found, command: str) -> str:
    """The failure as the report prints it, with what it was found on, as comments."""
    from checker.results import failure_lines

    target, options = run["target"], run["options"]
    where = target["path"] if target["source"] != "stdlib" else "the interpreter's own socketserver"
    lines = [
        f"failure:   {what(failure)}",
        f"target:    {target['label']} ({where}), run by {target['python']}",
        f"kind:      {options['kind']}, transport {options['transport']}, profile {options['profile']}"
        + (", misuse mode" if options.get("misuse") else ""),
        f"found by:  {command}",
        "",
        *failure_lines(failure),
    ]
    return "\n".join(("# " + line).rstrip() for line in lines)


def _literal(data: dict[str, Any]) -> str:
    """A Python literal of plain data, one a reader can scan (and ast.literal_eval read)."""
    return pprint.pformat(data, width=100, sort_dicts=False)


def read_script(path: Path) -> dict[str, Any]:
    """A replay script's REPLAY literal, read without running the file."""
    try:
        tree = ast.parse(path.read_text(), str(path))
    except FileNotFoundError:
        raise NotAReplay(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError) as exc:
        raise NotAReplay(f"{path}: not a sockcheck replay script ({exc})") from None
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["REPLAY"]:
            try:
                data = ast.literal_eval(node.value)
            except ValueError:
                break
            if isinstance(data, dict) and data.get("format") == FORMAT and set(data) >= _KEYS:
                return data
            break
    raise NotAReplay(f"{path}: not a sockcheck replay script (no REPLAY of format {FORMAT})")


@attrs.frozen
class ReplayResult:
    """The replays of one script: the failure it holds, how often it came back, the first
    failure seen (the same or another), for the report."""

    what: str
    reproduced: int
    times: int
    first: Found | None  # the first replay's failure, if any
    other: str | None  # another failure a replay ended with, if any


def replay_times(data: dict[str, Any], times: int) -> ReplayResult:
    """Replay a script's failure `times` times against its target, each on a fresh machine."""
    from checker.driver import CannotRun

    try:
        wanted, choices = data["failure"]["what"], list(data["failure"]["draws"])
        target, deadline, options = target_of(data["target"]), float(data["deadline"]), data["options"]
    except (KeyError, TypeError, ValueError) as exc:
        raise NotAReplay(f"a replay script without {exc}") from None
    if target.source == "file" and not Path(str(target.path)).is_file():
        raise CannotRun(f"the module replayed against is gone: {target.path}")
    driver = Driver(target, deadline)
    try:
        driver.load()
        config = run_config(options, driver)
        if config.jitter:
            driver.jitter(config.jitter)
        machine = machine_for(config)
        reproduced, first, other = 0, None, None
        for _ in range(times):
            found = replay(machine, choices)
            driver.stop()
            if found is not None and what(found) == wanted:
                reproduced += 1
                first = first or found
            elif found is not None:
                other = other or what(found)
    finally:
        driver.quit()
    return ReplayResult(wanted, reproduced, times, first, other)


def outcome_lines(outcome: ReplayResult) -> list[str]:
    """The replays in words: the failure as the report shows it, then how often it came back."""
    from checker.results import failure_lines

    lines = [*failure_lines(outcome.first), ""] if outcome.first is not None else []
    guarantee = GUARANTEES.get(outcome.what)
    about = f"{outcome.what}: {guarantee.statement}" if guarantee is not None else outcome.what
    if outcome.reproduced == 0:
        lines.append(f"did not reproduce (0 of {outcome.times}): {about}")
    else:
        lines.append(f"reproduced {outcome.reproduced} of {outcome.times}: {about}")
    if outcome.other is not None:
        lines.append(f"note: a replay ended with another failure: {outcome.other}")
    return lines


def script_main(data: dict[str, Any], argv: list[str]) -> int:
    """What a replay script's main() runs: 1 if the failure came back, 0 if not, 2 if it
    could not be replayed."""
    from checker.driver import CannotRun

    times = 1
    if argv[:1] == ["--times"] and len(argv) == 2 and argv[1].isdigit() and int(argv[1]) > 0:
        times = int(argv[1])
    elif argv:
        print("usage: python SCRIPT [--times N]", file=sys.stderr)
        return 2
    try:
        outcome = replay_times(data, times)
    except (NotAReplay, CannotRun) as exc:
        print(f"sockcheck replay: {exc}", file=sys.stderr)
        return 2
    for line in outcome_lines(outcome):
        print(line)
    return 1 if outcome.reproduced else 0


_SCRIPT = '''\
#!/usr/bin/env python3
"""A sockcheck counterexample, replayed: run `python THIS_FILE [--times N]`, or
`sockcheck replay THIS_FILE --times N`. Exit status 1: it reproduced; 0: it did not;
2: it could not be replayed (sockcheck not importable, the target gone).

The draws below are the machine's own (one per step); they are replayed on a fresh
checker.machine.RefinementMachine against the same target, without Hypothesis's engine.
"""

{header}

import sys

REPLAY = {data}


def main():
    try:
        from checker import replay
    except ImportError:
        sys.path.insert(0, REPLAY["sockcheck"])  # the sockcheck that wrote this script
        try:
            from checker import replay
        except ImportError as exc:
            print("sockcheck replay: cannot import sockcheck's checker package (%s)" % exc, file=sys.stderr)
            return 2
    return replay.script_main(REPLAY, sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
'''
