"""sockcheck's own fork and thread servers: drop-ins for socketserver's mix-ins.

    from impl import ThreadingTCPServer, StreamRequestHandler

They refine the ``documented`` profile of ``model``; the module docstrings of
``impl.threading_mixin`` and ``impl.forking_mixin`` list where they differ from CPython.
``ThreadPoolMixIn`` and ``BoundedThreadingMixIn`` are the two mix-ins people build on
ThreadingMixIn, written as references: each module docstring states, numbered, what it must
do to be a drop-in for ThreadingMixIn (docs/pool-contract.md, with the test of each point).
The base classes and request handlers are the standard library's own.

This package imports nothing from ``model`` or ``checker``.
"""

from socketserver import (
    BaseRequestHandler,
    BaseServer,
    DatagramRequestHandler,
    StreamRequestHandler,
    TCPServer,
    UDPServer,
    UnixDatagramServer,
    UnixStreamServer,
)

from impl.bounded_threading_mixin import BoundedThreadingMixIn
from impl.forking_mixin import ForkingMixIn
from impl.servers import (
    BoundedThreadingTCPServer,
    BoundedThreadingUDPServer,
    BoundedThreadingUnixDatagramServer,
    BoundedThreadingUnixStreamServer,
    ForkingTCPServer,
    ForkingUDPServer,
    ForkingUnixDatagramServer,
    ForkingUnixStreamServer,
    ThreadingTCPServer,
    ThreadingUDPServer,
    ThreadingUnixDatagramServer,
    ThreadingUnixStreamServer,
    ThreadPoolTCPServer,
    ThreadPoolUDPServer,
    ThreadPoolUnixDatagramServer,
    ThreadPoolUnixStreamServer,
)
from impl.thread_pool_mixin import ThreadPoolMixIn
from impl.threading_mixin import ThreadingMixIn

__all__ = [
    "BaseRequestHandler",
    "BaseServer",
    "BoundedThreadingMixIn",
    "BoundedThreadingTCPServer",
    "BoundedThreadingUDPServer",
    "BoundedThreadingUnixDatagramServer",
    "BoundedThreadingUnixStreamServer",
    "DatagramRequestHandler",
    "ForkingMixIn",
    "ForkingTCPServer",
    "ForkingUDPServer",
    "ForkingUnixDatagramServer",
    "ForkingUnixStreamServer",
    "StreamRequestHandler",
    "TCPServer",
    "ThreadPoolMixIn",
    "ThreadPoolTCPServer",
    "ThreadPoolUDPServer",
    "ThreadPoolUnixDatagramServer",
    "ThreadPoolUnixStreamServer",
    "ThreadingMixIn",
    "ThreadingTCPServer",
    "ThreadingUDPServer",
    "ThreadingUnixDatagramServer",
    "ThreadingUnixStreamServer",
    "UDPServer",
    "UnixDatagramServer",
    "UnixStreamServer",
]
