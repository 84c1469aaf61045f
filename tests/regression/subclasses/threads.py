"""Threading server subclasses as people write them: broken ones, and beside several the
correct version of the same idea.

Each broken class's docstring says what its author meant and what is wrong with it;
tests/regression/test_subclasses.py names the guarantee `sockcheck check --server` finds it
by and the length of the minimal counterexample. Python 2.7-safe (the agent imports this
file in the target interpreter): the mix-ins are called by name, not through super(), as
2.7's old-style socketserver classes require.
"""

import logging
import sys
import threading

try:
    import socketserver
except ImportError:  # 2.7
    import SocketServer as socketserver

try:
    from concurrent.futures import ThreadPoolExecutor
except ImportError:  # 2.7 without the futures backport
    ThreadPoolExecutor = None

log = logging.getLogger("sockcheck.subclasses")
log.addHandler(logging.NullHandler())
log.propagate = False


class _Base(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True


# --- server_close() ---------------------------------------------------------------------


class CloseSkipsMixIn(_Base):
    """Meant: close the listening socket, and log it. Written the 2.7 way, naming the base
    to call (super() cannot be used on old-style classes), it names TCPServer, so
    ThreadingMixIn.server_close() never runs and no handler thread is joined: close returns
    while handlers still run."""

    def server_close(self):
        log.info("closing %s", self.server_address)
        socketserver.TCPServer.server_close(self)


class CloseCallsMixIn(_Base):
    """The correct version: the mix-in's server_close() (it closes the socket, then joins)."""

    def server_close(self):
        log.info("closing %s", self.server_address)
        socketserver.ThreadingMixIn.server_close(self)


class CloseJoinsWithTimeout(_Base):
    """Meant: wait for the handlers on close, but never hang forever on a stuck one. It keeps
    its own list and joins each thread with a (short) timeout, so server_close() returns
    while a handler it was to wait for still runs (and it never prunes the list either)."""

    join_timeout = 0.001

    def process_request(self, request, client_address):
        thread = threading.Thread(target=self.process_request_thread, args=(request, client_address))
        thread.daemon = self.daemon_threads
        if not hasattr(self, "workers"):
            self.workers = []
        self.workers.append(thread)
        thread.start()

    def server_close(self):
        socketserver.TCPServer.server_close(self)
        for thread in getattr(self, "workers", []):
            thread.join(self.join_timeout)


class CloseJoinsSnapshot(_Base):
    """Meant: join whatever is still running at close. It takes the snapshot of live
    handler threads from threading.enumerate() when shutdown() is asked for, then closes
    and joins that snapshot; but a server driven by handle_request() never calls shutdown(),
    and a handler started after the snapshot is not in it: close does not wait for them."""

    def shutdown(self):
        self.pending = [t for t in threading.enumerate() if t.name.startswith("handler-")]
        socketserver.TCPServer.shutdown(self)

    def process_request(self, request, client_address):
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="handler-%s" % id(request),
        )
        thread.daemon = self.daemon_threads
        thread.start()

    def server_close(self):
        socketserver.TCPServer.server_close(self)
        for thread in getattr(self, "pending", []):
            thread.join()


class OwnThreadList(_Base):
    """Meant: keep the handler threads so that server_close() can join them (3.6's mix-in
    joins nothing). The list only grows: every finished thread stays referenced until the
    server closes (bpo-37193's leak, re-made by hand)."""

    def process_request(self, request, client_address):
        thread = threading.Thread(target=self.process_request_thread, args=(request, client_address))
        thread.daemon = self.daemon_threads
        if not hasattr(self, "workers"):
            self.workers = []
        self.workers.append(thread)
        thread.start()

    def server_close(self):
        socketserver.TCPServer.server_close(self)
        for thread in self.workers if hasattr(self, "workers") else []:
            thread.join()


