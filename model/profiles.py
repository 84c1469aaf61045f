"""Semantic profiles: the documented contract, and CPython as built, as a few named switches.

The documented contract is silent or ambiguous in places, and CPython lines differ in exactly
those places. A profile fixes each such choice; every switch names the CPython behaviour it
stands for, so a profile reads as a list of differences from `documented`.
"""

from __future__ import annotations

import enum

import attrs


class ThreadClose(enum.Enum):
    """Which handler threads ThreadingMixIn.server_close() waits for."""

    # Every non-daemon thread still running, if block_on_close is true when close is called.
    # What the documentation says ("server_close() waits until all non-daemonic threads
    # complete, except if block_on_close is false").
    AT_CLOSE = "block_on_close read at close"
    # 3.6.6+, 3.7, 3.8.0-3.8.8, 3.9.0-3.9.2 (bpo-33540 and its follow-up): a non-daemon
    # thread is appended to `_threads` if block_on_close is true at its spawn, and the list is
    # never pruned (bpo-37193: finished threads stay referenced); server_close() joins the
    # list if block_on_close is true at close, and only then drops it.
    AT_SPAWN_AND_CLOSE = "block_on_close read at spawn and at close, list never pruned"
    # 3.8.9+, 3.9.3+, 3.10-3.13 (bpo-37193's rewrite): the first spawn that sees
    # block_on_close true creates a per-instance `_threads` list; from then on every
    # non-daemon thread is appended whatever block_on_close says, and server_close() joins
    # everything in the list without reading block_on_close at all.
    LATCHED_AT_SPAWN = "block_on_close read at spawn, latched"
    # 2.7 (and 3.0-3.6.5): ThreadingMixIn has no server_close() of its own, so closing joins
    # no thread and the server keeps no reference to any (bpo-31233 was fixed in 3.7 only).
    NEVER = "no server_close() override: joins nothing"


class ForkClose(enum.Enum):
    """Which children ForkingMixIn.server_close() waits for."""

    # collect_children(blocking=self.block_on_close): read at close; a non-blocking close
    # still reaps the children that have already exited (bpo-31151, bpo-33540).
    AT_CLOSE = "block_on_close read at close"
    # 2.7 (and 3.0-3.6.5): ForkingMixIn has no server_close() of its own, so closing neither
    # waits for a child nor reaps one that has exited (bpo-31151 was fixed in 3.7 only).
    NEVER = "no server_close() override: neither waits nor reaps"


@attrs.frozen
class Profile:
    name: str
    summary: str
    thread_close: ThreadClose
    fork_close: ForkClose
    # The mix-ins read the public block_on_close (3.7+). 3.6.6+ reads a private
    # `_block_on_close`, False, so there setting block_on_close changes nothing and
    # server_close() waits for no thread and no child (bpo-31151 and bpo-31233 were fixed in
    # 3.7 only; 3.6 got the code behind the private switch, off).
    public_block_on_close: bool
    # The module provides ForkingUnixStreamServer and ForkingUnixDatagramServer (gh-103673,
    # 3.12); before, a user composes them from ForkingMixIn and the Unix server.
    forking_unix_classes: bool
    # CPython's child keeps its copy of the listening socket (since 2011), so a closed
    # forking server still completes TCP handshakes while a child lives (reference §2.13).
    child_keeps_listener: bool
    # As-built profiles say exactly when a child is reaped; `documented` also allows a
    # server that reaps finished children sooner.
    exact_reaping: bool
    # CPython's server_close() runs collect_children()'s cap loop, so at max_children it
    # blocks until a child exits even with block_on_close false (reference §4.2).
    cap_blocks_close: bool
    # CPython 3.7+: process_request() appends the thread to _threads before t.start(), so a
    # thread that fails to start stays tracked until the next spawn prunes it, and a
    # server_close() meanwhile raises RuntimeError("cannot join thread before it is started")
    # after joining only the threads tracked before it.
    unstarted_thread_tracked: bool
    # 3.6+: a handler's SystemExit (any BaseException) never reaches handle_error (bpo-23430).
    # 2.7's bare `except:` sends it there, once, in its worker (a child still exits 1).
    systemexit_reaches_handle_error: bool = False
    # 3.6+ (bpo-23430): handle_error() prints its banner lines to stderr, beside the
    # traceback. 2.7 prints them with `print`, to stdout, so a server's log splits in two.
    error_banner_on_stdout: bool = False
    # 3.3+ (bpo-11109): serve_forever() calls service_actions() each turn, where ForkingMixIn
    # reaps and waits at max_children; process_request() does not collect children. 2.7: no
    # service_actions(), so an idle loop never reaps and never waits at the cap; instead
    # process_request() calls collect_children() before each fork, so handle_request() and
    # the loop, having accepted a connection, wait there while max_children children run.
    service_actions: bool = True
    # Misuse (server_close() under a running loop): 2.7's select.select([self]) asks fileno()
    # of the closed socket each turn, so serve_forever() raises EBADF and stops (reference
    # §4.2); 3.x's selector reports the dead descriptor readable and the loop spins.
    loop_dies_on_closed_socket: bool = False


