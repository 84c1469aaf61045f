"""The explorer's answers kept on disk (checker.cache): the same answer, and never a stale one."""

from __future__ import annotations

from pathlib import Path

import pytest

from checker import cache
from checker.coverage import WORKERS
from model import DOCUMENTED, Kind, Transport
from model.explore import Bounds, explore


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(cache.CACHE_VARIABLE, str(tmp_path / "cache"))
    return tmp_path / "cache"


class Maker:
    """Counts its calls, so a test can tell a hit from a miss."""

    def __init__(self, value: object) -> None:
        self.value, self.calls = value, 0

    def __call__(self) -> object:
        self.calls += 1
        return self.value


def test_a_cached_exploration_is_the_exploration(folder: Path) -> None:
    bounds = Bounds(workers=WORKERS)
    arguments = (DOCUMENTED, Kind.THREAD, Transport.TCP, bounds)
    fresh = explore(DOCUMENTED, Kind.THREAD, Transport.TCP, bounds, judge=False)
    cache.cached("exploration", arguments, lambda: fresh)
    again = cache.cached("exploration", arguments, Maker(None))
    assert again is not fresh  # read back from the file
    assert (again.edges, again.runs, again.cases) == (fresh.edges, fresh.runs, fresh.cases)


def test_the_second_call_reads_the_first_ones_answer(folder: Path) -> None:
    make = Maker({"answer": 42})
    assert cache.cached("t", (1,), make) == {"answer": 42}
    assert cache.cached("t", (1,), make) == {"answer": 42}
    assert make.calls == 1
    assert cache.cached("t", (2,), make) == {"answer": 42}  # other arguments: another entry
    assert make.calls == 2
    assert not list(folder.glob("*.part"))


def test_a_changed_model_misses(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make = Maker("old")
    cache.cached("t", (1,), make)
    monkeypatch.setattr(cache, "model_digest", lambda: "another model")
    assert cache.cached("t", (1,), Maker("new")) == "new"


def test_a_torn_entry_is_made_again_and_written_over(folder: Path) -> None:
    cache.cached("t", (1,), Maker("first"))
    (entry,) = folder.iterdir()
    entry.write_bytes(entry.read_bytes()[:5])
    make = Maker("second")
    assert cache.cached("t", (1,), make) == "second"
    assert cache.cached("t", (1,), make) == "second"
    assert make.calls == 1


def test_none_turns_the_cache_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(cache.CACHE_VARIABLE, "none")
    make = Maker("x")
    cache.cached("t", (1,), make)
    cache.cached("t", (1,), make)
    assert make.calls == 2
    assert not list(tmp_path.iterdir())


def test_the_model_digest_changes_with_any_model_source_file(tmp_path: Path) -> None:
    import shutil

    import model

    copy = tmp_path / "model"
    shutil.copytree(Path(model.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert cache.digest_of(copy) == cache.model_digest()
    explore_py = copy / "explore.py"
    explore_py.write_text(explore_py.read_text() + "\n")
    changed = cache.digest_of(copy)
    assert changed != cache.model_digest()
    (copy / "extra.py").write_text("")
    assert cache.digest_of(copy) != changed
