"""What can be checked: the project's impl, the running stdlib, or any socketserver.py file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import attrs

import impl


@attrs.frozen
class Target:
    label: str  # how reports name it
    python: str  # the interpreter the agent runs in
    source: str  # "package" (import name from path), "stdlib", or "file" (path as socketserver)
    path: str | None = None
    name: str | None = None

    def load_args(self) -> dict[str, Any]:
        return {"source": self.source, "path": self.path, "name": self.name}


class BadTarget(ValueError):
    """A target that cannot be named or found; the CLI turns it into exit status 2."""


def resolve(target: str, module: str | None) -> Target:
    """The target named on the command line. --module replaces the stdlib module in it."""
    if target not in ("impl", "stdlib"):
        raise BadTarget(f"--target {target}: expected impl or stdlib")
    if module is not None:
        if target != "stdlib":
            raise BadTarget("--module replaces the stdlib socketserver; it cannot go with --target impl")
        path = Path(module)
        if not path.is_file():
            raise BadTarget(f"--module {module}: no such file")
        return Target(label=str(path), python=sys.executable, source="file", path=str(path.resolve()))
    if target == "impl":
        root = Path(impl.__file__).resolve().parent.parent
        return Target(label="impl", python=sys.executable, source="package", path=str(root), name="impl")
    return Target(label="stdlib", python=sys.executable, source="stdlib")
