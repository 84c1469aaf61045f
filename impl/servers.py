"""The concrete servers, built from impl's mix-ins and the standard library's base classes."""

from __future__ import annotations

import socketserver

from impl.bounded_threading_mixin import BoundedThreadingMixIn
from impl.forking_mixin import ForkingMixIn
from impl.thread_pool_mixin import ThreadPoolMixIn
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


class ThreadPoolTCPServer(ThreadPoolMixIn, socketserver.TCPServer):
    pass


class ThreadPoolUDPServer(ThreadPoolMixIn, socketserver.UDPServer):
    pass


class ThreadPoolUnixStreamServer(ThreadPoolMixIn, socketserver.UnixStreamServer):
    pass


class ThreadPoolUnixDatagramServer(ThreadPoolMixIn, socketserver.UnixDatagramServer):
    pass


class BoundedThreadingTCPServer(BoundedThreadingMixIn, socketserver.TCPServer):
    pass


class BoundedThreadingUDPServer(BoundedThreadingMixIn, socketserver.UDPServer):
    pass


class BoundedThreadingUnixStreamServer(BoundedThreadingMixIn, socketserver.UnixStreamServer):
    pass


class BoundedThreadingUnixDatagramServer(BoundedThreadingMixIn, socketserver.UnixDatagramServer):
    pass
