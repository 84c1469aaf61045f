"""A stop that lands where Python cannot raise it is raised again, not lost.

Ctrl-C (or SIGTERM, made a KeyboardInterrupt) can arrive while a gc callback runs (Hypothesis
has one) or a __del__: Python prints it as "Exception ignored" and goes on, so the check goes
on too, to its end. Seen twice in fresh-clone suites: a `--jobs` worker went on after its
SIGTERM, and `sockcheck check` ran to exit 0 after a Ctrl-C.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import Any

Handler = Callable[[int, Any], Any]


def raise_lost_stops(again: Handler) -> None:
    """From now on, a KeyboardInterrupt Python could not raise is raised again a moment later,
    by `again` as a SIGALRM handler: a timer, because a signal sent from the hook would be
    handled at once, inside it, and lost the same way. Should that one land in such a place
    too, it is raised again in turn."""

    def hook(unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            signal.signal(signal.SIGALRM, again)
            signal.setitimer(signal.ITIMER_REAL, 0.01)
            return
        sys.__unraisablehook__(unraisable)

    sys.unraisablehook = hook
