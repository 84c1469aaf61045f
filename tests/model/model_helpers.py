"""Shared by the model tests: the profiles, event sequences, reachable states (the ideal
observations are the model's own: model.ideal)."""

from __future__ import annotations

import pytest
from hypothesis import strategies as st

from model import (
    ATTRIBUTES,
    DOCUMENTED,
    PROFILES,
    Close,
    Connect,
    Event,
    HangUp,
    Kind,
    Outcome,
    Profile,
    Release,
    Serve,
    SetAttr,
    Shutdown,
    State,
    TimeOut,
    Timeout,
    allowed,
    step,
)
from model.ideal import CLOSE_RETURN_SEQ, LOOP_STOPPED_SEQ, ideal_obs, ideal_view

CPYTHON_38 = PROFILES["cpython-3.8"]
ALL_PROFILES = tuple(PROFILES.values())

# The exact transition tests spell out both ends of the range: the documented contract and
# cpython-3.8 (the others are checked in test_profiles.py, and in every property test).
each_profile = pytest.mark.parametrize("profile", (DOCUMENTED, CPYTHON_38), ids=lambda p: p.name)
# The mix-in kinds: the tests written for them (the synchronous server has its own, below each).
each_kind = pytest.mark.parametrize("kind", [Kind.THREAD, Kind.FORK], ids=lambda k: k.value)


def run(profile: Profile, state: State, *events: Event) -> State:
    """Step through `events` in order; every one of them must be allowed."""
    for event in events:
        assert allowed(state, event), (state, event)
        state = step(profile, state, event)
    return state


def candidates(state: State) -> list[Event]:
    """Every event worth trying in `state`, allowed or not (one release past the last worker)."""
    events: list[Event] = [Connect(), Connect(rejected=True), Connect(fails=True), Connect(hangs_up=True)]
    events += [TimeOut(), Close(), Shutdown()] + [Serve(poll) for poll in Timeout]
    events += [
        TimeOut(t, own) for t in (None, *Timeout) for own in (None, *Timeout) if (t, own) != (None, None)
    ]
    events += [SetAttr(name, value) for name, values in ATTRIBUTES.items() for value in values]
    events += [Release(wid, outcome) for wid in range(len(state.workers) + 1) for outcome in Outcome]
    events += [HangUp(wid) for wid in range(len(state.workers) + 1)]
    events += [Close(by_handler=wid) for wid in range(len(state.workers) + 1)]
    return events


profiles = st.sampled_from(ALL_PROFILES)
kinds = st.sampled_from(list(Kind))


@st.composite
def traces(
    draw: st.DrawFn,
    max_steps: int = 16,
    profile: Profile | None = None,
    kind: Kind | None = None,
    low_cap: bool = False,
) -> tuple[Profile, list[tuple[State, Event, State]]]:
    """A profile and a run of allowed events from the initial state: (before, event, after) each.

    With `low_cap` the run starts by setting max_children to one of its modelled values and
    dispatching a few connections, so that a forking server reaches its cap within a few steps
    (at 40, no run ever does).
    """
    profile = draw(profiles) if profile is None else profile
    kind = draw(kinds) if kind is None else kind
    state = State.initial(kind)
    steps = []
    if low_cap:
        start = [SetAttr("max_children", draw(st.sampled_from(ATTRIBUTES["max_children"])))]
        start += [Connect()] * draw(st.integers(0, 3))
        for event in start:
            if not allowed(state, event):  # 2.7: handle_request() waits at the cap already
                break
            after = step(profile, state, event)
            steps.append((state, event, after))
            state = after
    for _ in range(draw(st.integers(0, max_steps))):
        # the kind of event first, then which one: the seven SetAttr candidates (and the releases
        # of a crowd of workers) would otherwise crowd out the events that move the server on
        by_type: dict[type, list[Event]] = {}
        for event in candidates(state):
            if allowed(state, event):
                by_type.setdefault(type(event), []).append(event)
        event = draw(st.sampled_from(by_type[draw(st.sampled_from(list(by_type)))]))
        after = step(profile, state, event)
        steps.append((state, event, after))
        state = after
    return profile, steps


__all__ = ["CLOSE_RETURN_SEQ", "LOOP_STOPPED_SEQ", "ideal_obs", "ideal_view"]
