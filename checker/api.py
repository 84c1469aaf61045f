"""The Python API: `sockcheck check --server` from Python, and as a test in a user's own suite.

`check_server(server, ...)` runs the check `sockcheck check --server` runs and returns its
CheckResult (checker.checking): the same results, verdict, replay scripts and report.
`refinement_test(server, ...).TestCase` is a unittest.TestCase, in the manner of Hypothesis's
`RuleBasedStateMachine.TestCase`, that runs the same check under pytest (or unittest):

    TestMyServer = sockcheck.refinement_test(MyServer).TestCase

Its Hypothesis settings are the user's: the profile loaded when the test module is imported
(settings.load_profile, pytest's --hypothesis-profile), or `TestMyServer.settings =
settings(...)`, or the `settings=` argument. Of these it takes max_examples (the examples),
database (where failures are saved and replayed first: by default Hypothesis's .hypothesis/
folder) and derandomize (seed 0); pytest's --hypothesis-seed too. The deadline, the health
checks and the steps per example are the checker's own: a step waits on real servers, and
the steps per example are part of what a saved example means.

One TestCase checks one kind: by default the kind of the class's mix-in, as the command line
does; kind="thread" or "fork" checks it as that kind. A class checked as both kinds is two
TestCases (refinement_test(S, kind="thread") and refinement_test(S, kind="fork")), two test
ids in the report, two HypoFuzz targets.

The agent (the target interpreter running the server) starts in the test's setUp and ends in
its tearDown, so that nothing outlives the test. A HypoFuzz campaign collects the TestCase as
it collects Hypothesis's own: it runs setUp, then the refinement machine itself, for hours;
its failures are saved in the same database under the same key as the TestCase's own runs,
which replay them first and report them as `sockcheck check` does.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import sys
import unittest
from collections.abc import Callable
from typing import Any, ClassVar

import attrs
from hypothesis import HealthCheck
from hypothesis import settings as Settings

from checker import coverage
from checker.checking import (
    DEFAULT_EXAMPLES,
    CheckOptions,
    CheckResult,
    Loaded,
    Prepared,
    UsageError,
    check_one,
    finish,
    load,
    prepare,
    run_check,
)
from checker.driver import CannotRun, Driver
from checker.machine import RunConfig, unbound_machine
from checker.replay import DEFAULT_CONFIRM, server_key
from checker.run import server_attributes
from checker.targets import BadTarget, Target, object_spec, resolve
from model import Transport

Server = Any  # a server class or factory, or its name: "MODULE:NAME" or "FILE.py:NAME"


def check_server(
    server: Server,
    *,
    kind: str | None = None,
    transport: str | None = None,
    profile: str = "auto",
    examples: int = DEFAULT_EXAMPLES,
    seed: int | None = None,
    python: str | None = None,
    module: str | None = None,
    jobs: int = 1,
    misuse: bool = False,
    cover: bool = True,
    interleave: bool = False,
    jitter: float = 0.0,
    confirm: int = DEFAULT_CONFIRM,
    replay_dir: str | os.PathLike[str] | None = None,
    db: str | os.PathLike[str] | None = None,
    json_file: str | os.PathLike[str] | None = None,
    emit: Callable[[str], None] | None = None,
) -> CheckResult:
    """Check a server class or factory as `sockcheck check --server` does; its CheckResult.

    `server`: a class or factory defined at module level, or "MODULE:NAME" (imported from the
    current folder) or "FILE.py:NAME". `kind`: thread, fork or both (default: its mix-in's);
    `transport`: its socket's (the only one it serves). `python`: the interpreter to run it
    in (default: this one); `module`: a socketserver.py in place of the stdlib's. The other
    arguments are the command's flags: `cover=False` is --no-cover, `replay_dir` and `db`
    "none" turn either off (None: SOCKCHECK_REPLAY_DIR and SOCKCHECK_DB, else the folders
    under .sockcheck/), `json_file` is --json. `emit`: called with each line of the report as
    it is made (print shows it as the command does); nothing is printed otherwise.

    ValueError for arguments that cannot be used; CannotRun where the check could not be
    made (the server is not importable or not a server, the interpreter is missing)."""
    _choice("kind", kind, ("thread", "fork", "both"))
    _choice("transport", transport, (*(t.value for t in Transport), "all"))
    _whole("examples", examples, 1)
    _whole("jobs", jobs, 1)
    _whole("confirm", confirm, 0)
    _jitter(jitter)
    target = server_target(server, python, module)
    options = CheckOptions(
        kind=kind,
        transport=transport,
        profile=profile,
        examples=examples,
        seed=seed,
        jobs=jobs,
        misuse=misuse,
        cover=cover,
        interleave=interleave,
        jitter=jitter,
        confirm=confirm,
        replay_dir=_text(replay_dir),
        db=_text(db),
        json=_text(json_file),
        command=f"sockcheck.check_server({target.label!r}" + _shown(kind=kind, examples=examples) + ")",
    )
    try:
        return run_check(target, options, emit=emit)
    except (BadTarget, UsageError) as exc:
        raise ValueError(_words(exc)) from None
    except CannotRun as exc:
        raise CannotRun(_words(exc)) from None


def server_target(server: Server, python: str | None = None, module: str | None = None) -> Target:
    """The target `sockcheck check --server` makes of `server` (a string as the command line
    takes it; an object by the name its module is imported by, or by its file). ValueError
    for one that cannot be named."""
    try:
        if isinstance(server, str):
            return resolve("stdlib", module, python, server)
        spec, root = object_spec(server)
        target = resolve("stdlib", module, python, spec)
        return attrs.evolve(target, server_root=root) if target.server_root is not None else target
    except BadTarget as exc:
        raise ValueError(_words(exc)) from None


def _words(error: BaseException) -> str:
    """An error's message, as the API's caller named things ("server X", not "--server X")."""
    return re.sub(r"^--(server|kind|transport|profile|module|python) ", r"\1 ", str(error))


# -- the test ------------------------------------------------------------------------------


@attrs.frozen
class RefinementTest:
    """What refinement_test returns: its `TestCase`, and what that checks."""

    TestCase: type[unittest.TestCase]
    target: Target
    options: CheckOptions
    key: bytes  # the check's key in Hypothesis's example database


def refinement_test(
    server: Server,
    *,
    kind: str | None = None,
    transport: str | None = None,
    profile: str = "auto",
    python: str | None = None,
    module: str | None = None,
    settings: Settings | None = None,
    misuse: bool = False,
    cover: bool = True,
    interleave: bool = False,
    jitter: float = 0.0,
    confirm: int = DEFAULT_CONFIRM,
    replay_dir: str | os.PathLike[str] | None = None,
) -> RefinementTest:
    """A refinement test of a server class or factory, for a test module of the user's:

        TestMyServer = sockcheck.refinement_test(MyServer).TestCase

    The arguments are check_server's; `kind` one kind (thread or fork; default: the class's
    mix-in's); `settings`: Hypothesis settings for it (default: the profile in force when the
    test runs, or `TestMyServer.settings` once set). Nothing starts here: the agent starts when
    the test runs. A failing test's message is the report of `sockcheck check`, with the path of
    each failure's replay script (in `replay_dir`, default as check_server's)."""
    if kind == "both":
        raise ValueError(
            "kind='both': one TestCase checks one kind; make two, "
            "refinement_test(server, kind='thread') and refinement_test(server, kind='fork')"
        )
    _choice("kind", kind, ("thread", "fork"))
    _choice("transport", transport, tuple(t.value for t in Transport))
    _whole("confirm", confirm, 0)
    _jitter(jitter)
    if settings is not None and not isinstance(settings, Settings):
        raise ValueError(f"settings={settings!r}: expected a hypothesis.settings object")
    target = server_target(server, python, module)
    options = CheckOptions(
        kind=kind,
        transport=transport,
        profile=profile,
        misuse=misuse,
        cover=cover,
        interleave=interleave,
        jitter=jitter,
        confirm=confirm,
        replay_dir=_text(replay_dir),
        db="none",  # Hypothesis's own database setting is the test's
    )
    key = _test_key(target, options, python)
    case = _test_case(target, options, key, settings)
    return RefinementTest(TestCase=case, target=target, options=options, key=key)


def _test_key(target: Target, options: CheckOptions, python: str | None) -> bytes:
    """The test's key in the example database: known before any agent starts (HypoFuzz
    computes its own from it when it collects the test), the same on every machine."""
    assert target.server is not None
    running = f"{sys.implementation.name} {sys.version_info[0]}.{sys.version_info[1]}"
    plain = {
        "refinement_test": server_key(target.server),
        "module": None if target.path is None else os.path.basename(target.path),
        "python": running if python is None else python,
        **{name: getattr(options, name) for name in ("kind", "transport", "profile", "misuse")},
        **{name: getattr(options, name) for name in ("interleave", "jitter")},
    }
    return json.dumps(plain, sort_keys=True).encode()


class _Settings:
    """The TestCase's settings until some are assigned: the default when they are read (the
    profile in force then), as HypoFuzz reads them when it collects and the test when it runs."""

    def __get__(self, instance: object, owner: type) -> Settings:
        return Settings()


def _test_case(
    target: Target, options: CheckOptions, key: bytes, chosen: Settings | None
) -> type[unittest.TestCase]:
    machine = unbound_machine(options.interleave)  # HypoFuzz takes this class when it collects
    machine._hypothesis_internal_add_digest = key  # type: ignore[attr-defined]

    class RefinementTestCase(unittest.TestCase):
        settings: ClassVar[Any] = _Settings() if chosen is None else chosen
        _checked: ClassVar[tuple[Prepared, Loaded, Driver] | None] = None

        def setUp(self) -> None:
            __tracebackhide__ = True
            prepared = _prepared(target, options)
            driver = Driver(target, prepared.deadline)
            try:
                loaded = load(prepared, driver, lambda line: None)
                kind, transport = loaded.kinds[0], loaded.transports[0]
                if options.jitter:
                    driver.jitter(options.jitter, 0)
            except (BadTarget, UsageError, CannotRun) as exc:
                driver.quit()
                raise type(exc)(_words(exc)) from None
            except BaseException:
                driver.quit()
                raise
            atexit.register(driver.quit)  # a HypoFuzz worker ends by a signal, not by tearDown
            machine.config = RunConfig(
                driver=driver,
                profile=loaded.profile,
                kind=kind,
                transport=transport,
                misuse=options.misuse,
                interleave=options.interleave,
                jitter=options.jitter,
                attributes=server_attributes(loaded.info, kind),
                on_example=_bounded,
            )
            type(self)._checked = (prepared, loaded, driver)

        def tearDown(self) -> None:
            checked, type(self)._checked = type(self)._checked, None
            if checked is not None:
                checked[2].quit()
                atexit.unregister(checked[2].quit)

        def runTest(self) -> None:
            __tracebackhide__ = True
            assert self._checked is not None
            prepared, loaded, driver = self._checked
            run = Settings(self.settings, deadline=None, suppress_health_check=list(HealthCheck))
            seed = options.seed if options.seed is not None or not run.derandomize else 0
            command = os.environ.get("PYTEST_CURRENT_TEST", "").rpartition(" ")[0]
            prepared = attrs.evolve(
                prepared,
                options=attrs.evolve(
                    prepared.options, command=f"pytest {command}" if command else "refinement_test"
                ),
            )
            kind, transport = loaded.kinds[0], loaded.transports[0]
            result = check_one(
                prepared,
                loaded,
                driver,
                kind,
                transport,
                examples=run.max_examples,
                seed=seed,
                database=run.database,
                key=key,
            )
            lines = list(loaded.header)
            checked = finish(prepared, loaded, [result], [coverage.of(result)], lambda line: None, lines)
            if not checked.refines:
                self.fail("\n" + checked.report())

        runTest.is_hypothesis_test = True  # type: ignore[attr-defined]
        runTest._hypothesis_state_machine_class = machine  # type: ignore[attr-defined]

    RefinementTestCase.__name__ = RefinementTestCase.__qualname__ = "RefinementTestCase"
    RefinementTestCase.__doc__ = f"The refinement check of {target.label}."
    return RefinementTestCase


def _prepared(target: Target, options: CheckOptions) -> Prepared:
    try:
        return prepare(target, options)
    except UsageError as exc:
        raise UsageError(_words(exc)) from None


def _bounded(config: RunConfig) -> None:
    from checker.fuzz import _bounded as bounded  # the memo of verdicts, bounded for campaigns

    bounded(config)


# -- the arguments -------------------------------------------------------------------------


def _choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value is not None and value not in choices:
        raise ValueError(f"{name}={value!r}: expected one of {', '.join(map(repr, choices))}, or None")


def _whole(name: str, value: object, least: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise ValueError(f"{name}={value!r}: expected a whole number, {least} or more")


def _jitter(value: object) -> None:
    if not isinstance(value, int | float) or not 0 <= value <= 0.1:
        raise ValueError(f"jitter={value!r}: expected seconds between 0 and 0.1")


def _text(value: str | os.PathLike[str] | None) -> str | None:
    return None if value is None else os.fspath(value)


def _shown(**values: object) -> str:
    return "".join(f", {name}={value!r}" for name, value in values.items() if value is not None)


__all__ = [
    "CannotRun",
    "CheckResult",
    "RefinementTest",
    "check_server",
    "refinement_test",
    "server_target",
]
