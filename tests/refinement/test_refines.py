"""No false alarm: impl refines `documented`, the running stdlib refines its own profile.

These run the checker in-process (the library, not the command line), over several seeds.
`SOCKCHECK_EXAMPLES` raises the number of examples per run for a heavier, opt-in check.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

from checker.driver import Driver
from checker.run import check_kind
from checker.targets import resolve
from model import DOCUMENTED, Kind, profile_for_version

EXAMPLES = int(os.environ.get("SOCKCHECK_EXAMPLES", "40"))
SEEDS = (0, 1)


@pytest.fixture(scope="module", params=["impl", "stdlib"])
def driver(request: pytest.FixtureRequest) -> Iterator[Driver]:
    driver = Driver(resolve(request.param, None), deadline=1.0)
    driver.load()
    yield driver
    driver.quit()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", [Kind.THREAD, Kind.FORK], ids=lambda k: k.value)
def test_target_refines_its_profile(driver: Driver, kind: Kind, seed: int) -> None:
    if driver.target.label == "impl":
        profile = DOCUMENTED
    else:
        profile = profile_for_version(sys.version_info[:3])
        assert profile is not None
    result = check_kind(driver, profile, kind, examples=EXAMPLES, seed=seed)
    assert result.passed, [str(f) for f in result.failures]
    assert result.examples >= EXAMPLES
    assert result.steps > result.examples  # the examples did something


@pytest.mark.parametrize(
    ("kind", "guarantee"),
    [(Kind.THREAD, "close-returns"), (Kind.FORK, "closed-refuses")],
    ids=["thread-latch", "fork-child-listens"],
)
def test_stdlib_diverges_from_documented_where_the_history_says(kind: Kind, guarantee: str) -> None:
    """3.8.9+ latches block_on_close at spawn; its children keep the listening socket."""
    driver = Driver(resolve("stdlib", None), deadline=1.0)
    try:
        driver.load()
        result = check_kind(driver, DOCUMENTED, kind, examples=200, seed=0)
    finally:
        driver.quit()
    names = {f.guarantee.name for f in result.failures}  # type: ignore[union-attr]
    assert guarantee in names
