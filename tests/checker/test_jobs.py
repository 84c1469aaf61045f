"""`sockcheck check --jobs`: how work is split and seeded, how shards' results merge, and that
a result crosses the pipe from a worker intact. No process is started here (test_jobs_cli.py
runs the command)."""

from __future__ import annotations

import hashlib
import pickle
import subprocess
import sys
from typing import Any

import attrs
import pytest

from checker.driver import TargetFailure
from checker.jobs import MERGED, Plan, dumps, merge, shard_count, shard_examples, shard_seed, units
from checker.machine import (
    Counterexample,
    Divergence,
    TargetBroke,
    TargetLeftovers,
    counterexample_class,
)
from checker.replay import Confirmation
from checker.run import FlakyTarget, KindResult, MissingClass, WorkerDied
from checker.targets import Target
from model import BY_NAME, DOCUMENTED, Kind, State, Transport, Violation
from model.explore import Edge

THREAD_TCP = State.initial(Kind.THREAD, Transport.TCP)


def counterexample(guarantee: str, steps: int) -> Counterexample:
    """A counterexample of `steps` steps; merging reads only their number (states stand in)."""
    broken = BY_NAME[guarantee]
    return counterexample_class(broken)([Violation(broken, ("seen",))], [THREAD_TCP] * steps)  # type: ignore[list-item]


def result(*failures: Any, confirmed: tuple[Any, ...] = (), **fields: Any) -> KindResult:
    values: dict[str, Any] = {
        "kind": Kind.THREAD,
        "transport": Transport.TCP,
        "server_class": "ThreadingTCPServer",
        "profile": DOCUMENTED,
        "examples": 50,
        "steps": 500,
        "seconds": 1.0,
        "failures": failures,
        "divergence": None,
        "confirmations": confirmed or (None,) * len(failures),
    }
    return KindResult(**{**values, **fields})


# --- the split -----------------------------------------------------------------------------


def test_units_are_in_the_serial_order() -> None:
    found = units([Kind.THREAD, Kind.FORK], [Transport.TCP, Transport.UDP])
    assert [(u.kind, u.transport) for u in found] == [
        (Kind.THREAD, Transport.TCP),
        (Kind.FORK, Transport.TCP),
        (Kind.THREAD, Transport.UDP),
        (Kind.FORK, Transport.UDP),
    ]


@pytest.mark.parametrize(
    ("count", "jobs", "examples", "shards"),
    [
        (8, 2, 100, 1),  # more units than jobs: each unit whole
        (2, 2, 100, 1),
        (1, 2, 100, 2),  # one unit, two jobs: two shards
        (2, 5, 100, 2),  # the jobs left over, evenly
        (1, 4, 3, 3),  # never more shards than examples
        (1, 1, 100, 1),
    ],
)
def test_shards_are_the_jobs_left_over(count: int, jobs: int, examples: int, shards: int) -> None:
    assert shard_count(count, jobs, examples) == shards


def test_examples_are_split_as_evenly_as_can_be() -> None:
    assert shard_examples(100, 2) == [50, 50]
    assert shard_examples(101, 2) == [51, 50]
    assert shard_examples(7, 3) == [3, 2, 2]
    assert shard_examples(100, 1) == [100]


def test_seeds_are_derived_as_documented() -> None:
    """Shard 0 has the run's seed; shard k a hash of it and k (checker.jobs' docstring)."""
    assert shard_seed(7, 0) == 7
    assert shard_seed(None, 0) is None and shard_seed(None, 3) is None  # random, as serial
    written = int.from_bytes(hashlib.sha256(b"sockcheck-shard:7:2").digest()[:8], "big")
    assert shard_seed(7, 2) == written
    assert shard_seed(0, 1) != shard_seed(1, 0)  # consecutive seeds do not share a shard


def test_a_plan_makes_whole_units_or_shards() -> None:
    target = Target(label="impl", python="python3", source="package", name="impl")
    common: dict[str, Any] = {"target": target, "deadline": 1.0, "profile": "documented", "seed": 5}
    every = units([Kind.THREAD, Kind.FORK], list(Transport))
    whole = Plan(units=every, jobs=2, examples=100, **common).searches()
    assert [(s.unit, s.shard, s.seed, s.examples, s.whole) for s in whole] == [
        (u, 0, 5, 100, True) for u in range(8)
    ]
    one = units([Kind.THREAD], [Transport.TCP])
    sharded = Plan(units=one, jobs=3, examples=100, **common).searches()
    assert [(s.shard, s.seed, s.examples, s.whole) for s in sharded] == [
        (0, 5, 34, False),
        (1, shard_seed(5, 1), 33, False),
        (2, shard_seed(5, 2), 33, False),
    ]


# --- the merge -------------------------------------------------------------------------------


def test_every_field_of_a_result_is_merged_on_purpose() -> None:
    """A field merge does not know would silently be one shard's value."""
    assert set(attrs.fields_dict(KindResult)) == MERGED


def test_merge_keeps_the_shortest_failure_of_each_kind_with_its_confirmation() -> None:
    long_close, short_close = counterexample("close-waits", 4), counterexample("close-waits", 2)
    daemon = counterexample("daemon-at-spawn", 3)
    one, three = Confirmation(1, 1), Confirmation(3, 3)
    first = result(daemon, long_close, confirmed=(None, one))
    second = result(short_close, FlakyTarget("seen once"), confirmed=(three, None))
    merged = merge([first, second])
    assert merged.failures == (short_close, daemon, merged.failures[2])  # shortest first, flaky last
    assert isinstance(merged.failures[2], FlakyTarget)
    assert merged.confirmations == (three, None, None)


def test_merge_keeps_the_first_shards_failure_where_two_are_as_short() -> None:
    a, b = counterexample("close-waits", 2), counterexample("close-waits", 2)
    assert merge([result(a), result(b)]).failures == (a,)


