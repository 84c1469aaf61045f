"""Finding Python interpreters: by name or path, and every one on PATH and in a pyenv root.

Nothing here knows a path of any machine. An interpreter is whatever answers the probe below
when run; a name that does not (a pyenv shim for a version that is not selected, a dangling
link) is passed over for the next candidate, and a name nothing answers for is a BadTarget
with its reason.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

import attrs

# Runs on 2.7 too: no f-strings, one line of output.
_PROBE = (
    "import platform, sys; "
    "print(' '.join([platform.python_implementation().lower(), "
    "'.'.join(map(str, sys.version_info[:3])), sys.executable]))"
)
_PROBE_SECONDS = 15.0  # a cold interpreter on a loaded machine; a hung one is passed over
_NAME = re.compile(r"^python(\d+(\.\d+)?)?$")


class NoInterpreter(ValueError):
    """A name or path that no working interpreter answers for."""


def too_old(version: tuple[int, int, int]) -> bool:
    """Older than what the agent runs on (2.7, and 3.6 or newer: checker/agent.py)."""
    return version < (2, 7, 0) or (3, 0, 0) <= version < (3, 6, 0)


@attrs.frozen(order=True)
class Interpreter:
    version: tuple[int, int, int]
    implementation: str  # "cpython", "pypy", ...
    executable: str  # sys.executable as the interpreter reports it
    path: str = attrs.field(eq=False, order=False)  # how it was found

    @property
    def label(self) -> str:
        return f"{self.implementation} {'.'.join(map(str, self.version))}"

    @property
    def isolation(self) -> tuple[str, ...]:
        """Flags that keep the environment and user site out (-I is 3.4+)."""
        return ("-I",) if self.version >= (3, 4, 0) else ("-E", "-s")


def probe(path: str) -> Interpreter | None:
    """The interpreter at `path`, or None if it does not run."""
    try:
        done = subprocess.run(
            [path, "-E", "-s", "-c", _PROBE],
            capture_output=True,
            timeout=_PROBE_SECONDS,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    words = done.stdout.decode(errors="replace").split()
    if done.returncode != 0 or len(words) < 3:
        return None
    try:
        version = tuple(int(part) for part in words[1].split("."))
    except ValueError:
        return None
    if len(version) != 3:
        return None
    return Interpreter(version=version, implementation=words[0], executable=" ".join(words[2:]), path=path)  # type: ignore[arg-type]


def pyenv_root() -> Path | None:
    """PYENV_ROOT, else what `pyenv root` says, else None."""
    root = os.environ.get("PYENV_ROOT")
    if root:
        return Path(root)
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return None
    try:
        done = subprocess.run([pyenv, "root"], capture_output=True, timeout=_PROBE_SECONDS)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = done.stdout.decode(errors="replace").strip()
    return Path(text) if done.returncode == 0 and text else None


def _path_dirs() -> list[Path]:
    return [Path(d) for d in os.environ.get("PATH", "").split(os.pathsep) if d]


def _pyenv_bins() -> list[Path]:
    root = pyenv_root()
    if root is None or not (root / "versions").is_dir():
        return []
    return sorted((root / "versions").glob("*/bin"))


def _named(folder: Path, name: str) -> Path | None:
    candidate = folder / name
    return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None


def find(name: str) -> Interpreter:
    """The interpreter a --target or --python names: a path, or a name such as python3.7.

    A name is looked up on PATH and then in each pyenv version: a pyenv shim answers only
    for the versions pyenv has selected, so the versions' own binaries come next.
    """
    if os.sep in name:
        found = probe(name)
        if found is None:
            why = "no such file" if not Path(name).exists() else "does not run as a Python interpreter"
            raise NoInterpreter(f"{name}: {why}")
        return found
    if not _NAME.match(name):
        raise NoInterpreter(f"{name}: expected impl, stdlib, a name such as python3.7, or a path")
    for folder in [*_path_dirs(), *_pyenv_bins()]:
        path = _named(folder, name)
        found = probe(str(path)) if path is not None else None
        if found is not None:
            return found
    raise NoInterpreter(f"{name}: no such interpreter on PATH or in a pyenv root")


def _candidates() -> Iterator[Path]:
    for folder in [*_path_dirs(), *_pyenv_bins()]:
        try:
            names = sorted(entry.name for entry in folder.iterdir())
        except OSError:
            continue
        for entry in names:
            if _NAME.match(entry):
                path = _named(folder, entry)
                if path is not None:
                    yield path


def discover(extra: Iterable[str] = ()) -> list[Interpreter]:
    """Every distinct interpreter on PATH, in a pyenv root, and in `extra`, oldest first.

    Two names for the same installation (python3 and python3.11, a shim and its target)
    are one interpreter: the first name found stands for it.
    """
    seen: dict[str, Interpreter] = {}
    for path in [*map(Path, extra), *_candidates()]:
        found = probe(str(path))
        if found is None:
            continue
        key = os.path.realpath(found.executable)
        seen.setdefault(key, found)
    return sorted(seen.values())
