"""What can be checked: the project's impl, an interpreter's stdlib, or any socketserver.py file.

Each runs in an interpreter: the running one unless another is named (`--target python3.7`,
or `--python PATH` for impl and stdlib).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import attrs

import impl
from checker.interpreters import Interpreter, NoInterpreter, find, too_old


@attrs.frozen
class Target:
    label: str  # how reports name it
    python: str  # the interpreter the agent runs in
    source: str  # "package" (import name from path), "stdlib", or "file" (path as socketserver)
    path: str | None = None
    name: str | None = None
    isolation: tuple[str, ...] = ("-I",)  # the interpreter's flags to shut out the environment

    def load_args(self) -> dict[str, Any]:
        return {"source": self.source, "path": self.path, "name": self.name}


class BadTarget(ValueError):
    """A target that cannot be named or found; the CLI turns it into exit status 2."""


def resolve(target: str, module: str | None, python: str | None = None) -> Target:
    """The target named on the command line. --module replaces the stdlib module in it."""
    if target not in ("impl", "stdlib"):
        if python is not None:
            raise BadTarget(f"--target {target} names an interpreter; --python goes with impl or stdlib")
        target, python, flag = "stdlib", target, "--target"
    else:
        flag = "--python"
    interpreter = _interpreter(python, flag)
    run = {"python": interpreter.executable, "isolation": interpreter.isolation}
    if module is not None:
        if target != "stdlib":
            raise BadTarget("--module replaces the stdlib socketserver; it cannot go with --target impl")
        path = Path(module)
        if not path.is_file():
            raise BadTarget(f"--module {module}: no such file")
        return Target(label=f"{path}", source="file", path=str(path.resolve()), **run)
    if target == "impl":
        root = Path(impl.__file__).resolve().parent.parent
        return Target(label="impl", source="package", path=str(root), name="impl", **run)
    return Target(label="stdlib", source="stdlib", **run)


def _interpreter(python: str | None, flag: str) -> Interpreter:
    if python is None:  # the running interpreter: no probe needed
        version: Any = tuple(sys.version_info[:3])
        return Interpreter(version, sys.implementation.name, sys.executable, path=sys.executable)
    try:
        found = find(python)
    except NoInterpreter as exc:
        raise BadTarget(f"{flag} {exc}") from None
    if too_old(found.version):
        raise BadTarget(
            f"{flag} {python}: {found.label} is too old: the checker runs targets on 2.7 and on 3.6 or newer"
        )
    return found
