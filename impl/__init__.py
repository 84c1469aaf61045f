"""sockcheck's own fork and thread servers: drop-ins for socketserver's mix-ins.

    from impl import ThreadingTCPServer, StreamRequestHandler

They refine the ``documented`` profile of ``model``; the module docstrings of
``impl.threading_mixin`` and ``impl.forking_mixin`` list where they differ from CPython.
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

from impl.forking_mixin import ForkingMixIn
from impl.servers import (
    ForkingTCPServer,
    ForkingUDPServer,
    ForkingUnixDatagramServer,
    ForkingUnixStreamServer,
    ThreadingTCPServer,
    ThreadingUDPServer,
    ThreadingUnixDatagramServer,
    ThreadingUnixStreamServer,
)
from impl.threading_mixin import ThreadingMixIn

__all__ = [
    "BaseRequestHandler",
    "BaseServer",
    "DatagramRequestHandler",
    "ForkingMixIn",
    "ForkingTCPServer",
    "ForkingUDPServer",
    "ForkingUnixDatagramServer",
    "ForkingUnixStreamServer",
    "StreamRequestHandler",
    "TCPServer",
    "ThreadingMixIn",
    "ThreadingTCPServer",
    "ThreadingUDPServer",
    "ThreadingUnixDatagramServer",
    "ThreadingUnixStreamServer",
    "UDPServer",
    "UnixDatagramServer",
    "UnixStreamServer",
]
