"""How the agent judges a call blocked: by the C call its thread is inside.

A C call can call back into Python and so into other C calls (2.7's select.select() asks the
server's fileno(), which the agent instruments with an os.write()); their return must leave
the outer call pending, or a loop resting in select() never looks blocked and every settle
of it waits out the deadline.
"""

from __future__ import annotations

import os
import select

from checker.agent import Call


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
