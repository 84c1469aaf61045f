"""Where `sockcheck check --db` keeps Hypothesis's failing examples: a folder, or a Redis server.

A folder (Hypothesis's DirectoryBasedExampleDatabase) can be shared as it is: a network
folder that every machine mounts, or one copied between them. A Redis server (Hypothesis's
own RedisExampleDatabase, in hypothesis.extra.redis; it needs the `redis` client package,
the extra `sockcheck[redis]`) is shared by every machine that reaches it, with no folder to
mount. Either way the examples are keyed by what is checked, never by where
(checker.replay.database_key), so what one machine saves is what the others try first.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase

REDIS_SCHEMES = ("redis://", "rediss://")
# Seconds to reach a Redis server, at the start of a check: one that is not there is a run
# that cannot be made (exit status 2), found before any example runs.
CONNECT_TIMEOUT = 5.0


class BadDatabase(ValueError):
    """A database that cannot be used: the CLI turns it into exit status 2."""


def open_database(spec: str) -> ExampleDatabase | None:
    """The database `spec` names: "none" (None), a redis:// URL, or a folder."""
    if spec.lower() == "none":
        return None
    if spec.startswith(REDIS_SCHEMES):
        return _redis(spec)
    folder = Path(spec)
    if folder.exists() and not folder.is_dir():
        raise BadDatabase(f"{spec}: not a directory")
    return DirectoryBasedExampleDatabase(str(folder))


def _redis(url: str) -> ExampleDatabase:
    try:
        from hypothesis.extra.redis import RedisExampleDatabase
        from redis import Redis
        from redis.exceptions import RedisError
    except ImportError:
        raise BadDatabase(f"{url}: needs the redis package (pip install 'sockcheck[redis]')") from None
    try:
        client = Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT)
        client.ping()  # now, not as Hypothesis first reads the database in the middle of a run
    except (RedisError, ValueError) as exc:
        raise BadDatabase(f"{url}: no Redis server answers there ({exc})") from None
    return RedisExampleDatabase(client)
