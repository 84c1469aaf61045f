"""Confirmed failures and replay scripts: a failure is replayed before it is reported, and
written as a script that replays it without Hypothesis, also from another directory."""

from __future__ import annotations

import ast
import os
import shutil
import socketserver
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import attrs
import pytest
from hypothesis.database import DirectoryBasedExampleDatabase

from checker import cli
from checker.driver import Driver
from checker.machine import ARGUMENTS, Action, Counterexample, RunConfig, machine_for
from checker.minimize import replay
from checker.replay import (
    DECODING,
    Confirmation,
    NotAReplay,
    confirm,
    database_key,
    read_script,
    replay_options,
    run_config,
    run_data,
    write_script,
)
from checker.run import FlakyTarget, MissingClass, _confirmed, check_kind
from checker.targets import resolve
from model import PROFILES, Kind, Transport, profile_for_version
from tests.checker.test_minimize import FIRST, SECOND, failure
from tests.regression.mutants import VARIANTS

# RunConfig's fields that do not change how draws become steps: what a run counts and keeps,
# and the driver (its target and deadline are recorded on their own). A new field is either
# named here or in checker.replay.DECODING; this test fails until it is.
NOT_DECODING = {
    "driver",
    "examples_run",
    "steps_run",
    "edges",
    "divergence",
    "seen",
    "on_example",
    "verdicts",
    "memo",
    "unraised",
    "windows_opened",
    "windows_missed",
    "first_failure_at",  # when the search first failed: timing, not what a draw means
}
CLOSE = list(Action).index(Action.CLOSE) * ARGUMENTS  # server.server_close(), as one draw
LEAK = next(v for v in VARIANTS if v.name == "close-leaves-socket-open")  # 1 step: close
PROFILE = profile_for_version(tuple(sys.version_info[:3]))


def test_every_run_config_field_is_replayed_or_named_as_not() -> None:
    fields = {f.name for f in attrs.fields(RunConfig)}
    assert fields == set(DECODING) | NOT_DECODING, fields ^ (set(DECODING) | NOT_DECODING)


def test_options_are_literals_that_make_the_same_config() -> None:
    driver = SimpleNamespace()
    config = RunConfig(
        driver=driver,  # type: ignore[arg-type]
        profile=PROFILES["cpython-2.7"],
        kind=Kind.FORK,
        transport=Transport.UNIX_DATAGRAM,
        misuse=True,
        muted=frozenset({"close-waits", "max-children"}),
    )
    options = replay_options(config)
    assert ast.literal_eval(repr(options)) == options
    again = run_config(options, driver)  # type: ignore[arg-type]
    assert {name: getattr(again, name) for name in DECODING} == {
        name: getattr(config, name) for name in DECODING
    }


def test_the_database_key_tells_every_option_and_target_apart() -> None:
    target = resolve("stdlib", None)
    driver = SimpleNamespace(target=target, deadline=1.0, info=None)  # not loaded: the running interpreter
    config = RunConfig(driver=driver, profile=PROFILES["documented"], kind=Kind.THREAD)  # type: ignore[arg-type]
    others = [
        attrs.evolve(config, profile=PROFILES["cpython-3.7"]),
        attrs.evolve(config, kind=Kind.FORK),
        attrs.evolve(config, transport=Transport.UDP),
        attrs.evolve(config, misuse=True),
        attrs.evolve(config, muted=frozenset({"close-waits"})),
        attrs.evolve(config, driver=SimpleNamespace(target=resolve("impl", None), deadline=1.0, info=None)),
    ]
    keys = [database_key(c) for c in (config, *others)]
    assert len(set(keys)) == len(keys)


def test_unknown_options_are_refused() -> None:
    with pytest.raises(NotAReplay, match="does not know: preemption"):
        run_config({"kind": "thread", "preemption": 0.1}, SimpleNamespace())  # type: ignore[arg-type]
    with pytest.raises(NotAReplay, match="cannot read"):
        run_config({"kind": "process"}, SimpleNamespace())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("confirmation", "label", "words"),
    [
        (Confirmation(5, 5), "deterministic", "deterministic (5 of 5 replays showed it)"),
        (Confirmation(2, 5), "flaky (2 of 5)", "flaky (2 of 5 replays showed it)"),
        (Confirmation(0, 3), "flaky (0 of 3)", "seen once, not reproduced in 3 replays"),
        (Confirmation(0, 1), "flaky (0 of 1)", "seen once, not reproduced in 1 replay"),
    ],
)
def test_labels(confirmation: Confirmation, label: str, words: str) -> None:
    assert confirmation.label == label
    assert words in confirmation.text
    assert confirmation.to_json() == {
        "label": label,
        "reproduced": confirmation.reproduced,
        "replays": confirmation.replays,
    }


