"""The steps of a counterexample in words: each event says what it did to the server."""

from __future__ import annotations

import pytest

from checker.report import event_text
from model import (
    DOCUMENTED,
    Close,
    Connect,
    Event,
    HangUp,
    Kind,
    Outcome,
    Release,
    Serve,
    SetAttr,
    Shutdown,
    State,
    TimeOut,
    Timeout,
    step,
)


def after(*events: Event) -> State:
    state = State.initial(Kind.FORK)
    for event in events:
        state = step(DOCUMENTED, state, event)
    return state


@pytest.mark.parametrize(
    ("before", "event", "text"),
    [
        ((), Connect(), "connect()                    # handle_request() spawns w0"),
        ((Serve(),), Connect(), "connect()                    # serve_forever() spawns w0"),
        (
            (),
            Connect(hangs_up=True),
            "connect(hangs up)            # handle_request() spawns w0, its client already gone",
        ),
        ((), Connect(rejected=True), "connect(rejected)            # verify_request() says no to w0"),
        ((), Connect(fails=True), "connect(spawn fails)         # process_request() cannot start w0"),
        (
            (SetAttr("max_children", 1), Connect(), Serve()),
            Connect(hangs_up=True),
            "connect(hangs up)            # w1 waits in the backlog, reset",
        ),
        ((Connect(),), HangUp(0), "hang_up(w0)                  # its client resets the connection"),
        ((Connect(),), Release(0, Outcome.RAISE), "release(w0, raise)           # its handler raises"),
        ((Close(),), Connect(), "connect()                    # to the closed server"),
        ((), TimeOut(), "server.handle_request()      # nothing to accept: it times out"),
        (
            (),
            TimeOut(socket_timeout=Timeout.LONG),  # the smaller of the two: server.timeout's 5 ms
            "server.socket.settimeout(3600.0); server.handle_request() # nothing to accept: it times out",
        ),
        (
            (),
            TimeOut(Timeout.NONE, Timeout.LONG),
            "server.timeout = None; server.socket.settimeout(3600.0); server.handle_request()"
            " # nothing to accept: it waits for a connection",
        ),
        ((), SetAttr("timeout", Timeout.LONG), "server.timeout = 3600.0      # never passes within a run"),
        ((Serve(),), Shutdown(), "server.shutdown()"),
        (
            (),
            Serve(Timeout.NONE),
            "server.serve_forever(poll_interval=None) # its select() waits for a connection",
        ),
        (
            (Serve(Timeout.NONE),),
            Shutdown(),
            "server.shutdown()            # it waits: nothing wakes the loop but a connection",
        ),
        (
            (Serve(Timeout.NONE), Shutdown()),
            Connect(),
            "connect()                    # wakes the loop, which stops: w0 waits in the backlog",
        ),
        ((), SetAttr("block_on_close", False), "server.block_on_close = False"),
    ],
)
def test_event_text_says_what_the_step_did(before: tuple[Event, ...], event: Event, text: str) -> None:
    assert event_text(event, after(*before)) == text


def test_the_short_timeout_is_the_one_the_agent_starts_its_servers_with() -> None:
    """Steps print TIMEOUT_SECONDS; the agent's servers start at agent.TIMEOUT (the model's
    initial server.timeout is SHORT): the two must be the same seconds."""
    from checker import agent
    from checker.driver import TIMEOUT_SECONDS

    assert TIMEOUT_SECONDS[Timeout.SHORT] == agent.TIMEOUT
