"""A benchmark's figures, each beside its target: what benchmarks/run.py gathers and prints."""

from __future__ import annotations

import json
from pathlib import Path

import attrs


@attrs.frozen
class Figure:
    what: str  # "checked step, impl thread"
    value: str  # "4.6 x the raw request (2.31 ms)"
    target: str  # "<= 2 x" (issue 7), or "-" where the issue sets none
    met: bool | None  # None: no target

    @property
    def verdict(self) -> str:
        return "-" if self.met is None else "met" if self.met else "MISSED"


def write(path: str | None, figures: list[Figure]) -> None:
    if path is not None:
        Path(path).write_text(json.dumps([attrs.asdict(f) for f in figures], indent=1))


def read(path: Path) -> list[Figure]:
    return [Figure(**raw) for raw in json.loads(path.read_text())]


def table(figures: list[Figure]) -> list[str]:
    what = max((len(f.what) for f in figures), default=0)
    value = max((len(f.value) for f in figures), default=0)
    target = max((len(f.target) for f in figures), default=0)
    return [f"  {f.what:{what}}  {f.value:{value}}  target {f.target:{target}}  {f.verdict}" for f in figures]
