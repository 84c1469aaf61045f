"""The autouse `no_leftovers` fixture fails a test that leaves anything behind (seen here)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

LEAKY_TESTS = """
import os
import socket
import tempfile
import threading

HELD = []


def test_leaves_a_thread():
    done = threading.Event()
    HELD.append(done)
    threading.Thread(target=done.wait, args=(30,), daemon=True).start()


def test_leaves_a_descriptor():
    HELD.append(socket.socket())


def test_leaves_a_zombie():
    if os.fork() == 0:
        os._exit(0)


def test_leaves_a_temporary_file():
    tempfile.mkdtemp(prefix="sockcheck-")


def test_leaves_nothing(tmp_path):
    (tmp_path / "pytest's own tmp_path is not a leftover").write_text("")


def test_zz_release_the_thread():
    HELD[0].set()
"""


def test_no_leftovers_fails_each_kind_of_leftover(pytester: pytest.Pytester) -> None:
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.makepyfile(test_leaky=LEAKY_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist")
    result.assert_outcomes(passed=6, errors=4)  # each leaky test passes, then fails its teardown
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaves_a_thread*",
            "*the test left things behind: threads left running*",
            "*ERROR at teardown of test_leaves_a_descriptor*",
            "*the test left things behind: descriptors left open*",
            "*ERROR at teardown of test_leaves_a_zombie*",
            "*the test left things behind: child processes left*",
            "*ERROR at teardown of test_leaves_a_temporary_file*",
            "*the test left things behind: temporary files left in*sockcheck-*",
        ]
    )
