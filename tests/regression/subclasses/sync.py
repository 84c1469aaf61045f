"""Synchronous server subclasses (no mix-in) as people write them: broken ones, and beside
several the correct version of the same idea.

Each broken class's docstring says what its author meant and what is wrong with it;
tests/regression/test_subclasses.py names the guarantee `sockcheck check --server` finds it
by (the sync kind: no ThreadingMixIn or ForkingMixIn in the MRO) and the length of the
minimal counterexample. Python 2.7-safe, as threads.py.
"""

import logging
import threading

try:
    import socketserver
except ImportError:  # 2.7
    import SocketServer as socketserver

log = logging.getLogger("sockcheck.subclasses")
log.addHandler(logging.NullHandler())
log.propagate = False


class ProcessWithoutShutdown(socketserver.TCPServer):
    """Meant: the same as TCPServer, with a log line per request. process_request() is
    re-written instead of extended, and the shutdown_request() BaseServer's ends with is
    lost: no request is ever shut down or closed (each client waits for EOF forever)."""

    def process_request(self, request, client_address):
        log.debug("request from %s", client_address)
        self.finish_request(request, client_address)


class ProcessCallsSuper(socketserver.TCPServer):
    """The correct version: log, then BaseServer's process_request()."""

    def process_request(self, request, client_address):
        log.debug("request from %s", client_address)
        socketserver.TCPServer.process_request(self, request, client_address)


class HomemadeThreads(socketserver.TCPServer):
    """Meant: a threading server without importing ThreadingMixIn. With no mix-in in its
    MRO it is a synchronous server to every reader (and to sockcheck): handle_request()
    returns before the handler has run (`sockcheck check --kind thread` checks it as the
    threading server it is, where its non-daemon threads are never joined at close)."""

    def process_request(self, request, client_address):
        def run():
            try:
                self.finish_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)

        threading.Thread(target=run).start()


class ProcessSwallows(socketserver.TCPServer):
    """Meant: a bad client must not take the server down. process_request() catches every
    Exception of the handler and logs it at debug: handle_error is never called, and the
    request is never shut down after a failure."""

    def process_request(self, request, client_address):
        try:
            self.finish_request(request, client_address)
            self.shutdown_request(request)
        except Exception:
            log.debug("request from %s failed", client_address)


class ProcessCatchesAll(socketserver.TCPServer):
    """Meant: report every failure, whatever it is (2.7's habit of a bare except). The
    handler's SystemExit reaches handle_error and the loop goes on: on 3, SystemExit must
    leave handle_request() and serve_forever() (bpo-23430)."""

    def process_request(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except:  # noqa: E722 - the bug
            self.handle_error(request, client_address)
        self.shutdown_request(request)


class VerifyRaises(socketserver.TCPServer):
    """Meant: refuse clients from outside a network, by raising from verify_request() (as
    if it were a check function). _handle_request_noblock() does not catch it: the
    exception leaves handle_request(), and the request is never closed."""

    allowed_hosts = ("10.0.0.1",)  # loopback is not among them: every client is refused

    def verify_request(self, request, client_address):
        if client_address[0] not in self.allowed_hosts:
            raise RuntimeError("client %s not allowed" % (client_address[0],))  # 2.7 has no PermissionError
        return True
