"""What can be checked: the project's impl, an interpreter's stdlib, or any socketserver.py file.

Each runs in an interpreter: the running one unless another is named (`--target python3.7`,
or `--python PATH` for impl and stdlib).
"""

from __future__ import annotations

import importlib.machinery
import re
import sys
import sysconfig
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

    def load_args(self) -> dict[str, Any]:
        args = {"source": self.source, "path": self.path, "name": self.name}
        if self.server is not None:
            args.update(server=self.server, server_root=self.server_root, server_label=self.label)
        return args


class BadTarget(ValueError):
    """A target that cannot be named or found; the CLI turns it into exit status 2."""


def resolve(target: str, module: str | None, python: str | None = None, server: str | None = None) -> Target:
    """The target named on the command line. --module replaces the stdlib module in it;
    --server checks a server class or factory built on that module instead of its classes."""
    if server is not None:
        if target == "impl":
            raise BadTarget(
                "--server checks a class built on socketserver; import impl's mix-ins in it instead"
            )
        return attrs.evolve(resolve(target, module, python), **server_spec(server))
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


def object_spec(server: object) -> tuple[str, str | None]:
    """A server class or factory object as --server names it, and the folder its module is
    imported from (None: from the interpreter's own path). MODULE:QUALNAME where the module
    is importable by that name from sys.path; else the module's FILE.py:QUALNAME. BadTarget
    for an object the agent, in another interpreter, could not import by name: one made in a
    function, a lambda, one in __main__, one not found under its own name."""
    name = getattr(server, "__qualname__", None)
    module_name = getattr(server, "__module__", None)
    if not callable(server) or not isinstance(name, str) or not isinstance(module_name, str):
        raise BadTarget(
            f"{server!r}: expected a server class or factory, or a string MODULE:NAME or FILE.py:NAME"
        )
    shown = f"{module_name}.{name}"
    if "<" in name:  # f.<locals>.Server, <lambda>
        raise BadTarget(
            f"{shown} is made inside a function or is a lambda: the checker imports the server by "
            "name in another interpreter, so define it at module level"
        )
    if module_name == "__main__":
        raise BadTarget(
            f"{shown} is defined in __main__, which the checker cannot import in another "
            "interpreter: define it at module level in a module of its own and import it from there"
        )
    module = sys.modules.get(module_name)
    found: object = module
    for part in name.split("."):
        found = getattr(found, part, None)
    if module is None or found is not server:
        raise BadTarget(
            f"{shown} is not what its module has under that name: define it at module level "
            "under its own name"
        )
    file = getattr(module, "__file__", None)
    root = _import_root(module_name, file)
    if root is not None:
        return f"{module_name}:{name}", (None if root in _own_paths() else root)
    if file is None or not file.endswith(".py"):
        raise BadTarget(f"{shown}: its module is neither importable by name from sys.path nor a .py file")
    return f"{Path(file).resolve()}:{name}", None


def _import_root(module_name: str, file: str | None) -> str | None:
    """The folder on sys.path that `module_name` is imported from, if that finds `file`."""
    if file is None:
        return None
    top, *rest = module_name.split(".")
    try:
        spec = importlib.machinery.PathFinder.find_spec(top, sys.path)  # sys.path, not sys.modules
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    locations = list(spec.submodule_search_locations or ())
    if locations:
        root, base = Path(locations[0]).parent, Path(locations[0]).joinpath(*rest)
        expected = {base.with_suffix(".py"), base / "__init__.py"} if rest else {base / "__init__.py"}
    elif spec.origin is not None and not rest:
        root, expected = Path(spec.origin).parent, {Path(spec.origin)}
    else:
        return None
    if Path(file).resolve() not in {path.resolve() for path in expected}:
        return None
    return str(root.resolve())


def _own_paths() -> set[str]:
    """The interpreter's own library folders: a module there is found without a root."""
    paths = sysconfig.get_paths()
    return {str(Path(paths[key]).resolve()) for key in ("stdlib", "platstdlib", "purelib", "platlib")}