def test_merge_adds_the_coverage_pass_after_the_shards() -> None:
    edge = Edge("open", "connect", "open")
    other = Edge("open", "server_close", "closed")
    shards = [
        result(
            examples=50,
            steps=400,
            seconds=3.0,
            edges=frozenset({edge}),
            windows_opened={"accepted": 2},
            contradicted=1,
        ),
        result(
            examples=51,
            steps=420,
            seconds=5.0,
            edges=frozenset({edge}),
            windows_opened={"accepted": 1, "closing": 4},
            windows_missed={"turn": 1},
        ),
    ]
    after = result(examples=9, steps=30, seconds=2.0, edges=frozenset({edge, other}), found_after=0.5)
    merged = merge(shards, after)
    assert (merged.examples, merged.steps, merged.contradicted) == (110, 850, 1)
    assert merged.seconds == 7.0  # the shards ran at once, the pass after them
    assert merged.found_after == 5.5  # the pass's first failure, after the longest shard
    found_early = merge([attrs.evolve(shards[0], found_after=1.5), shards[1]], after)
    assert found_early.found_after == 1.5
    assert merged.edges == {edge, other}
    assert merged.windows_opened == {"accepted": 3, "closing": 4}
    assert merged.windows_missed == {"turn": 1}


def test_merge_keeps_the_shortest_divergence_and_the_failing_shards_replay() -> None:
    longer = Divergence((), (THREAD_TCP,) * 3)  # type: ignore[arg-type]
    shorter = Divergence((), (THREAD_TCP,))  # type: ignore[arg-type]
    found = counterexample("close-waits", 2)
    merged = merge(
        [
            result(divergence=longer, replay={"shard": 0}),
            result(found, divergence=shorter, replay={"shard": 1}),
        ]
    )
    assert merged.divergence is shorter
    assert merged.replay == {"shard": 1}


def test_a_shard_whose_worker_died_is_reported_beside_the_others() -> None:
    died = result(WorkerDied("it was killed by SIGKILL"), server_class="ForkingTCPServer", examples=0)
    merged = merge([died, result(with_block=False)])
    assert merged.server_class == "ThreadingTCPServer" and merged.with_block is False  # the live one's
    assert [type(f) for f in merged.failures] == [WorkerDied]


# --- across the pipe -------------------------------------------------------------------------


def test_every_kind_of_failure_crosses_the_pipe_intact() -> None:
    """Counterexample classes are made at run time, and the failures' __init__ do not take
    their args back: plain pickle can take neither."""
    close = counterexample("close-waits", 2)
    close.add_note("a note Hypothesis adds")
    died = TargetFailure("the agent died during connect")
    broke = TargetBroke(died, [THREAD_TCP], None, 7, THREAD_TCP)  # type: ignore[list-item]
    leftovers = TargetLeftovers(["w0 still running"], [THREAD_TCP])  # type: ignore[list-item]
    others = (FlakyTarget("seen once"), MissingClass("no ForkingUnixStreamServer"), WorkerDied("gone"))
    sent = result(close, broke, leftovers, *others, confirmed=(Confirmation(2, 2),) + (None,) * 5)
    back = pickle.loads(dumps(sent))
    assert attrs.evolve(back, failures=sent.failures) == sent  # exceptions compare by identity
    got = back.failures
    assert type(got[0]) is counterexample_class(BY_NAME["close-waits"])  # the very class
    assert got[0].guarantee is BY_NAME["close-waits"] and got[0].steps == close.steps
    assert got[0].__notes__ == ["a note Hypothesis adds"]
    assert (got[1].steps, got[1].choice, got[1].before, str(got[1])) == (
        broke.steps,
        7,
        THREAD_TCP,
        "the agent died during connect",
    )
    assert got[2].leftovers == ["w0 still running"]
    assert [(type(f), str(f)) for f in got[3:]] == [(type(f), str(f)) for f in others]


def test_merge_counts_the_database_examples_once_not_once_a_shard() -> None:
    from checker.run import Reused

    saved = Reused(replayed=3, failed=1, first_failed=True)
    shards = [result(reused=saved), result(reused=saved)]
    assert merge(shards).reused == saved  # each shard replayed the same three
    assert merge([result(), result()]).reused is None  # no database


# A SIGTERM turned into KeyboardInterrupt can land inside a gc callback (Hypothesis has one),
# where Python prints it as "Exception ignored" and goes on: the worker then went on checking
# (seen once in a fresh-clone suite: test_jobs_cli's sigterm case, stderr not one line).
LOST_STOP = """
import gc, os, signal, sys
from checker import jobs, stops
if sys.argv[1] == "hook":
    stops.raise_lost_stops(jobs._stopped)
signal.signal(signal.SIGTERM, jobs._stopped)
fired = []
def callback(phase, info):
    if phase == "start" and not fired:
        fired.append(1)
        os.kill(os.getpid(), signal.SIGTERM)  # handled here, inside the callback
        sum(range(1000))
gc.callbacks.append(callback)
try:
    gc.collect()
    for _ in range(10**7):
        pass
    print("went on")
except KeyboardInterrupt:
    print("stopped")
"""


@pytest.mark.parametrize("hook", ["hook", "none"])
def test_a_stop_lost_in_a_gc_callback_is_raised_again(hook: str) -> None:
    done = subprocess.run([sys.executable, "-c", LOST_STOP, hook], capture_output=True, text=True, timeout=60)
    if hook == "hook":  # the worker's
        assert (done.stdout, done.stderr) == ("stopped\n", "")
    else:  # without it, what the worker did before: the stop printed and lost
        assert done.stdout == "went on\n" and "KeyboardInterrupt" in done.stderr
