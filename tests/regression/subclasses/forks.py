"""Forking server subclasses as people write them: broken ones, and beside several the
correct version of the same idea.

Each broken class's docstring says what its author meant and what is wrong with it;
tests/regression/test_subclasses.py names the guarantee `sockcheck check --server` finds it
by and the length of the minimal counterexample. Python 2.7-safe where it can be (the agent
imports this file in the target interpreter): the mix-ins are called by name, not through
super(). ForkingMixIn.collect_children(blocking=...) is 3.7+; the classes that call it say so.
"""

import errno
import logging
import os

try:
    import socketserver
except ImportError:  # 2.7
    import SocketServer as socketserver

log = logging.getLogger("sockcheck.subclasses")
log.addHandler(logging.NullHandler())
log.propagate = False


class _Base(socketserver.ForkingMixIn, socketserver.TCPServer):
    allow_reuse_address = True


def _reap(pids, flags):
    """waitpid() each of `pids` with `flags`; the ones that are gone are removed."""
    for pid in list(pids):
        try:
            done, _ = os.waitpid(pid, flags)
        except OSError as exc:
            if exc.errno != errno.ECHILD:
                raise
            done = pid
        if done:
            pids.remove(pid)


# --- the loop's and the timeout's reaping -------------------------------------------------


class ServiceActionsForgetsSuper(_Base):
    """Meant: a heartbeat in the serve_forever() loop. service_actions() is overridden
    without calling the mix-in's, which is where a forking server reaps its children:
    every exited child stays a zombie while the loop runs."""

    def service_actions(self):
        self.beats = getattr(self, "beats", 0) + 1


class ServiceActionsCallsSuper(_Base):
    """The correct version: the heartbeat, then the mix-in's service_actions()."""

    def service_actions(self):
        self.beats = getattr(self, "beats", 0) + 1
        socketserver.ForkingMixIn.service_actions(self)


class HandleTimeoutOverridden(_Base):
    """Meant: log when the server is idle. handle_timeout() is overridden (ForkingMixIn's
    says "may be extended, do not override"), so a handle_request() that times out no
    longer reaps the children that exited."""

    def handle_timeout(self):
        log.info("idle: no request in %s s", self.timeout)


class HandleTimeoutExtended(_Base):
    """The correct version: log, then the mix-in's handle_timeout()."""

    def handle_timeout(self):
        log.info("idle: no request in %s s", self.timeout)
        socketserver.ForkingMixIn.handle_timeout(self)


class CollectIgnoresMaxChildren(_Base):
    """Meant: a cheaper collect_children() that never blocks the loop. It reaps with
    WNOHANG only, so at max_children it no longer waits for a child to exit: the loop
    accepts and forks past the cap."""

    max_children = 2

    def collect_children(self, **kwargs):
        _reap(self.active_children or set(), os.WNOHANG)


# --- server_close() ---------------------------------------------------------------------


class CloseSkipsMixIn(_Base):
    """Meant: close the listening socket, the 2.7 way (naming the base, no super()). It
    names TCPServer, so ForkingMixIn.server_close() never runs: close neither waits for the
    children nor reaps them."""

    def server_close(self):
        log.info("closing %s", self.server_address)
        socketserver.TCPServer.server_close(self)


class CloseCallsMixIn(_Base):
    """The correct version: the mix-in's server_close() (it closes, then waits and reaps)."""

    def server_close(self):
        log.info("closing %s", self.server_address)
        socketserver.ForkingMixIn.server_close(self)


class CloseCollectsWithoutBlocking(_Base):
    """Meant: reap the children at close. It calls collect_children() as the loop does,
    without blocking=True (3.7+'s server_close() passes block_on_close): children still
    running are neither waited for nor, later, reaped."""

    def server_close(self):
        socketserver.TCPServer.server_close(self)
        self.collect_children()


# --- a forking server's own process_request() ------------------------------------------------