DOCUMENTED = Profile(
    name="documented",
    summary="The contract as the socketserver documentation states it; impl/ refines it.",
    thread_close=ThreadClose.AT_CLOSE,
    fork_close=ForkClose.AT_CLOSE,
    public_block_on_close=True,
    forking_unix_classes=True,
    child_keeps_listener=False,
    exact_reaping=False,
    cap_blocks_close=False,
    unstarted_thread_tracked=False,
)

CPYTHON_3_8 = Profile(
    name="cpython-3.8",
    summary="CPython 3.8.9+, 3.9.3+, 3.10 and 3.11, as built.",
    thread_close=ThreadClose.LATCHED_AT_SPAWN,
    fork_close=ForkClose.AT_CLOSE,
    public_block_on_close=True,
    forking_unix_classes=False,
    child_keeps_listener=True,
    exact_reaping=True,
    cap_blocks_close=True,
    unstarted_thread_tracked=True,
)

CPYTHON_3_12 = attrs.evolve(
    CPYTHON_3_8,
    name="cpython-3.12",
    summary="CPython 3.12 and 3.13, as built: cpython-3.8 with the forking Unix servers public.",
    forking_unix_classes=True,
)

CPYTHON_3_7 = attrs.evolve(
    CPYTHON_3_8,
    name="cpython-3.7",
    summary="CPython 3.7, 3.8.0 to 3.8.8, 3.9.0 to 3.9.2, as built: finished threads retained.",
    thread_close=ThreadClose.AT_SPAWN_AND_CLOSE,
)

CPYTHON_3_6 = attrs.evolve(
    CPYTHON_3_7,
    name="cpython-3.6",
    summary="CPython 3.6.6 and later 3.6, as built: server_close() waits for nothing.",
    public_block_on_close=False,
)

CPYTHON_2_7 = Profile(
    name="cpython-2.7",
    summary="CPython 2.7.16 to 2.7.18, as built: no server_close() in the mix-ins, no service_actions().",
    thread_close=ThreadClose.NEVER,
    fork_close=ForkClose.NEVER,
    public_block_on_close=False,  # 2.7 has no block_on_close at all: setting it does nothing
    forking_unix_classes=False,
    child_keeps_listener=True,
    exact_reaping=True,
    cap_blocks_close=False,  # no collect_children() at close, so no cap loop there either
    unstarted_thread_tracked=False,  # nothing is tracked
    systemexit_reaches_handle_error=True,
    error_banner_on_stdout=True,
    service_actions=False,
    loop_dies_on_closed_socket=True,
)

PROFILES: dict[str, Profile] = {
    p.name: p for p in (DOCUMENTED, CPYTHON_2_7, CPYTHON_3_6, CPYTHON_3_7, CPYTHON_3_8, CPYTHON_3_12)
}

# The first version of each line a profile models, newest first. Before 3.6.6 the 3.6 line
# has no _block_on_close and ForkingMixIn no server_close(); 3.14 is not modelled yet (its
# source was not inspected: reference notes, section 6). 2.7 from 2.7.16: the bpo-35017
# re-check of the shutdown flag after select() (2.7.8+ has bpo-21491's collect_children,
# the rest of what cpython-2.7 models; 2.7.8 to 2.7.15 would differ only by bpo-35017).
_LINES: tuple[tuple[tuple[int, int, int], tuple[int, int, int], Profile], ...] = (
    ((3, 12, 0), (3, 14, 0), CPYTHON_3_12),
    ((3, 9, 3), (3, 12, 0), CPYTHON_3_8),
    ((3, 9, 0), (3, 9, 3), CPYTHON_3_7),
    ((3, 8, 9), (3, 9, 0), CPYTHON_3_8),
    ((3, 7, 0), (3, 8, 9), CPYTHON_3_7),
    ((3, 6, 6), (3, 7, 0), CPYTHON_3_6),
    ((2, 7, 16), (2, 8, 0), CPYTHON_2_7),
)


def profile_for_version(version: tuple[int, int, int]) -> Profile | None:
    """The as-built profile of a CPython version, or None where none is modelled yet."""
    for first, beyond, profile in _LINES:
        if first <= version < beyond:
            return profile
    return None
