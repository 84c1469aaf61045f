"""What can be checked: the project's impl, an interpreter's stdlib, or any socketserver.py file.

Each runs in an interpreter: the running one unless another is named (`--target python3.7`,
or `--python PATH` for impl and stdlib).
"""

from __future__ import annotations

import re
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
    # --server: the user's server class or factory, as MODULE:NAME or /abs/FILE.py:NAME, built
    # on the module above; and the folder MODULE is imported from (the check's working one).
    server: str | None = None
    server_root: str | None = None
    # BaseServer calls the server makes by methods of its own ((call, method), ...): --contract.
    contract: tuple[tuple[str, str], ...] = ()

    def load_args(self) -> dict[str, Any]:
        args = {"source": self.source, "path": self.path, "name": self.name}
        if self.server is not None:
            args.update(server=self.server, server_root=self.server_root, server_label=self.label)
            if self.contract:
                args["contract"] = dict(self.contract)
        return args


class BadTarget(ValueError):
    """A target that cannot be named or found; the CLI turns it into exit status 2."""


def resolve(
    target: str,
    module: str | None,
    python: str | None = None,
    server: str | None = None,
    contract: str | None = None,
) -> Target:
    """The target named on the command line. --module replaces the stdlib module in it;
    --server checks a server class or factory built on that module instead of its classes."""
    if server is not None:
        if target == "impl":
            raise BadTarget(
                "--server checks a class built on socketserver; import impl's mix-ins in it instead"
            )
        return attrs.evolve(
            resolve(target, module, python), **server_spec(server), contract=_contract(contract)
        )
    if contract is not None:
        raise BadTarget("--contract goes with --server")
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


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def server_spec(spec: str) -> dict[str, Any]:
    """--server MODULE:NAME or FILE.py:NAME as Target fields: a file by its absolute path (a
    replay then finds it from any folder), a module with the folder it is imported from."""
    where, colon, name = spec.rpartition(":")
    if not colon or not where or not _NAME.match(name):
        raise BadTarget(f"--server {spec}: expected MODULE:NAME or FILE.py:NAME (NAME a class or a factory)")
    label = {"label": spec}
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise BadTarget(f"--server {spec}: no such file: {where}")
        return {**label, "server": f"{path.resolve()}:{name}", "server_root": None}
    if not _NAME.match(where):
        raise BadTarget(f"--server {spec}: {where!r} is neither a module name nor a .py file")
    return {**label, "server": spec, "server_root": str(Path.cwd())}


# The same as checker/agent.py's CONTRACT_CALLS, which checks a class's own sockcheck_contract:
# the agent runs in the target interpreter and imports nothing of the checker's.
CONTRACT_CALLS = ("serve_forever", "shutdown", "server_close")


def _contract(text: str | None) -> tuple[tuple[str, str], ...]:
    """--contract CALL=METHOD[,CALL=METHOD]: BaseServer calls the server makes by its own methods."""
    if text is None:
        return ()
    pairs = []
    for item in text.split(","):
        call, equals, method = item.strip().partition("=")
        if not equals or call not in CONTRACT_CALLS or not method.isidentifier():
            calls = ", ".join(CONTRACT_CALLS)
            raise BadTarget(f"--contract {text}: expected CALL=METHOD[,CALL=METHOD], CALL one of {calls}")
        pairs.append((call, method))
    return tuple(sorted(pairs))