class OwnThreadListPruned(_Base):
    """The correct version: the list is pruned of finished threads at each spawn and
    emptied at close (what 3.7+'s _Threads does); daemon threads are not kept at all."""

    def process_request(self, request, client_address):
        thread = threading.Thread(target=self.process_request_thread, args=(request, client_address))
        thread.daemon = self.daemon_threads
        with self._workers_lock():
            self.workers = [t for t in getattr(self, "workers", []) if t.is_alive()]
            if not thread.daemon and self.block_on_close:
                self.workers.append(thread)
        thread.start()

    def _workers_lock(self):
        if "lock" not in vars(self):
            self.lock = threading.Lock()
        return self.lock

    def server_close(self):
        socketserver.TCPServer.server_close(self)
        with self._workers_lock():
            workers, self.workers = getattr(self, "workers", []), []
        for thread in workers:
            thread.join()


class AlwaysDaemon(_Base):
    """Meant: Ctrl-C must never hang on a slow client, so every handler thread is a daemon,
    whatever daemon_threads says. The class still says daemon_threads = False (and its
    server_close() still joins): a thread is a daemon where daemon_threads was false at its
    spawn."""

    def process_request(self, request, client_address):
        thread = threading.Thread(target=self.process_request_thread, args=(request, client_address))
        thread.daemon = True
        thread.start()


class AlwaysDaemonSaysSo(_Base):
    """The correct version of the idea: say daemon_threads = True, and let the mix-in do it."""

    daemon_threads = True


# --- shutdown() -------------------------------------------------------------------------


class ShutdownDoesNotWait(_Base):
    """Meant: a shutdown() a handler can call without deadlocking on itself. It only sets
    BaseServer's flag and returns at once, before serve_forever() has stopped (bpo-2302's
    promise: shutdown() returns once the loop stopped)."""

    def shutdown(self):
        self._BaseServer__shutdown_request = True


class ShutdownFromAnotherThread(_Base):
    """The correct version of the idea: shutdown() as BaseServer has it; a handler that must
    stop the server does so from a thread of its own (`threading.Thread(target=server.shutdown)`)."""

    def shutdown(self):
        log.info("shutting down %s", self.server_address)
        socketserver.TCPServer.shutdown(self)


# --- process_request() ------------------------------------------------------------------


class SpawnFailureSwallowed(_Base):
    """Meant: a server that survives running out of threads (RuntimeError: can't start new
    thread). It catches the error and logs it, so BaseServer never sees it: handle_error is
    never called and the request is never shut down (its client waits forever)."""

    def process_request(self, request, client_address):
        try:
            socketserver.ThreadingMixIn.process_request(self, request, client_address)
        except RuntimeError:
            log.warning("cannot start a thread for %s", client_address)


class SpawnFailureAnswered(_Base):
    """The correct version: log, then let the error go on; BaseServer calls handle_error and
    shuts the request down."""

    def process_request(self, request, client_address):
        try:
            socketserver.ThreadingMixIn.process_request(self, request, client_address)
        except RuntimeError:
            log.warning("cannot start a thread for %s", client_address)
            raise


