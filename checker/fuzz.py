"""Fuzz targets: the refinement checks as Hypothesis tests that HypoFuzz can run for hours.

HypoFuzz (`hypothesis fuzz`, the extra `sockcheck[fuzz]`) collects its targets with pytest:
every `@given` test, and every `RuleBasedStateMachine.TestCase`, that asks for no fixture.
`fuzz_target(target, kind)` is such a TestCase: the refinement machine of `sockcheck check`
(checker.machine), bound to a driver of `impl` or of the running interpreter's stdlib, and
keyed in Hypothesis's example database exactly as `sockcheck check` keys the same check
(checker.replay.keyed_machine). So a failure a campaign saves in the database is the first
example `sockcheck check --db` tries for the same target, which then reports it the usual way:
minimal steps, confirmed, with a replay script. tests/fuzz/test_fuzz_targets.py makes the
four targets (impl and stdlib, thread and fork); under plain pytest each runs a few examples.

SOCKCHECK_FUZZ_MODULE names a socketserver.py to check in place of the stdlib's (`sockcheck
check --module`): how a campaign is pointed at a patch. SOCKCHECK_DEADLINE sets the liveness
deadline, as for `sockcheck check`; else it is the default scaled by the machine's speed.
"""

from __future__ import annotations

import atexit
import functools
import os
import sys
import unittest

from hypothesis import HealthCheck, settings

from checker import speed
from checker.driver import Driver
from checker.machine import RefinementMachine, RunConfig
from checker.replay import keyed_machine
from checker.run import STEPS_PER_EXAMPLE
from checker.targets import resolve
from model import DOCUMENTED, Kind, Profile, profile_for_version

MODULE_VARIABLE = "SOCKCHECK_FUZZ_MODULE"
# Examples per target under plain pytest (HypoFuzz does not stop at max_examples).
EXAMPLES = 8
# The machine keeps the verdict of every prefix of draws it ran (RunConfig.verdicts) so that
# a racy target answers Hypothesis's replays as it first did. A campaign runs millions of
# examples in one process; past this many prefixes the memory is let go and started afresh.
MEMO_LIMIT = 200_000
DEFAULT_DEADLINE = 1.0  # seconds on an idle machine, as checker.cli's


def fuzz_target(target: str, kind: Kind, module: str | None = None) -> type[unittest.TestCase]:
    """A TestCase running the refinement check of `target` ("impl" or "stdlib"; `module`, or
    else SOCKCHECK_FUZZ_MODULE, replaces the stdlib's socketserver) for `kind` servers."""
    machine = fuzz_machine(target, kind, module)
    driver = machine.config.driver

    class FuzzTarget(machine.TestCase):  # type: ignore[name-defined,misc]
        settings = fuzz_settings()

        def tearDown(self) -> None:  # pytest runs this; HypoFuzz's process simply ends
            driver.quit()

    return FuzzTarget


def fuzz_machine(target: str, kind: Kind, module: str | None = None) -> type[RefinementMachine]:
    """The check's machine, keyed as `sockcheck check` keys the same target and options. No
    agent starts until its first example."""
    module = module if module is not None else os.environ.get(MODULE_VARIABLE) or None
    resolved = resolve(target, module if target == "stdlib" else None)
    config = RunConfig(
        driver=Driver(resolved, deadline()),
        profile=profile_of(resolved.source),
        kind=kind,
        on_example=_bounded,
    )
    # A campaign's worker ends by Ctrl-C or a signal, never by tearDown(): its agent, the
    # agent's children and temporary folder go with it.
    atexit.register(config.driver.quit)
    machine = keyed_machine(config)
    machine._hypothesis_internal_use_seed = 0  # plain pytest runs the same examples every time
    return machine


def fuzz_settings() -> settings:
    """The settings `sockcheck check` runs its machine with, where they change what a draw means
    (the steps per example) or what counts as a failure (no deadline, no health check: a
    step waits on real servers). The database is left as Hypothesis's default
    (settings().database), the one HypoFuzz keeps every target's examples in, so a plain
    pytest run replays first what a campaign found."""
    return settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS_PER_EXAMPLE,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )


def profile_of(source: str) -> Profile:
    """`--profile auto` for a target in the running interpreter: documented for impl, else
    the profile of the interpreter's version line."""
    if source == "package":
        return DOCUMENTED
    profile = profile_for_version(tuple(sys.version_info[:3]))
    if profile is None:
        raise RuntimeError(f"no profile models Python {sys.version.split()[0]} yet")
    return profile


@functools.cache  # measured once a process, as a check measures once a run
def deadline() -> float:
    """SOCKCHECK_DEADLINE, else the default scaled by the machine's speed (checker.speed)."""
    raw = os.environ.get("SOCKCHECK_DEADLINE")
    return float(raw) if raw else DEFAULT_DEADLINE * speed.measure().factor


def _bounded(config: RunConfig) -> None:
    """As each example starts: drop the memo of verdicts once it is too big (see MEMO_LIMIT).
    A replay of an example from before may then meet a racy target anew, as a fresh run does."""
    if len(config.verdicts) > MEMO_LIMIT:
        config.verdicts.clear()
        config.unraised.clear()
