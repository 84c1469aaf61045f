"""How long sockcheck takes to find each historical bug: a Markdown table for the README.

`python -m tests.regression.history_table` runs every entry of tests/regression/history.py
with its committed examples and seed, as the test does, and prints one row per entry: the bug,
its issue, the interpreter it was re-injected into, the guarantee that caught it, the length
of the counterexample and the seconds sockcheck took (the --json report's, search and
shrinking included; the interpreter's start is not). An entry that cannot be run says why.

Beside it, the peer: the same mutated file run through that interpreter's own
test_socketserver (checker/peer.py), with which of its tests failed and how long it took.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from checker.peer import PeerError, PeerResult, run_peer
from tests.regression.history import HISTORY, Entry, check, interpreter, module_file
from tests.regression.test_variants import found


@attrs.frozen
class Run:
    """What one entry's check gave; `why` says why it was not run (then the rest is empty)."""

    entry: Entry
    report: dict[str, Any] | None = None
    status: int | None = None
    why: str = ""
    peer: PeerResult | None = None
    peer_error: str = ""

    @property
    def steps(self) -> int | None:
        return None if self.report is None else found(self.report).get(self.entry.guarantee)

    @property
    def seconds(self) -> float | None:
        return None if self.report is None else sum(r["seconds"] for r in self.report["results"])

    @property
    def version(self) -> str:
        if self.report is None:
            return self.entry.line
        return ".".join(map(str, self.report["python"]["version"]))


@attrs.frozen
class Column:
    header: str
    cell: Callable[[Run], str]


def _steps(run: Run) -> str:
    if run.why:
        return "—"
    return "not found" if run.steps is None else str(run.steps)


def _seconds(run: Run) -> str:
    return "—" if run.seconds is None else f"{run.seconds:.1f}"


def _peer(run: Run) -> str:
    """Whether CPython's own suite catches it: by which tests, or by hanging."""
    peer = run.peer
    if peer is None:
        return f"not run: {run.peer_error}" if run.peer_error else "—"
    if peer.hung:
        return "caught: hangs"
    if peer.passed:
        return "missed"
    names = sorted({name.rsplit(".", 1)[-1].split(" ")[0] for name in peer.failed})
    return "caught: " + ", ".join(f"`{n}`" for n in names)


def _peer_seconds(run: Run) -> str:
    return "—" if run.peer is None else f"{run.peer.seconds:.1f}"


COLUMNS: list[Column] = [
    # A table cell gives only the head of why an entry was not run; history.py has the rest.
    Column("bug", lambda run: run.entry.what + (f" (not run: {run.why.split(': ')[0]})" if run.why else "")),
    Column("issue", lambda run: run.entry.issue),
    Column("interpreter", lambda run: f"CPython {run.version}"),
    Column("guarantee", lambda run: f"`{run.entry.guarantee}`"),
    Column("steps", _steps),
    Column("sockcheck s", _seconds),
    Column("CPython's test_socketserver", _peer),
    Column("its s", _peer_seconds),
]


def run(entry: Entry) -> Run:
    python = interpreter(entry.line)
    if python is None:
        return Run(entry, why=f"no CPython {entry.line} found")
    why = entry.missing()
    with tempfile.TemporaryDirectory() as folder:
        status, report = (None, None) if why else check(entry, python, Path(folder))
        # CPython's own suite runs even where sockcheck cannot see the bug yet
        mutated = entry.write(module_file(python), Path(folder))
        try:
            peer, peer_error = run_peer(python, mutated), ""
        except PeerError as exc:
            peer, peer_error = None, str(exc)
    why = f"the checker needs {why}" if why else ""
    return Run(entry, report, status, why=why, peer=peer, peer_error=peer_error)


def table(runs: list[Run]) -> str:
    lines = ["| " + " | ".join(c.header for c in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(c.cell(r) for r in [run] for c in COLUMNS) + " |" for run in runs]
    return "\n".join(lines)


def main() -> int:
    runs = []
    for entry in HISTORY:
        print(f"{entry.name}...", file=sys.stderr, flush=True)
        runs.append(run(entry))
    print(table(runs))
    # Like the test: every entry that was run must have been found, minimally.
    return 0 if all(r.why or r.steps == r.entry.steps for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
