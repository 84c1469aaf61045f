"""No false alarm on the stdlib's own subclasses of socketserver, checked as classes (--server).

Each refines the running interpreter's profile (a class with no mix-in as the sync kind); where
it starts with attributes of its own (ThreadingHTTPServer's daemon_threads), the model starts
with them too.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from checker.driver import Driver
from checker.run import check_kind, server_attributes
from checker.targets import resolve
from model import Kind, Transport, profile_for_version

from .test_refines import _report

EXAMPLES = int(os.environ.get("SOCKCHECK_EXAMPLES", "40"))
COMPOSED = Path(__file__).with_name("stdlib_servers.py")
THREADS = (("block_on_close", True), ("daemon_threads", False))
SERVERS = [
    ("http.server:ThreadingHTTPServer", Kind.THREAD, (("block_on_close", True), ("daemon_threads", True))),
    (f"{COMPOSED}:ThreadingXMLRPCServer", Kind.THREAD, THREADS),
    (f"{COMPOSED}:ForkingHTTPServer", Kind.FORK, (("block_on_close", True), ("max_children", 40))),
    (
        "socketserver:ThreadingUnixStreamServer",
        Kind.THREAD,
        (("block_on_close", True), ("daemon_threads", False)),
    ),
    # No mix-in: the sync kind, the handler run inside handle_request()'s call.
    ("http.server:HTTPServer", Kind.SYNC, ()),
    ("xmlrpc.server:SimpleXMLRPCServer", Kind.SYNC, ()),
    ("socketserver:TCPServer", Kind.SYNC, ()),
    ("socketserver:UDPServer", Kind.SYNC, ()),
]


@pytest.fixture(params=SERVERS, ids=lambda s: s[0].rpartition(":")[2])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[Driver, Kind, tuple]]:
    spec, kind, attributes = request.param
    driver = Driver(resolve("stdlib", None, None, spec), deadline=1.0)
    driver.load()
    yield driver, kind, attributes
    driver.quit()


def test_a_stdlib_server_class_refines_its_interpreters_profile(server: tuple[Driver, Kind, tuple]) -> None:
    driver, kind, attributes = server
    assert driver.info is not None and driver.info.server is not None
    assert Kind(driver.info.server["kind"]) is kind
    assert server_attributes(driver.info, kind) == attributes
    profile = profile_for_version(sys.version_info[:3])
    assert profile is not None
    transport = Transport(driver.info.server["transport"])
    result = check_kind(driver, profile, kind, transport=transport, examples=EXAMPLES, seed=0, cover=True)
    assert result.passed, _report(result)
    assert result.attributes == attributes
