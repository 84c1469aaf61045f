"""The version history, replayed: each reference-notes recipe on the newest interpreter found of
each CPython line, against `documented` (the divergence the history says, or none) and against
the line's own profile (always refined). Lines with no interpreter here are skipped."""

from __future__ import annotations

import pytest

from checker.driver import Driver
from checker.interpreters import Interpreter
from checker.scenarios import SCENARIOS, applies, replay
from checker.targets import Target
from model import DOCUMENTED, PROFILES, Kind, Transport
from tests.refinement.test_interpreters import LINES, under_test

T, F = Kind.THREAD, Kind.FORK
WAITS, RETURNS, RAISES = "close-waits", "close-returns", "close-raises-nothing"
PY3 = tuple(line for line in LINES if line != "cpython-2.7")

# (scenario, kind) -> the guarantee each line breaks against `documented` (absent: none).
HISTORY: dict[tuple[str, Kind], dict[str, str]] = {
    # 3.6.6+ has the close code behind a private _block_on_close, False (reference 2.1, 2.2);
    # 2.7 has no server_close() in the mix-ins at all
    ("close-while-a-request-runs", T): {"cpython-2.7": WAITS, "cpython-3.6": WAITS},
    ("close-while-a-request-runs", F): {"cpython-2.7": WAITS, "cpython-3.6": WAITS},
    # E4: 3.8.9+ joins what it tracked at spawn whatever block_on_close says at close
    ("block_on_close-true-at-spawn-false-at-close", T): {"cpython-3.8": RETURNS, "cpython-3.12": RETURNS},
    ("block_on_close-true-at-spawn-false-at-close", F): {},
    # E4: a thread spawned with block_on_close false is joined by no version
    ("block_on_close-false-at-spawn-true-at-close", T): dict.fromkeys(LINES, WAITS),
    # fork reads it at close (2.7 never does)
    ("block_on_close-false-at-spawn-true-at-close", F): {"cpython-2.7": WAITS, "cpython-3.6": WAITS},
    ("finished-thread-then-a-spawn", T): {"cpython-3.7": "finished-not-retained"},  # bpo-37193
    # the failed start reaches handle_error(), whose banner 2.7 prints to stdout (bpo-23430)
    ("close-after-a-thread-failed-to-start", T): {
        "cpython-2.7": "handle-error-prints",
        "cpython-3.7": RAISES,
        "cpython-3.8": RAISES,
        "cpython-3.12": RAISES,
    },
    ("close-from-a-handler", T): {
        "cpython-2.7": WAITS,
        "cpython-3.6": WAITS,
        "cpython-3.7": RAISES,
        "cpython-3.8": RAISES,
        "cpython-3.12": RAISES,
    },
    # bpo-23430 is in every 3.x; 2.7's bare except: sends SystemExit to handle_error
    ("handler-raises-systemexit", T): {"cpython-2.7": "handle-error-once"},
    ("handler-raises-systemexit", F): {"cpython-2.7": "handle-error-once"},
    # no cap under handle_request() on 3.x (E6); 2.7 waits at it before the fork
    ("handle_request-beyond-max_children", F): {"cpython-2.7": "dispatch-does-not-wait"},
    ("non-blocking-close-at-max_children", F): dict.fromkeys(PY3, RETURNS),  # E26; 2.7 collects nothing
    ("child-holds-the-closed-listener", F): dict.fromkeys(LINES, "closed-refuses"),  # E9
    ("idle-loop-reaps", F): {"cpython-2.7": "loop-reaps"},  # bpo-11109, 3.3+
}


def test_every_scenario_has_its_history() -> None:
    assert set(HISTORY) == {(s.name, k) for s in SCENARIOS for k in s.kinds}


def cases() -> list[object]:
    params: list[object] = []
    for line in LINES:
        chosen = under_test(line)
        for kind in (T, F):
            if chosen:
                params.append(pytest.param(chosen[-1], line, kind, id=f"{line}-{kind.value}"))
            else:
                reason = f"no interpreter of the {line} line on PATH or in a pyenv root"
                params.append(
                    pytest.param(
                        None, line, kind, id=f"{line}-{kind.value}", marks=pytest.mark.skip(reason=reason)
                    )
                )
    return params


@pytest.mark.parametrize(("interpreter", "line", "kind"), cases())
def test_the_recipes_show_the_history_of_each_line(interpreter: Interpreter, line: str, kind: Kind) -> None:
    target = Target(interpreter.label, interpreter.executable, "stdlib", isolation=interpreter.isolation)
    driver = Driver(target, deadline=1.0)
    seen, refined = {}, {}
    try:
        driver.load()
        for scenario in SCENARIOS:
            if applies(scenario, kind, Transport.TCP):
                seen[scenario.name] = replay(driver, DOCUMENTED, kind, Transport.TCP, scenario)["broken"]
                refined[scenario.name] = replay(driver, PROFILES[line], kind, Transport.TCP, scenario)[
                    "broken"
                ]
    finally:
        driver.quit()
    expected = {name: HISTORY[(name, kind)].get(line) for name in seen}
    assert seen == expected
    assert refined == dict.fromkeys(refined)  # its own profile: nothing broken