def racing_machine(outcomes: list[object]) -> type:
    """A stand-in machine whose n-th replay ends with outcomes[n]: the first guarantee, the
    second one, or nothing."""

    class Machine:
        config = SimpleNamespace(memo=True, driver=SimpleNamespace(stop=lambda: []))
        left: ClassVar[list[object]] = list(outcomes)

        def __init__(self) -> None:
            self.made: list[int] = []
            self.ends = Machine.left.pop(0)

        def step(self, choice: int) -> None:
            self.made.append(choice)
            if self.ends is not None and len(self.made) == 2:
                raise failure(self.ends, self.made)

        def teardown(self) -> None:
            pass

    return Machine


def test_confirm_counts_only_replays_that_show_the_same_guarantee() -> None:
    found = failure(FIRST, [3, 5])
    machine = racing_machine([FIRST, SECOND, None, FIRST])
    assert confirm(machine, found, 4) == Confirmation(2, 4)  # type: ignore[arg-type]


# -- a real failure, its script, and `sockcheck replay` ------------------------------------


@pytest.fixture
def leak(tmp_path: Path) -> Iterator[tuple[RunConfig, Counterexample, Path]]:
    """close-leaves-socket-open's failure, made by replaying its one draw (no search)."""
    module = LEAK.write(tmp_path)
    driver = Driver(resolve("stdlib", str(module)), LEAK.deadline)
    try:
        driver.load()
        config = RunConfig(driver=driver, profile=PROFILE, kind=Kind.THREAD)
        found = replay(machine_for(config), [CLOSE])
        driver.stop()
        assert isinstance(found, Counterexample) and found.guarantee.name == LEAK.guarantee
        yield config, found, module
    finally:
        driver.quit()


