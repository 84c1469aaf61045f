"""The explorer's answers kept on disk between runs.

Every `sockcheck check` reports its coverage of the model against what the explorer reaches
(checker.coverage), and that exploration costs about 2 s a kind, paid again by every run of
the command line, `--no-cover` too. What it returns depends only on the model's source and
its arguments, so it is kept in a folder (SOCKCHECK_CACHE, default .sockcheck/cache; "none":
no cache) under a key made of both: any change to model/ makes every entry a miss. An entry
that cannot be read is made again, never trusted.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import model

T = TypeVar("T")
CACHE_VARIABLE = "SOCKCHECK_CACHE"
DEFAULT_CACHE = Path(".sockcheck", "cache")


def folder() -> Path | None:
    chosen = os.environ.get(CACHE_VARIABLE) or str(DEFAULT_CACHE)
    return None if chosen.lower() == "none" else Path(chosen)


@functools.cache
def model_digest() -> str:
    return digest_of(Path(model.__file__).parent)


def digest_of(root: Path) -> str:
    """A digest of every source file under `root`, by name and content."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def key_of(name: str, arguments: tuple[object, ...]) -> str:
    """The entry's file name: its arguments' repr (frozen attrs values and enums: stable),
    the model's source and the interpreter's line (pickles are read by the same line)."""
    raw = repr((model_digest(), sys.version_info[:2], arguments)).encode()
    return f"{name}-{hashlib.sha256(raw).hexdigest()[:32]}.pickle"


def cached(name: str, arguments: tuple[object, ...], make: Callable[[], T]) -> T:
    """`make()`, or what it returned before for the same arguments and model."""
    where = folder()
    if where is None:
        return make()
    path = where / key_of(name, arguments)
    try:
        return pickle.loads(path.read_bytes())
    except FileNotFoundError:
        pass
    except Exception:  # a torn or foreign file: made again below, and written over
        pass
    value = make()
    _write(path, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    return value


def _write(path: Path, data: bytes) -> None:
    """Whole or not at all: two runs at once (xdist, `--jobs`) may write the same entry."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".part")
    except OSError:  # a read-only folder: the run goes on without the cache
        return
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except OSError:  # a full disk: no entry, and no torn one left behind
        Path(temporary).unlink(missing_ok=True)
