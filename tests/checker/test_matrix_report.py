"""The matrix report: the same tables in Markdown and HTML, every broken cell linked to its
counterexample, every skipped interpreter with its reason."""

from __future__ import annotations

import json
import re

from checker import matrix_report
from checker.matrix import profile_json
from model import DOCUMENTED, PROFILES


def failure(guarantee: str, steps: int) -> dict:
    return {
        "guarantee": guarantee,
        "steps": [{}] * steps,
        "text": [f"guarantee  {guarantee}: ...", f"steps ({steps}, minimal):"],
    }


def side(profile: str, *failures: dict) -> dict:
    return {
        "profile": profile,
        "passed": not failures,
        "broken": sorted({f["guarantee"] for f in failures}),
        "failures": list(failures),
    }


def data() -> dict:
    columns = [
        {
            "index": 0,
            "name": "python3.6",
            "label": "cpython 3.6.15",
            "executable": "/x/3.6/python",
            "profile": "cpython-3.6",
            "skipped": None,
            "note": None,
        },
        {
            "index": 1,
            "name": "python3.5",
            "label": "python3.5",
            "executable": None,
            "profile": None,
            "skipped": "python3.5: no such interpreter on PATH or in a pyenv root",
            "note": None,
        },
    ]
    cells = [
        {
            "column": 0,
            "label": "cpython 3.6.15",
            "kind": "thread",
            "transport": "tcp",
            "error": None,
            "own": side("cpython-3.6"),
            "documented": side("documented", failure("close-waits", 2)),
        },
        {
            "column": 0,
            "label": "cpython 3.6.15",
            "kind": "fork",
            "transport": "tcp",
            "error": None,
            "own": side("cpython-3.6"),
            "documented": side("documented", failure("close-waits", 3), failure("max-children", 5)),
        },
    ]
    profiles = [profile_json(DOCUMENTED), profile_json(PROFILES["cpython-3.6"])]
    return {
        "started": "2026-12-01T00:00:00+00:00",
        "examples": 10,
        "seed": 0,
        "rounds": 5,
        "columns": columns,
        "cells": cells,
        "profiles": profiles,
    }


def test_a_broken_guarantee_names_its_cells_and_links_the_shortest_counterexample() -> None:
    rows = {row[0][0]: row[1:] for row in matrix_report.guarantee_rows(data())}
    assert rows["close-waits"] == [("✗ thread/tcp fork/tcp", "c0-thread-tcp-documented-close-waits")]
    assert rows["max-children"] == [("✗ fork/tcp", "c0-fork-tcp-documented-max-children")]
    assert rows["finished-not-retained"] == [("✓", None)]
    assert len(rows["close-waits"]) == 1  # the skipped interpreter has no column


def test_markdown_links_resolve_and_the_skipped_interpreter_says_why() -> None:
    text = matrix_report.to_markdown(data())
    links = set(re.findall(r"\]\(#([^)]+)\)", text))
    anchors = set(re.findall(r'<a id="([^"]+)">', text))
    assert links and links <= anchors
    assert (
        "| python3.5 | python3.5 | — | skipped: python3.5: no such interpreter on PATH or in a pyenv root |"
        in text
    )
    assert "| cpython 3.6.15 | /x/3.6/python | cpython-3.6 | ✓ refines it (2 cells) |" in text


def test_html_has_the_same_tables_and_its_links_resolve() -> None:
    text = matrix_report.to_html(data())
    links = set(re.findall(r'href="#([^"]+)"', text))
    ids = set(re.findall(r'id="([^"]+)"', text))
    assert links and links <= ids
    markdown = matrix_report.to_markdown(data())
    assert text.count("<tr>") == sum(1 for line in markdown.splitlines() if line.startswith("| "))


def test_profile_switches_mark_each_difference_from_documented() -> None:
    rows = {row[0][0]: [c[0] for c in row[1:]] for row in matrix_report.profile_rows(data())}
    assert rows["public_block_on_close"] == ["yes", "**no**"]
    assert rows["fork_close"] == ["block_on_close read at close"] * 2


def test_json_out_is_the_data(tmp_path) -> None:
    path = tmp_path / "m.json"
    matrix_report.write(data(), str(path))
    assert json.loads(path.read_text()) == data()