class ThreadWithoutHandleError(_Base):
    """Meant: the same as the mix-in, with a thread name of its own for the logs. Its thread
    body closes the request in a finally but has no except: a handler's exception escapes
    the thread (threading's excepthook prints it) and never reaches handle_error."""

    def process_request(self, request, client_address):
        thread = threading.Thread(target=self.serve_one, args=(request, client_address))
        thread.name = "client-%s:%s" % client_address[:2]
        thread.daemon = self.daemon_threads
        thread.start()

    def serve_one(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        finally:
            self.shutdown_request(request)


class ClosesTwiceOnError(_Base):
    """Meant: drop a failing client at once. process_request_thread() shuts the request
    down in its except clause, and its finally shuts it down again: a request whose handler
    raised is shut down and closed twice."""

    def process_request_thread(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
            self.shutdown_request(request)
        finally:
            self.shutdown_request(request)


class BareExcept(_Base):
    """Meant: report every failure of a handler. Copied from 2.7's mix-in, with its bare
    except: a handler that raises SystemExit (sys.exit() in a handler) reaches handle_error
    too, which 3's mix-ins (Exception only) never do."""

    def process_request_thread(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except:  # noqa: E722 (the bug)
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)


class PooledThreads(_Base):
    """Meant: bound the number of threads with a pool (a common fix for thread-per-request).
    A pool of two: a third held client's handler never starts, the pool's threads outlive
    their requests (and are daemons or not as the thread that submits is, whatever
    daemon_threads says), and server_close() does not wait for any of them."""

    def process_request(self, request, client_address):
        if "pool" not in vars(self):
            self.pool = ThreadPoolExecutor(max_workers=2)
        self.pool.submit(self.process_request_thread, request, client_address)

    def server_close(self):
        socketserver.TCPServer.server_close(self)
        if "pool" in vars(self):
            self.pool.shutdown(wait=False)


# --- finish_request(), handle_error(), verify_request() ------------------------------------


class FinishSwallows(_Base):
    """Meant: keep a bad client from crashing its thread. finish_request() catches the
    handler's exception and logs one line: the mix-in's except never sees it, so
    handle_error is never called."""

    def finish_request(self, request, client_address):
        try:
            socketserver.TCPServer.finish_request(self, request, client_address)
        except Exception as exc:
            log.error("client %s: %s", client_address, exc)


class FinishReportsAndReraises(_Base):
    """Meant: report the failure with the client's context, then let the mix-in go on as
    usual. It calls handle_error itself and re-raises, and the mix-in calls it again: each
    handler exception reaches handle_error twice."""

    def finish_request(self, request, client_address):
        try:
            socketserver.TCPServer.finish_request(self, request, client_address)
        except Exception:
            self.handle_error(request, client_address)
            raise


class FinishLogsAndReraises(_Base):
    """The correct version: log with context (no handle_error), then re-raise for the mix-in."""

    def finish_request(self, request, client_address):
        try:
            socketserver.TCPServer.finish_request(self, request, client_address)
        except Exception as exc:
            log.error("client %s: %s", client_address, exc)
            raise


class HandleErrorReraises(_Base):
    """Meant: fail loudly in development, not print and carry on. handle_error() re-raises
    the exception being handled: no traceback is printed by the server, and the exception
    escapes the handler's thread."""

    def handle_error(self, request, client_address):
        raise


class HandleErrorOneLine(_Base):
    """Meant: quieter logs. handle_error() writes one line, the exception's repr, to
    standard error: the traceback is lost."""

    def handle_error(self, request, client_address):
        sys.stderr.write("error from %s: %r\n" % (client_address, sys.exc_info()[1]))


class HandleErrorLogs(_Base):
    """The correct version: the traceback goes to the log (logging's exception() prints it
    on standard error here), then BaseServer's own report."""

    def handle_error(self, request, client_address):
        log.exception("error from %s", client_address)
        socketserver.TCPServer.handle_error(self, request, client_address)


class VerifyCountsPerClient(_Base):
    """Meant: limit the connections each client host may have open. It counts them in a
    plain dict and increments before it ever set the host's entry: the first connection of
    every host raises KeyError out of verify_request(), and so out of handle_request()."""

    limit = 100

    def verify_request(self, request, client_address):
        if "per_host" not in vars(self):
            self.per_host = {}
        self.per_host[client_address[0]] += 1
        return self.per_host[client_address[0]] <= self.limit


class VerifyCountsPerClientGet(_Base):
    """The correct version: count with dict.get (and never reject under the limit)."""

    limit = 100

    def verify_request(self, request, client_address):
        if "per_host" not in vars(self):
            self.per_host = {}
        host = client_address[0]
        self.per_host[host] = self.per_host.get(host, 0) + 1
        return self.per_host[host] <= self.limit


# --- kept aside: not found, see test_subclasses.UNCAUGHT ------------------------------------


class BlockOnCloseOffInInit(_Base):
    """Meant (its docstring, to its users): server_close() waits for every handler. Its
    __init__ turns block_on_close off to make tests fast, so close waits for nothing."""

    def __init__(self, server_address, handler, bind_and_activate=True):
        socketserver.TCPServer.__init__(self, server_address, handler, bind_and_activate)
        self.block_on_close = False


class CloseJoinsWithLongTimeout(CloseJoinsWithTimeout):
    """CloseJoinsWithTimeout with the timeout people really pick: server_close() gives each
    handler five seconds, then returns while it still runs."""

    join_timeout = 5.0
