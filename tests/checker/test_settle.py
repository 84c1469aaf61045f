"""How the agent judges a call blocked: by the C call its thread is inside.

A C call can call back into Python and so into other C calls (2.7's select.select() asks the
server's fileno(), which the agent instruments with an os.write()); their return must leave
the outer call pending, or a loop resting in select() never looks blocked and every settle
of it waits out the deadline.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace

from checker.agent import Agent, Call


def _call() -> Call:
    return Call("serve_forever", lambda: None, events=None, watch=True, start=False)


def test_a_c_call_returning_inside_another_leaves_the_outer_one_pending() -> None:
    call = _call()
    frame = None
    call._profile(frame, "c_call", select.select)
    outer = call.pending
    call._profile(frame, "call", None)  # fileno(), in Python
    call._profile(frame, "c_call", os.write)
    assert call.pending != outer
    call._profile(frame, "c_return", os.write)
    call._profile(frame, "return", None)
    assert call.pending == outer  # still inside select.select()
    call._profile(frame, "c_return", select.select)
    assert call.pending is None


def test_a_c_call_that_raises_ends_like_one_that_returns() -> None:
    call = _call()
    call._profile(None, "c_call", select.select)
    outer = call.pending
    call._profile(None, "c_call", os.write)
    call._profile(None, "c_exception", os.write)
    assert call.pending == outer
    call._profile(None, "c_exception", select.select)
    assert call.pending is None


class _Events:
    def emit(self, name: str, **extra: object) -> None:
        pass


def _held_handler() -> tuple[threading.Thread, threading.Event]:
    word = threading.Event()
    handler = threading.Thread(target=word.wait, args=(60,), name="held handler")
    handler.start()
    return handler, word


def _agent_holding(*requests: SimpleNamespace) -> Agent:
    agent = Agent.__new__(Agent)  # only its requests are read
    agent.requests = list(requests)
    return agent


@contextlib.contextmanager
def _close_joining(word_sent: bool) -> Iterator[tuple[Agent, Call]]:
    """A server_close() joining a handler thread held for its word (or released: `word_sent`);
    at the end the word comes, the handler ends, and the close with it."""
    handler, word = _held_handler()
    agent = _agent_holding(SimpleNamespace(word_sent=word_sent, thread=handler))
    call = Call("server_close", handler.join, events=_Events(), watch=True)
    try:
        yield agent, call
    finally:
        word.set()
        handler.join(5)
        call.done.wait(5)


def test_a_close_joining_a_held_handler_is_blocked_at_once_not_at_the_deadline() -> None:
    with _close_joining(word_sent=False) as (agent, call):
        started = time.monotonic()
        call.settle(True, 20.0, agent._joins_a_held_thread)
        assert call.status() == "blocked"
        assert time.monotonic() - started < 5.0  # not the 20 s deadline
    assert call.status() == "returned"


def test_a_close_joining_a_released_handler_is_given_the_whole_deadline() -> None:
    # Released: its word is on its way, so it may end at any moment, and the join with it.
    with _close_joining(word_sent=True) as (agent, call):
        started = time.monotonic()
        call.settle(True, 0.3, agent._joins_a_held_thread)
        assert time.monotonic() - started >= 0.3
        assert call.status() == "blocked"


def test_only_the_join_of_a_held_thread_is_hopeless() -> None:
    handler, word = _held_handler()
    other = threading.Lock()
    try:
        agent = _agent_holding(
            SimpleNamespace(word_sent=False, thread=handler), SimpleNamespace(word_sent=False, thread=None)
        )
        joins = getattr(handler, "_handle", None) or handler._tstate_lock  # 3.13, else 3.7-3.12
        wait = joins.join if hasattr(joins, "join") else joins.acquire
        assert agent._joins_a_held_thread(wait)
        assert not agent._joins_a_held_thread(other.acquire)
        assert not agent._joins_a_held_thread(select.select)
        assert not agent._joins_a_held_thread(None)
    finally:
        word.set()
        handler.join(5)
    assert not agent._joins_a_held_thread(wait)  # it ended: nothing to wait for


def _held_child() -> tuple[int, int]:
    """A child that waits for a byte on a pipe (as a held forked handler waits for its word)."""
    word_in, word_out = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(word_out)
        os.read(word_in, 1)
        os._exit(0)
    os.close(word_in)
    return pid, word_out


def _agent_with_child(pid: int, word_sent: bool) -> Agent:
    agent = _agent_holding(SimpleNamespace(word_sent=word_sent, thread=None, pid=pid))
    agent.children = {pid}
    return agent


def test_a_dispatch_waiting_for_a_held_child_is_blocked_at_once_not_at_the_deadline() -> None:
    pid, word = _held_child()
    agent = _agent_with_child(pid, word_sent=False)
    call = Call("handle_request", lambda: os.waitpid(pid, 0), events=_Events(), watch=True)
    try:
        started = time.monotonic()
        call.settle(True, 20.0, agent._hopeless)
        assert call.status() == "blocked"
        assert time.monotonic() - started < 5.0  # not the 20 s deadline
    finally:
        os.write(word, b"x")
        os.close(word)
        call.done.wait(5)
    assert call.status() == "returned"  # it reaped the child


def test_only_a_wait_for_held_running_children_is_hopeless() -> None:
    pid, word = _held_child()
    try:
        assert _agent_with_child(pid, word_sent=False)._hopeless(os.waitpid)
        assert not _agent_with_child(pid, word_sent=True)._hopeless(os.waitpid)  # released: it may exit
        assert not _agent_with_child(pid, word_sent=False)._hopeless(select.select)
        os.write(word, b"x")
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
        assert not _agent_with_child(pid, word_sent=False)._hopeless(os.waitpid)  # it would return
    finally:
        os.close(word)  # a child still waiting reads EOF and exits
        os.waitpid(pid, 0)
    assert not _agent_with_child(pid, word_sent=False)._hopeless(os.waitpid)  # reaped: no child left
