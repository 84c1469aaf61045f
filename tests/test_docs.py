"""docs/ is made from the model by `sockcheck docs`: the committed files must be what it writes."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import pytest

from checker import docs
from checker.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def texts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The generated files, computed once a run (the joint walk takes 20-100 s). The xdist
    workers of one run share them through a file in the run's own temporary root, made under
    a lock: each worker that ran a docs test made them again (xdist_group, which would keep
    the tests on one worker, does nothing under pytest 9: it renames item._nodeid)."""
    if "PYTEST_XDIST_WORKER" not in os.environ:  # the root is then shared by later runs
        return docs.generate()
    root = tmp_path_factory.getbasetemp().parent  # this run's, removed with it
    made = root / "docs-texts.json"
    with open(root / "docs-texts.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a worker that comes second waits, then reads
        if not made.exists():
            made.write_text(json.dumps(docs.generate()), encoding="utf-8")
        return json.loads(made.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", docs.FILES)
def test_committed_docs_are_what_the_command_writes(texts, tmp_path, name) -> None:
    docs.write(tmp_path, texts)
    committed = ROOT / "docs" / name
    assert committed.exists(), f"docs/{name} is missing: run `sockcheck docs`"
    assert committed.read_text(encoding="utf-8") == (tmp_path / name).read_text(encoding="utf-8"), (
        "docs/ is stale: run `sockcheck docs`"
    )


def test_the_command_writes_every_file_and_exits_0(texts, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(docs, "generate", lambda: texts)  # the texts are checked above
    out = tmp_path / "new" / "docs"
    assert main(["docs", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(docs.FILES)
    assert len(capsys.readouterr().out.splitlines()) == len(docs.FILES)


def test_out_that_is_a_file_exits_2_with_one_line(tmp_path, capsys) -> None:
    target = tmp_path / "a-file"
    target.write_text("")
    assert main(["docs", "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "not a directory" in err


def test_the_generated_files_name_no_machine_path(texts) -> None:
    for name, text in texts.items():
        assert str(ROOT) not in text, name
