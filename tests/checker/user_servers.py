"""Server classes and factories as a user writes them, for `--server FILE.py:NAME` tests.

Python 2.7-safe (the agent imports this file in the target interpreter).
"""

try:
    import socketserver
except ImportError:  # 2.7
    import SocketServer as socketserver


class ThreadingServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    pass


class DaemonicServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True


class ForkingUnixServer(socketserver.ForkingMixIn, socketserver.UnixStreamServer):
    max_children = 3


class CloseWithoutSuper(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """Closes its socket itself and never calls ThreadingMixIn.server_close(): nothing is joined."""

    def server_close(self):
        self.socket.close()


class App(object):
    """An application object a server is built around (a constructor the checker cannot call)."""


class AppServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    def __init__(self, host_port, app, handler):
        self.app = app
        socketserver.TCPServer.__init__(self, host_port, handler)


def app_server(server_address, handler):
    """The factory form: (server_address, RequestHandlerClass) -> server."""
    return AppServer(server_address, App(), handler)


def unix_factory(server_address, handler):
    """A factory that only builds a Unix server: its transport is found by trying."""
    return socketserver.ThreadingUnixDatagramServer(server_address, handler)


class NotAServer(object):
    pass


class OwnHandler(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """Runs a handler of its own whatever it is given: no probe can be put in."""

    def __init__(self, server_address, handler):
        socketserver.TCPServer.__init__(self, server_address, socketserver.BaseRequestHandler)


class Synchronous(socketserver.TCPServer):
    pass


def broken_factory(server_address, handler):
    raise RuntimeError("no application configured")


def returns_nothing(server_address, handler):
    return None


NOT_CALLABLE = 3


class StopServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """Stopped by a method of its own: its contract says stop() stands for shutdown()."""

    sockcheck_contract = {"shutdown": "stop"}

    def stop(self):
        self.shutdown()


class StopReturnsEarly(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """stop() asks the loop to stop and returns without waiting for it."""

    sockcheck_contract = {"shutdown": "stop"}

    def stop(self):
        self._BaseServer__shutdown_request = True


class StopAlsoCloses(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """stop() stops the loop and closes the server too: beyond shutdown()'s contract."""

    sockcheck_contract = {"shutdown": "stop"}

    def stop(self):
        self.shutdown()
        self.server_close()


class ContractOfNothing(socketserver.ThreadingMixIn, socketserver.TCPServer):
    sockcheck_contract = {"shutdown": "halt"}
