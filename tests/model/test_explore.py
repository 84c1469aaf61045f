"""The explorer: the model, walked whole within small bounds, keeps every guarantee; and the
explorer itself sees a broken table, a deadlock, a state that cannot close, and is not fooled
by its own symmetry reduction."""

from __future__ import annotations

import attrs
import pytest

from model import DOCUMENTED, PROFILES, TRANSITIONS, Call, Close, Kind, Phase, Transport
from model import explore as explorer
from model.explore import Bounds, explore, structure

SMALL = Bounds(workers=1, steps=8)


@pytest.mark.parametrize("kind", list(Kind), ids=lambda k: k.value)
@pytest.mark.parametrize("name", list(PROFILES))
def test_every_profile_keeps_every_guarantee_on_every_reachable_step(name: str, kind: Kind) -> None:
    found = explore(PROFILES[name], kind, Transport.TCP, SMALL)
    assert found.violations == {} and found.deadlocks == ()
    assert found.states > 100 and found.transitions > found.states  # it went somewhere


@pytest.mark.parametrize("transport", [Transport.UDP, Transport.UNIX_DATAGRAM], ids=lambda t: t.value)
def test_datagram_servers_have_no_hang_ups(transport: Transport) -> None:
    found = explore(DOCUMENTED, Kind.THREAD, transport, SMALL)
    assert found.ok or not found.complete
    assert not any("hangs up" in e.event for e in found.edges)


def test_a_complete_exploration_finds_no_state_that_cannot_close() -> None:
    found = explore(DOCUMENTED, Kind.FORK, Transport.TCP, Bounds(workers=1))
    assert found.complete and found.ok, (found.stuck, found.deadlocks)


def test_the_table_has_a_cell_for_every_phase_and_event_type() -> None:
    assert structure() == []


def test_a_missing_cell_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    table = dict(TRANSITIONS)
    del table[(Phase.CLOSING, Close)]
    monkeypatch.setattr(explorer, "TRANSITIONS", table)
    assert structure() == ["no cell for Close in closing"]


def test_a_close_that_never_returns_is_a_state_that_cannot_close(monkeypatch: pytest.MonkeyPatch) -> None:
    real = explorer.step

    def never_closed(profile, state, event):  # type: ignore[no-untyped-def]
        after = real(profile, state, event)
        if after.server.phase is Phase.CLOSED:  # the close stays blocked instead
            return attrs.evolve(after, server=attrs.evolve(after.server, phase=Phase.CLOSING))
        return after

    monkeypatch.setattr(explorer, "step", never_closed)
    found = explore(DOCUMENTED, Kind.THREAD, Transport.TCP, Bounds(workers=1))
    assert found.stuck and all(w.what.startswith("closing") for w in found.stuck)


def test_a_state_with_nothing_allowed_is_a_deadlock(monkeypatch: pytest.MonkeyPatch) -> None:
    real = explorer.events

    def nothing_while_closing(profile, state, bounds):  # type: ignore[no-untyped-def]
        return iter(()) if state.server.phase is Phase.CLOSING else real(profile, state, bounds)

    monkeypatch.setattr(explorer, "events", nothing_while_closing)
    found = explore(DOCUMENTED, Kind.THREAD, Transport.TCP, SMALL)
    assert found.deadlocks and found.deadlocks[0].steps == ("connect", "server_close()")


def test_an_observation_the_model_contradicts_is_a_violation(monkeypatch: pytest.MonkeyPatch) -> None:
    real = explorer.ideal_obs

    def close_returns_at_once(profile, before, event, after):  # type: ignore[no-untyped-def]
        obs = real(profile, before, event, after)
        return attrs.evolve(obs, close=Call.RETURNED) if obs.close is Call.BLOCKED else obs

    monkeypatch.setattr(explorer, "ideal_obs", close_returns_at_once)
    found = explore(DOCUMENTED, Kind.THREAD, Transport.TCP, SMALL)
    assert found.violations["close-waits"].steps == ("connect", "server_close()")


@pytest.mark.parametrize("kind", list(Kind), ids=lambda k: k.value)
@pytest.mark.parametrize("name", ["documented", "cpython-3.8"])
def test_the_symmetry_reduction_loses_nothing(name: str, kind: Kind) -> None:
    """Within the same steps, the reduced search reaches the same transitions seen from afar
    and the same table cells as the search that keeps every state as the table makes it."""
    bounds = Bounds(workers=2, steps=4)
    reduced = explore(PROFILES[name], kind, Transport.TCP, bounds)
    whole = explore(PROFILES[name], kind, Transport.TCP, attrs.evolve(bounds, symmetry=False))
    assert reduced.edges == whole.edges and reduced.cells == whole.cells
    assert reduced.violations.keys() == whole.violations.keys()
    assert reduced.states < whole.states


def test_a_guarantee_is_at_stake_only_where_an_observation_could_break_it() -> None:
    from model import Connect, State, step
    from model.ideal import at_stake

    connected = step(DOCUMENTED, State.initial(Kind.THREAD), Connect())
    assert "close-waits" not in at_stake(DOCUMENTED, State.initial(Kind.THREAD), Connect(), connected)
    closing = step(DOCUMENTED, connected, Close())
    stake = at_stake(DOCUMENTED, connected, Close(), closing)
    assert "close-waits" in stake and "nothing-accepted-after-shutdown" not in stake
