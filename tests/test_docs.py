"""docs/ is made from the model by `sockcheck docs`: the committed files must be what it writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from checker import docs
from checker.cli import main

ROOT = Path(__file__).resolve().parent.parent
# On one xdist worker: the module fixture below is made once, not once per worker.
pytestmark = pytest.mark.xdist_group("docs")


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    """The generated files, computed once (the joint walk takes some 20 s)."""
    return docs.generate()


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
