"""The refinement machine: every real step must be one the model allows.

Each rule is one model event. The rule asks the model for the next state first (the
model's preconditions are the rules' preconditions), performs the event on the real
server through the driver, then checks the observation against the state the model moved
to. A broken guarantee raises a `Counterexample` whose class is the guarantee's own, so
Hypothesis shrinks each broken guarantee separately and never trades one for another.

The same trace is followed by a shadow copy of the `documented` model; where the target's
profile is not `documented`, the first divergence is recorded (not shrunk) for the report.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from checker.driver import Driver, TargetFailure
from model import (
    ATTRIBUTES,
    DOCUMENTED,
    Close,
    Connect,
    Event,
    Guarantee,
    Kind,
    Observation,
    Outcome,
    Phase,
    Profile,
    Release,
    SetAttr,
    State,
    StepView,
    Violation,
    allowed,
    check,
    step,
)

MAX_HELD = 4  # held workers at once: enough for every guarantee here, small enough to shrink
# Connection attempts after close, per example. Where a child still holds the listening
# socket, each accepted attempt stays in its accept queue (request_queue_size=5 by default);
# fewer than that keeps every answer a prompt accept or refusal.
MAX_PROBES = 3


@attrs.frozen
class Step:
    event: Event
    before: State
    after: State
    obs: Observation


@attrs.frozen
class Divergence:
    """Where a run stopped refining `documented` (informative; not a failure)."""

    violations: tuple[Violation, ...]
    steps: tuple[Step, ...]


class Counterexample(Exception):
    """A guarantee broken at the last of `steps`. Subclassed once per guarantee."""

    guarantee: Guarantee

    def __init__(self, violations: list[Violation], steps: list[Step]) -> None:
        super().__init__(f"{violations[0].guarantee.name}: {violations[0].details[0]}")
        self.violations = tuple(violations)
        self.steps = tuple(steps)


class TargetLeftovers(Exception):
    """An example ended with workers or calls that would not end."""

    def __init__(self, leftovers: list[str], steps: list[Step]) -> None:
        super().__init__("; ".join(leftovers))
        self.leftovers = leftovers
        self.steps = tuple(steps)


class TargetBroke(Exception):
    """The target hung or crashed during the last of `steps` (an event the model allowed)."""

    def __init__(self, failure: TargetFailure, steps: list[Step], event: Event) -> None:
        super().__init__(str(failure))
        self.steps = tuple(steps)
        self.event = event


_COUNTEREXAMPLES: dict[str, type[Counterexample]] = {}


def counterexample_class(guarantee: Guarantee) -> type[Counterexample]:
    cls = _COUNTEREXAMPLES.get(guarantee.name)
    if cls is None:
        name = "Violated_" + guarantee.name.replace("-", "_")
        cls = type(name, (Counterexample,), {"guarantee": guarantee})
        _COUNTEREXAMPLES[guarantee.name] = cls
    return cls


@attrs.define
class RunConfig:
    driver: Driver
    profile: Profile
    kind: Kind
    examples_run: int = 0
    steps_run: int = 0
    divergence: Divergence | None = None
    on_example: Callable[[RunConfig], None] | None = None


class RefinementMachine(RuleBasedStateMachine):
    config: RunConfig  # set on the subclass that machine_for() makes

    def __init__(self) -> None:
        super().__init__()
        config = self.config
        self.driver = config.driver
        self.profile = config.profile
        self.state = State.initial(config.kind)
        self.shadow: State | None = None if self.profile == DOCUMENTED else self.state
        self.steps: list[Step] = []
        self.probes = 0
        config.examples_run += 1
        if config.on_example is not None:
            config.on_example(config)
        self.driver.start(config.kind.value)

    # -- rules ----------------------------------------------------------------------------

    @precondition(lambda self: self.state.server.phase is Phase.OPEN and len(self.state.held) < MAX_HELD)
    @rule()
    def connect(self) -> None:
        self._do(Connect(), lambda after: self.driver.connect())

    @precondition(lambda self: self.state.server.phase is Phase.CLOSED and self.probes < MAX_PROBES)
    @rule()
    def connect_after_close(self) -> None:
        self.probes += 1
        self._do(Connect(), lambda after: self.driver.probe())

    @precondition(lambda self: bool(self.state.held))
    @rule(data=st.data(), outcome=st.sampled_from(Outcome))
    def release(self, data: st.DataObject, outcome: Outcome) -> None:
        wid = data.draw(st.sampled_from([w.wid for w in self.state.held]), label="worker")
        self._do(
            Release(wid, outcome),
            lambda after: self.driver.release(wid, outcome, _close_must_return(after)),
        )

    @rule(name=st.sampled_from(ATTRIBUTES), value=st.booleans())
    def set_attribute(self, name: str, value: bool) -> None:
        self._do(SetAttr(name, value), lambda after: self.driver.set_attr(name, value))

    @precondition(lambda self: self.state.server.phase is not Phase.CLOSING)
    @rule()
    def server_close(self) -> None:
        self._do(Close(), lambda after: self.driver.close(_close_must_return(after)))

    def teardown(self) -> None:
        leftovers = self.driver.stop()
        if leftovers:
            raise TargetLeftovers(leftovers, self.steps)

    # -- one step -------------------------------------------------------------------------

    def _do(self, event: Event, act: Callable[[State], Observation]) -> None:
        before = self.state
        assert allowed(before, event), event
        after = step(self.profile, before, event)
        try:
            obs = act(after)
        except TargetFailure as failure:
            raise TargetBroke(failure, self.steps, event) from None
        self.state = after
        self.steps.append(Step(event, before, after, obs))
        self.config.steps_run += 1
        self._follow_documented(event, obs)
        violations = check(StepView(self.profile, before, event, after, obs))
        if violations:
            raise counterexample_class(violations[0].guarantee)(violations, self.steps)

    def _follow_documented(self, event: Event, obs: Observation) -> None:
        if self.shadow is None:
            return
        before = self.shadow
        after = step(DOCUMENTED, before, event)
        self.shadow = after
        violations = check(StepView(DOCUMENTED, before, event, after, obs))
        if violations:
            self.shadow = None  # past a divergence the shadow no longer tracks the target
            if self.config.divergence is None or len(self.steps) < len(self.config.divergence.steps):
                self.config.divergence = Divergence(tuple(violations), tuple(self.steps))


def _close_must_return(after: State) -> bool:
    return after.server.phase is not Phase.CLOSING


def machine_for(config: RunConfig) -> type[RefinementMachine]:
    """A machine class bound to one run's driver, profile and kind."""
    return type("RefinementMachine", (RefinementMachine,), {"config": config})
