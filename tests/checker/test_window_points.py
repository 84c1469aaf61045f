"""The agent's window points: jitter pauses at each, an armed window's call is made once."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from checker import agent
from checker.agent import Agent


def stand_in(jitter: float = 0.0, window: dict | None = None) -> SimpleNamespace:
    made: list[dict] = []
    events = SimpleNamespace(emit=lambda *args, **kw: None)
    return SimpleNamespace(
        jitter=jitter, rng=random.Random(1), window=window, events=events, made=made, _intrude=made.append
    )


def test_jitter_pauses_at_every_point_up_to_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(agent.time, "sleep", slept.append)
    fake = stand_in(jitter=0.002)
    for point in ("accepted", "selected", "finished"):
        Agent.at(fake, point, rid=0)
    assert len(slept) == 3 and all(0 <= s <= 0.002 for s in slept) and len(set(slept)) == 3


def test_no_jitter_no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agent.time, "sleep", lambda s: pytest.fail("slept"))
    Agent.at(stand_in(), "accepted", rid=0)


def test_an_armed_window_is_made_once_at_its_point_for_its_request() -> None:
    close = {"op": "close"}
    fake = stand_in(window={"point": "finished", "intruder": close, "rid": 1})
    Agent.at(fake, "accepted", rid=1)  # another point
    Agent.at(fake, "finished", rid=0)  # another worker's
    assert fake.made == [] and fake.window is not None
    Agent.at(fake, "finished", rid=1)
    Agent.at(fake, "finished", rid=1)
    assert fake.made == [close] and fake.window is None
