"""What both mix-ins share: server_close() waits for a dispatch already under way.

A request accepted before server_close() must end up either spawned (and so waited for,
where the close waits) or shut down; CPython lets a dispatch that was between accept and
spawn when the close began start its thread or child after server_close() returned, which
nothing then joins or reaps (sockcheck's window "accepted").
"""

from __future__ import annotations

import threading


class DispatchTracking:
    """Counts the dispatches under way (accept to spawn), so that server_close() can wait."""

    def _dispatch_state(self) -> tuple[threading.Condition, set[int]]:
        """The threads inside a dispatch now, and the condition that says when one ends."""
        state = self.__dict__.get("_dispatching")
        if state is None:
            state = self.__dict__.setdefault("_dispatching", (threading.Condition(), set()))
        return state  # type: ignore[no-any-return]

    def _handle_request_noblock(self) -> None:
        condition, dispatching = self._dispatch_state()
        me = threading.get_ident()
        with condition:
            dispatching.add(me)
        try:
            super()._handle_request_noblock()  # type: ignore[misc]
        finally:
            with condition:
                dispatching.discard(me)
                condition.notify_all()

    def _wait_for_dispatches(self) -> None:
        """Wait until no other thread is between accept and spawn (a close made from inside a
        dispatch, say by verify_request(), does not wait for its own)."""
        condition, dispatching = self._dispatch_state()
        me = threading.get_ident()
        with condition:
            condition.wait_for(lambda: not dispatching - {me})
