"""The concrete servers, built from impl's mix-ins and the standard library's base classes."""

from __future__ import annotations

import socketserver

from impl.forking_mixin import ForkingMixIn
from impl.threading_mixin import ThreadingMixIn


class ThreadingTCPServer(ThreadingMixIn, socketserver.TCPServer):
    pass


class ThreadingUDPServer(ThreadingMixIn, socketserver.UDPServer):
    pass


class ForkingTCPServer(ForkingMixIn, socketserver.TCPServer):
    pass


class ForkingUDPServer(ForkingMixIn, socketserver.UDPServer):
    pass


class ThreadingUnixStreamServer(ThreadingMixIn, socketserver.UnixStreamServer):
    pass


class ThreadingUnixDatagramServer(ThreadingMixIn, socketserver.UnixDatagramServer):
    pass


class ForkingUnixStreamServer(ForkingMixIn, socketserver.UnixStreamServer):
    pass


class ForkingUnixDatagramServer(ForkingMixIn, socketserver.UnixDatagramServer):
    pass