class OwnPidsNeverWaited(_Base):
    """Meant: its own fork, to keep a list of the children for a status page. The pids are
    listed and never waited for: no loop turn, timeout or close reaps them (zombies), and
    close waits for none."""

    def process_request(self, request, client_address):
        pid = os.fork()
        if pid:
            self.pids = getattr(self, "pids", [])
            self.pids.append(pid)
            self.close_request(request)
            return
        status = 1
        try:
            self.finish_request(request, client_address)
            status = 0
        except Exception:
            self.handle_error(request, client_address)
        finally:
            try:
                self.shutdown_request(request)
            finally:
                os._exit(status)


class OwnPidsReapedAtCloseNoHang(OwnPidsNeverWaited):
    """Meant: reap its own children at close. It waits on its list with WNOHANG only, so
    server_close() returns while children still run, and the ones that exit later stay
    zombies (and the loop never reaps them either)."""

    def server_close(self):
        socketserver.TCPServer.server_close(self)
        _reap(getattr(self, "pids", []), os.WNOHANG)


class ChildExitsZero(_Base):
    """Meant: a child that always ends cleanly, whatever its handler did. Its finally calls
    os._exit(0): a child whose handler raised exits with status 0, not 1."""

    def process_request(self, request, client_address):
        pid = os.fork()
        if pid:
            if self.active_children is None:
                self.active_children = set()
            self.active_children.add(pid)
            self.close_request(request)
            return
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            try:
                self.shutdown_request(request)
            finally:
                os._exit(0)


class ParentKeepsItsCopy(_Base):
    """Meant: the mix-in's fork, with the child's pid logged. The parent returns without
    closing its copy of the connection: the server process leaks a descriptor per request,
    and a client never sees EOF while the parent holds it."""

    def process_request(self, request, client_address):
        pid = os.fork()
        if pid:
            if self.active_children is None:
                self.active_children = set()
            self.active_children.add(pid)
            log.info("child %d for %s", pid, client_address)
            return
        status = 1
        try:
            self.finish_request(request, client_address)
            status = 0
        except Exception:
            self.handle_error(request, client_address)
        finally:
            try:
                self.shutdown_request(request)
            finally:
                os._exit(status)


class ParentClosesItsCopy(ParentKeepsItsCopy):
    """The correct version: the same fork, and the parent closes its copy."""

    def process_request(self, request, client_address):
        pid = os.fork()
        if pid:
            if self.active_children is None:
                self.active_children = set()
            self.active_children.add(pid)
            log.info("child %d for %s", pid, client_address)
            self.close_request(request)
            return
        status = 1
        try:
            self.finish_request(request, client_address)
            status = 0
        except Exception:
            self.handle_error(request, client_address)
        finally:
            try:
                self.shutdown_request(request)
            finally:
                os._exit(status)


class ChildSkipsShutdown(_Base):
    """Meant: a child process that exits fast; the OS closes its descriptors anyway. It
    calls os._exit() without shutdown_request(): the request is never shut down or closed
    by the worker (the OS close leaves no shutdown(SHUT_WR), and the hooks never run)."""

    def process_request(self, request, client_address):
        pid = os.fork()
        if pid:
            if self.active_children is None:
                self.active_children = set()
            self.active_children.add(pid)
            self.close_request(request)
            return
        status = 1
        try:
            self.finish_request(request, client_address)
            status = 0
        except Exception:
            self.handle_error(request, client_address)
        os._exit(status)


# --- finish_request(), handle_error() --------------------------------------------------------


class FinishSwallows(_Base):
    """Meant: a child that never dies of a bad client. finish_request() catches the
    handler's exception and logs it: handle_error is never called, and the child exits 0."""

    def finish_request(self, request, client_address):
        try:
            socketserver.TCPServer.finish_request(self, request, client_address)
        except Exception as exc:
            log.error("client %s: %s", client_address, exc)


class HandleErrorQuiet(_Base):
    """Meant: one line per error in the child, not a traceback. handle_error() writes the
    repr of the exception only: the traceback is lost."""

    def handle_error(self, request, client_address):
        import sys

        sys.stderr.write("child %d: %r\n" % (os.getpid(), sys.exc_info()[1]))