def run_script(
    script: Path, *args: str, cwd: Path, flags: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *flags, str(script), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_a_script_replays_a_real_failure_from_another_directory(
    leak: tuple[RunConfig, Counterexample, Path], tmp_path: Path
) -> None:
    config, found, module = leak
    script = write_script(tmp_path / "replays", run_data(config), found, "sockcheck check --module x")
    text = script.read_text()
    assert "# failure:   no-descriptor-leak" in text and "# found by:  sockcheck check --module x" in text
    assert "kind:      thread, transport tcp, profile " + PROFILE.name in text
    assert "#   1. server.server_close()" in text
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = run_script(script, "--times", "2", cwd=elsewhere)
    assert done.returncode == 1, done.stderr
    assert "reproduced 2 of 2: no-descriptor-leak: " in done.stdout
    assert "guarantee  no-descriptor-leak" in done.stdout  # the failure as the report shows it
    shutil.copy(socketserver.__file__, module)  # the bug fixed: the same script now passes
    done = run_script(script, cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    assert "did not reproduce (0 of 1): no-descriptor-leak" in done.stdout


def test_sockcheck_replay_reruns_a_script(
    leak: tuple[RunConfig, Counterexample, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, found, _ = leak
    script = write_script(tmp_path, run_data(config), found, "sockcheck check")
    assert cli.main(["replay", str(script), "--times", "3"]) == 1
    assert "reproduced 3 of 3: no-descriptor-leak" in capsys.readouterr().out


def test_a_script_finds_the_sockcheck_that_wrote_it(
    leak: tuple[RunConfig, Counterexample, Path], tmp_path: Path
) -> None:
    """Run by a Python that has Hypothesis and attrs but not sockcheck installed (no site:
    no editable install; the libraries by PYTHONPATH), it imports the sockcheck named in it."""
    config, found, _ = leak
    script = write_script(tmp_path, run_data(config), found, "sockcheck check")
    libraries = str(Path(attrs.__file__).resolve().parent.parent)
    done = subprocess.run(
        [sys.executable, "-S", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": libraries},
    )
    assert done.returncode == 1, done.stderr
    assert "reproduced 1 of 1: no-descriptor-leak" in done.stdout


def test_a_script_without_sockcheck_says_so_in_one_line(
    leak: tuple[RunConfig, Counterexample, Path], tmp_path: Path
) -> None:
    config, found, _ = leak
    data = {**run_data(config), "sockcheck": str(tmp_path / "no-sockcheck-here")}
    script = write_script(tmp_path, data, found, "sockcheck check")
    done = run_script(script, cwd=tmp_path, flags=("-S",))  # no site-packages: no sockcheck
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "cannot import sockcheck's checker package" in done.stderr
    assert done.stdout == ""


def test_two_failures_never_share_a_script(
    leak: tuple[RunConfig, Counterexample, Path], tmp_path: Path
) -> None:
    config, found, _ = leak
    run = run_data(config)
    first = write_script(tmp_path, run, found, "sockcheck check")
    again = write_script(tmp_path, run, found, "sockcheck check")
    steps = [attrs.evolve(step, choice=CLOSE + 1) for step in found.steps]  # the same, other draws
    other = write_script(tmp_path, run, type(found)(list(found.violations), steps), "sockcheck check")
    fork = write_script(tmp_path, {**run, "options": {**run["options"], "kind": "fork"}}, found, "sockcheck")
    assert first == again and len({first, other, fork}) == 3
    assert read_script(first)["failure"] == {"what": "no-descriptor-leak", "draws": [CLOSE]}


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "no such file"),
        ("def broken(:\n", "not a sockcheck replay script"),
        ("print('hello')\n", "no REPLAY of format 1"),
        ("REPLAY = {'format': 99}\n", "no REPLAY of format 1"),
        ("REPLAY = {'format': 1}\n", "no REPLAY of format 1"),
        ("REPLAY = dict(format=1)\n", "no REPLAY of format 1"),
    ],
)
def test_sockcheck_replay_refuses_what_is_not_a_script(
    content: str | None, words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "script.py"
    if content is not None:
        path.write_text(content)
    assert cli.main(["replay", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sockcheck: ") and words in err, err


def test_a_script_whose_module_is_gone_exits_2(
    leak: tuple[RunConfig, Counterexample, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, found, module = leak
    script = write_script(tmp_path / "replays", run_data(config), found, "sockcheck check")
    module.unlink()
    assert cli.main(["replay", str(script)]) == 2
    assert "the module replayed against is gone" in capsys.readouterr().err


# -- Hypothesis's example database ---------------------------------------------------------


def test_a_saved_failure_is_tried_first_next_time(tmp_path: Path) -> None:
    """Seed 0's first example misses close-leaves-socket-open; its first three find it. With
    the database the three examples' failure leaves, a one-example run finds it at once;
    without, or with other options (another key), it does not."""
    module = LEAK.write(tmp_path)
    driver = Driver(resolve("stdlib", str(module)), LEAK.deadline)
    database = DirectoryBasedExampleDatabase(str(tmp_path / "examples"))

    def check(examples: int, db: DirectoryBasedExampleDatabase | None, misuse: bool = False) -> list[str]:
        result = check_kind(
            driver, PROFILE, Kind.THREAD, examples=examples, seed=0, database=db, misuse=misuse
        )
        return [f.guarantee.name for f in result.failures if isinstance(f, Counterexample)]

    try:
        driver.load()
        assert check(1, None) == []
        assert check(1, database) == []  # nothing saved yet
        assert check(3, database) == [LEAK.guarantee]
        assert check(1, database) == [LEAK.guarantee]
        assert check(1, None) == []
        assert check(1, database, misuse=True) == []  # saved under the other options' key
    finally:
        driver.quit()


def test_check_uses_the_database_it_is_given(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli._database("none") is None
    monkeypatch.setenv("SOCKCHECK_DB", "elsewhere")
    assert cli._database(None).path == Path("elsewhere")  # type: ignore[union-attr]
    monkeypatch.delenv("SOCKCHECK_DB")
    assert cli._database(None).path == Path(".sockcheck", "examples")  # type: ignore[union-attr]
    (tmp_path / "file").write_text("")
    with pytest.raises(cli.UsageError, match="not a directory"):
        cli._database("file")


def test_the_replay_folder_is_the_flag_else_the_environment_else_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    default = Path(".sockcheck", "replays")
    monkeypatch.delenv("SOCKCHECK_REPLAY_DIR")
    assert cli._folder(None, "SOCKCHECK_REPLAY_DIR", default) == default
    assert cli._folder("here", "SOCKCHECK_REPLAY_DIR", default) == Path("here")
    monkeypatch.setenv("SOCKCHECK_REPLAY_DIR", "there")
    assert cli._folder(None, "SOCKCHECK_REPLAY_DIR", default) == Path("there")
    assert cli._folder("here", "SOCKCHECK_REPLAY_DIR", default) == Path("here")
    assert cli._folder("none", "SOCKCHECK_REPLAY_DIR", default) is None
    monkeypatch.setenv("SOCKCHECK_REPLAY_DIR", "none")
    assert cli._folder(None, "SOCKCHECK_REPLAY_DIR", default) is None


def test_the_test_suite_uses_no_database_and_a_private_replay_folder() -> None:
    assert os.environ["SOCKCHECK_DB"] == "none"
    assert not Path(os.environ["SOCKCHECK_REPLAY_DIR"]).resolve().is_relative_to(Path.cwd().resolve())


def test_a_failure_hypothesis_could_not_replay_is_labelled_flaky_as_it_stands() -> None:
    flaky = FlakyTarget("a failure did not reproduce on replay")
    assert _confirmed(None, flaky, 5) == Confirmation(0, 1)  # type: ignore[arg-type]
    assert _confirmed(None, flaky, 0) is None  # type: ignore[arg-type]
    assert _confirmed(None, MissingClass("no ForkingUnixStreamServer"), 5) is None  # type: ignore[arg-type]
