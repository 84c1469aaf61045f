"""sockcheck agent: runs inside the target interpreter and obeys the checker.

Standard library only, and no syntax newer than Python 2.7 (no f-strings, no annotations, no
keyword-only arguments, no ``raise ... from``), because it runs in whatever interpreter is
being checked: 2.7, and 3.6 to 3.13. What 2.7 lacks is made up for by shims, each marked
"2.7": most below the imports, three where they are used (a child's state read from /proc,
a loop's turn seen at fileno(), an errno in place of OSError's subclasses). Nothing asks
which version it runs on, only whether a thing is there. It is started as a script,
``python agent.py``, and speaks one JSON object per line: commands on stdin, replies on the
file descriptor that was stdout (fd 1 itself is pointed at stderr, so a handler that prints
cannot corrupt the protocol).

How it observes, exactly and without timing guesses:

* Every server-side event (handler entered, released, left; handle_error, shutdown_request,
  close_request; server_close returned) is one small write to a single pipe. Writes under
  PIPE_BUF are atomic, and forked children inherit the pipe, so the pipe's order is one
  total order over the server process and its children.
* The probe handler holds each request until the checker's word arrives on the request's
  own connection, so a held worker cannot finish by itself.
* Thread liveness and daemon flags come from the thread objects; a child's state comes from
  waitid(..., WNOWAIT), which never reaps on the server's behalf; EOF from the client socket.
* A blocking call (server_close) runs on a thread of its own whose profile hook records the
  C call it is in. The call has *settled* once it returned, or once it has sat in the same C
  call while this thread ran: a C call that lets other threads run is a blocking one.
  Deadlines only bound liveness ("must return"); they never decide a verdict alone.
"""

import contextlib
import errno
import gc
import importlib
import inspect
import itertools
import json
import os
import platform
import random
import select
import shutil
import socket
import stat
import struct
import sys
import tempfile
import threading
import time
import traceback
import weakref

# --- shims: what Python 2.7 lacks (each named after the 3.x thing it stands in for) --------

STDLIB_MODULE = "socketserver" if sys.version_info[0] >= 3 else "SocketServer"
try:
    IMPLEMENTATION = sys.implementation.name
except AttributeError:  # 2.7
    IMPLEMENTATION = platform.python_implementation().lower()
monotonic = getattr(time, "monotonic", time.time)  # 2.7 has no monotonic clock: deadlines only

if not issubclass(socket.error, OSError):  # 2.7: socket.error is an IOError, not an OSError;
    OSError = EnvironmentError  # here `except OSError` catches both, as it does on 3.3+

try:
    from contextlib import suppress
except ImportError:  # 2.7

    class suppress(object):
        def __init__(self, *errors):
            self.errors = errors

        def __enter__(self):
            pass

        def __exit__(self, kind, value, tb):
            return kind is not None and issubclass(kind, self.errors)


try:
    import importlib.util

    def _load_file(name, path):
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # it replaces the stdlib module
        spec.loader.exec_module(module)
        return module

except ImportError:  # 2.7
    import imp

    def _load_file(name, path):
        return imp.load_source(name, path)  # it replaces the stdlib module


AGENT_PID = os.getpid()
SETTLE_STEP = 0.002  # how long the watcher waits between two looks at a blocking call
# Further looks that must find the call in the same C call before it counts as blocked: one
# quick call that lets go of the GIL can straddle two looks on a busy machine, not four.
SETTLE_LOOKS = 3
TIMEOUT = 0.005  # server.timeout, so a handle_request() with nothing to accept times out
POLL = 0.002  # serve_forever(poll_interval): bounds how long shutdown() and a wait for a turn take
# A connection the model says waits in the backlog (the loop sits at max_children) is given
# this long to be wrongly accepted before the step is observed. It can only make a violation
# show a step sooner: a correct server never accepts it, however long we wait.
QUEUED_GRACE = 0.05


class ProbeError(Exception):
    """Raised by the probe handler when the checker releases it with 'raise'."""


class LoadError(Exception):
    pass


# --- the event pipe ---------------------------------------------------------------------


class Events(object):
    """One pipe, one reader thread, one ordered log; writers may be threads or children."""

    def __init__(self):
        self.rfd, self.wfd = os.pipe()
        self.log = []
        self.cond = threading.Condition()
        self.tokens = itertools.count()
        # Which example wrote an event: a child forked in one example keeps its number, so
        # an event it writes late is never counted in the next example.
        self.generation = 0
        self.reader = threading.Thread(target=self._read, name="sockcheck-events")
        self.reader.daemon = True
        self.reader.start()

    def emit(self, name, rid=None, **extra):
        extra["e"] = name
        extra["rid"] = rid
        extra["pid"] = os.getpid()
        extra["gen"] = self.generation
        os.write(self.wfd, (json.dumps(extra) + "\n").encode("ascii"))

    def _read(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self.rfd, 65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            lines = buf.split(b"\n")
            buf = lines.pop()
            with self.cond:
                for line in lines:
                    event = json.loads(line.decode("ascii"))
                    event["seq"] = len(self.log)
                    self.log.append(event)
                self.cond.notify_all()

    def wait_for(self, predicate, timeout):
        """Wait until predicate(log) holds or the deadline passes; return whether it holds."""
        end = monotonic() + timeout
        with self.cond:
            while not predicate(self.log):
                left = end - monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return True

    def sync(self, timeout):
        """Write a marker and wait until it is read: every earlier write is then in the log."""
        token = next(self.tokens)
        start = len(self.log)
        self.emit("sync", token=token)
        return self.wait_for(lambda log: any(e.get("token") == token for e in log[start:]), timeout)


# --- what the server writes, and when its loop stops -------------------------------------


class Recorder(object):
    """sys.stderr or sys.stdout, keeping aside what one thread writes while it asks to
    (handle_error()). 2.7's `print` sets `softspace` on it, which stays on the Recorder."""

    def __init__(self, stream):
        self._stream = stream
        self._local = threading.local()

    def write(self, text):
        kept = getattr(self._local, "kept", None)
        if kept is not None:
            kept.append(text)
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)

    @contextlib.contextmanager
    def keep(self):
        self._local.kept = kept = []
        try:
            yield kept
        finally:
            self._local.kept = None


class Announced(object):
    """The server's is-shut-down event, reporting when it is set: serve_forever() sets it as
    its loop stops, and shutdown() must not return before."""

    def __init__(self, event, events):
        self._event = event
        self._events = events

    def set(self):
        self._events.emit("loop_stopped")
        self._event.set()

    def __getattr__(self, name):
        return getattr(self._event, name)


# --- calls that may block ----------------------------------------------------------------


class Call(object):
    """A server method running on a thread of its own, watched through a profile hook."""

    def __init__(self, name, fn, events, watch, start=True):
        self.name = name
        self.fn = fn
        self.events = events
        self.watch = watch
        self.done = threading.Event()
        self.error = None
        self.c_calls = 0
        self.pending = None  # number of the C call the thread is inside, if any
        self.pending_fn = None  # and the builtin it called (a lock's acquire, waitpid...)
        # The C calls it is inside, innermost last: a C call may call back into Python and so
        # into other C calls (2.7's select.select() asks the server's fileno(), which the
        # agent instruments), and their return must leave the outer one pending. `pending`
        # is its last, kept apart so that the watcher thread reads one attribute.
        self._inside = []
        self.thread = None
        if start:
            self.thread = threading.Thread(target=self._run, name="sockcheck-" + name)
            self.thread.daemon = True
            self.thread.start()

    def run_here(self):
        """Make the call on the calling thread (a handler's own server_close())."""
        self._run()

    def _profile(self, frame, event, arg):
        inside = self._inside
        if event == "c_call":
            self.c_calls += 1
            inside.append((self.c_calls, arg))
            self.pending_fn = arg
            self.pending = self.c_calls
        elif event in ("c_return", "c_exception"):
            if inside:
                inside.pop()
            self.pending, self.pending_fn = inside[-1] if inside else (None, None)

    def _run(self):
        if self.watch:
            sys.setprofile(self._profile)
        try:
            self.fn()
            if os.getpid() != AGENT_PID:
                os._exit(70)  # a forked child came back out of the server: never let it go on
        except BaseException as exc:  # reported, never propagated: the agent must answer
            self.error = "%s: %s" % (type(exc).__name__, exc)
        finally:
            sys.setprofile(None)
            self.events.emit(self.name + "_return", error=self.error)
            self.done.set()

    def status(self):
        if not self.done.is_set():
            return "blocked"
        return "raised" if self.error else "returned"

    def settle(self, must_return, deadline, hopeless=None):
        """Wait until the call returned, or (unless it must return) until it is blocked.
        `hopeless(fn)`: whether the builtin `fn` waits for what cannot happen within this
        step (the end of a worker the checker holds); a call that must return and is seen
        twice in such a wait has not returned, and never will, without a deadline spent."""
        if must_return:
            if hopeless is None:
                self.done.wait(deadline)
            else:
                wait_unless_hopeless(self.done.wait, self, hopeless, deadline)
            return
        end = monotonic() + deadline
        seen, looks = None, 0
        while not self.done.wait(SETTLE_STEP):
            pending = self.pending
            looks = looks + 1 if pending is not None and pending == seen else 0
            if looks == SETTLE_LOOKS:
                return  # the same C call every time, and this thread ran meanwhile
            seen = pending
            if monotonic() > end:
                return

    def hopeless_wait(self, hopeless):
        """The number of the C call this call sits in, if `hopeless` says it waits in vain."""
        pending = self.pending
        fn = self.pending_fn
        # Read between two reads of the number, or a call made meanwhile may pair one C
        # call's number with another's function.
        return pending if pending is not None and pending == self.pending and hopeless(fn) else None


def wait_unless_hopeless(wait, watched, hopeless, deadline):
    """Wait until `wait(timeout)` says it came, or until the deadline, or until the Call
    `watched` is seen twice in the same hopeless wait (what it does next cannot happen within
    this step, so neither can what is awaited of it). Whether it came."""
    end = monotonic() + deadline
    seen = None
    while not wait(SETTLE_STEP):
        waiting = watched.hopeless_wait(hopeless) if watched is not None else None
        if waiting is not None and waiting == seen:
            return False
        seen = waiting
        if monotonic() > end:
            return False
    return True


# --- per request --------------------------------------------------------------------------


# transport -> (server class suffix, address family, socket type)
TRANSPORTS = {
    "tcp": ("TCPServer", socket.AF_INET, socket.SOCK_STREAM),
    "udp": ("UDPServer", socket.AF_INET, socket.SOCK_DGRAM),
    "unix": ("UnixStreamServer", getattr(socket, "AF_UNIX", None), socket.SOCK_STREAM),
    "unix-datagram": ("UnixDatagramServer", getattr(socket, "AF_UNIX", None), socket.SOCK_DGRAM),
}
MIXIN = {"thread": "ThreadingMixIn", "fork": "ForkingMixIn"}  # "sync": none, the plain server


def address_key(address):
    """What identifies a client in the server's client_address: its port, or its path."""
    return address[1] if isinstance(address, tuple) else address


class Request(object):
    def __init__(self, rid, client, key):
        self.rid = rid
        self.client = client
        self.key = key
        # The checker's word reaches the handler over a socket pair of its own, not over the
        # request: a datagram request has no connection to wait on, and a stream client may
        # hang up. The handler's end is made before the request is sent, so a forked child
        # inherits it.
        self.word_out, self.word_in = socket.socketpair()
        # The handler thread (thread servers), by weak reference: whether the server still
        # holds a finished thread is itself an observation (bpo-37193).
        self.thread_ref = None
        self.daemon = None
        # A synchronous server's: the thread its handler ran on (handle_request()'s, or the
        # loop's): not its own worker, so never joined nor judged as a thread.
        self.runs_on = None
        self.pid = None  # the child (fork servers)
        self.exit_status = None  # the child's, once seen exited and not yet reaped
        self.word_sent = False
        self.rejected = False
        self.fails = False  # its thread cannot start / its fork fails
        self.queued = False  # waiting in the backlog while the loop sits at max_children
        self.hung_up = False  # the client closed its end (a reset, for TCP)
        self.close_call = None  # the server_close() its handler is to make, told by word b"c"

    def close(self):
        for sock in (self.client, self.word_out, self.word_in):
            sock.close()

    @property
    def thread(self):
        return self.thread_ref() if self.thread_ref is not None else None

    def lingers(self):
        """Whether the handler thread has finished and its object is still alive: retained,
        unless a reference cycle alone keeps it (see Agent.observe)."""
        thread = self.thread
        return thread is not None and not thread.is_alive()


class Agent(object):
    def __init__(self, out):
        self.out = out
        self.module = None
        self.made = None  # the user's server class or factory (UserServer), if the target is one
        self.events = Events()
        self.main_thread = threading.current_thread()  # the one that reads commands
        self.jitter = 0.0  # the longest random pause at a window point (cmd_jitter)
        self.rng = random.Random(0)
        self.reset()

    def reset(self):
        self.server = None
        self.kind = None
        self.transport = "tcp"
        self.folder = None  # a private folder for Unix socket files
        self.probes = 0
        self.foreign_sockets = set()
        self.server_inode = None
        self.deadline = 1.0
        self.requests = []
        self.by_key = {}
        self.by_socket = {}  # id(request socket) -> (rid, socket); keeps the object alive
        self.close_call = None
        self.dispatch_call = None
        self.loop_call = None
        self.loop_poll = POLL  # the poll_interval of the last serve_forever()
        self.shutdown_call = None
        # Work for the running loop's next service_actions() to do first, then report.
        self.next_turn = None
        self.count_turns = False  # service_actions() reports each turn it completes
        self.loop_start = 0  # where the last serve_forever() started, in the event log
        self.probe = None
        # A controlled interleaving (cmd_window): the hook point where the server's thread
        # stops, the call made there from another thread, and (a worker's point) whose.
        self.window = None
        with self.events.cond:
            self.events.generation += 1
            del self.events.log[:]  # earlier examples' events are never looked at again
        self.children = set()

    # -- commands -----------------------------------------------------------------------

    def _method(self, name):
        """The server's method that stands for one of BaseServer's calls: its own, or the one
        a --server target's contract names instead (`stop` for shutdown, say)."""
        contract = self.made.contract if self.made is not None else {}
        return getattr(self.server, contract.get(name, name))

    def cmd_load(
        self, source, path=None, name=None, server=None, server_root=None, server_label=None, contract=None
    ):
        try:
            if source == "stdlib":
                module = importlib.import_module(STDLIB_MODULE)
            elif source == "file":
                if not os.path.isfile(path):
                    raise LoadError("no such file: %s" % path)
                module = _load_file(STDLIB_MODULE, path)
            else:
                sys.path.insert(0, path)
                module = importlib.import_module(name)
        except LoadError:
            raise
        except BaseException as exc:  # no `raise ... from None` on 2.7; only the message is sent
            raise LoadError("cannot import %s: %s" % (path or name or source, _oneline(exc)))  # noqa: B904
        self.module = module
        present = [
            c for c in ("ThreadingTCPServer", "ForkingTCPServer", "BaseRequestHandler") if hasattr(module, c)
        ]
        if server is not None:
            self.made = UserServer.load(server, server_root, module, server_label or server, contract)
        reply = {
            "version": list(sys.version_info[:3]),
            "implementation": IMPLEMENTATION,
            "executable": sys.executable,
            "file": getattr(module, "__file__", None),
            "classes": present,
            # A server's features are its own class's (its mix-in's), the rest the module's.
            "lacks": self.made.lacks(module) if self.made is not None else _lacks(module),
        }
        if self.made is not None:
            reply["server"] = self.made.describe()
        return reply

    def cmd_start(self, kind, deadline, transport="tcp"):
        self.reset()
        self.kind = kind
        self.transport = transport
        self.deadline = deadline
        # Sockets an earlier example's server left behind (a leak it was already judged for)
        # are not this one's: collect the cycles that may still hold some, then note the rest.
        gc.collect()
        if hasattr(gc, "freeze"):  # 3.7+: what lives now is never garbage of this example's,
            gc.freeze()  # so the collections observe() makes need not look at it again
        self.foreign_sockets = set((_sockets() or {}).values())
        if self._unix():
            self.folder = tempfile.mkdtemp(prefix="sockcheck-")
            address = os.path.join(self.folder, "server")
        else:
            address = ("127.0.0.1", 0)
        if self.made is not None:  # a server class or factory of the user's (--server)
            base, self.server = self.made.build(self, address)
        else:
            base = _server_class(self.module, kind, transport)
            handler_class = _probe_handler(self, self.module.BaseRequestHandler)
            self.server = _instrumented_server(self, base)(address, handler_class)
        self.server.timeout = TIMEOUT
        stopped = getattr(self.server, "_BaseServer__is_shut_down", None)
        if stopped is not None:  # every CPython has it; a rewritten BaseServer may not
            self.server._BaseServer__is_shut_down = Announced(stopped, self.events)
        self.server_inode = _inode(self.server.socket.fileno())
        return {"class": base.__name__, "composed": base.__module__ == __name__ and self.made is None}

    def _unix(self):
        return TRANSPORTS[self.transport][1] != socket.AF_INET

    def _stream(self):
        return TRANSPORTS[self.transport][2] == socket.SOCK_STREAM

    def _server_address(self):
        address = self.server.server_address
        return address if self._unix() else tuple(address[:2])

    def _client_socket(self, name):
        """A client socket bound to an address of its own, so the server can tell who it is."""
        _, family, kind = TRANSPORTS[self.transport]
        client = socket.socket(family, kind)
        if self._unix():
            client.bind(os.path.join(self.folder, name))
        else:
            client.bind(("127.0.0.1", 0))
        return client

    def _new_request(self, prefix, rejected=False):
        """A client bound to an address of its own, registered before it connects or sends:
        a running serve_forever() takes the request at once, and its hooks look it up by
        address."""
        rid = len(self.requests)
        client = self._client_socket("%s%d" % (prefix, rid))
        request = Request(rid, client, address_key(client.getsockname()))
        request.rejected = rejected
        self.requests.append(request)
        self.by_key[request.key] = rid
        return request

    def _reach(self, request):
        """The client connects (stream) or sends its datagram, within the deadline."""
        client = request.client
        client.settimeout(self.deadline)
        if self._stream():
            client.connect(self._server_address())
        else:
            client.sendto(b"sockcheck request %d" % request.rid, self._server_address())
        client.settimeout(None)

    def cmd_connect(
        self, rejected=False, queued=False, fails=False, hangs_up=False, listening=False, stops_loop=False
    ):
        request = self._new_request("c", rejected)
        rid = request.rid
        request.fails = fails
        # Asked before the connection is made: a loop it wakes to a shutdown() may be gone
        # by the time it is dispatched, and then no handle_request() must be made for it.
        serving = self._serving()
        self._reach(request)
        if hangs_up:  # before handle_request() or the loop got to it (or, racing, just after)
            self._hang_up(request)
        # The server is done with the request once it is dispatched (a rejected one, or one
        # whose worker failed to start: once the server closed it). A synchronous server
        # dispatches it only once its handler returns: it has taken it once it is entered.
        held_here = self.kind == "sync" and not rejected and not fails
        done = "close_request" if rejected or fails else "enter" if held_here else "dispatched"
        if queued:  # the loop waits at max_children, or it wakes to shutdown(): it must not take it
            request.queued = True
            if not serving and self.kind != "sync":  # 2.7: handle_request() takes it, then waits at the cap
                if listening:
                    self.dispatch_call.settle(False, self.deadline)
                else:
                    self._handle_request(must_return=False, listens=True)
            if stops_loop:  # once both calls returned, the log says whether the loop took it
                self._both_return()
                self.events.sync(self.deadline)
                taken = self._has(self.events.log, done, rid, AGENT_PID)
            else:
                taken = self.events.wait_for(lambda log: self._has(log, done, rid, AGENT_PID), QUEUED_GRACE)
            if taken:
                self._wait_accepted(request)  # it did: let its worker show itself
            return self.observe()
        if serving:  # serve_forever() takes it; nothing else says when it is done
            dispatched = self._wait_server_events(lambda log: self._has(log, done, rid, AGENT_PID))
        elif held_here:  # sync: handle_request() runs the handler itself, and waits in it
            if not listening:  # else the one waiting in select() for a connection takes this one
                handle = self.server.handle_request
                self.dispatch_call = Call("handle_request", handle, self.events, watch=True)
            dispatched = self._wait_server_events(lambda log: self._has(log, done, rid, AGENT_PID))
        else:  # handle_request() dispatches before it returns, or never will
            if listening:  # the one waiting in select() for a connection takes this one
                self.dispatch_call.settle(True, self.deadline, self._hopeless)
            else:
                self._handle_request()
            self.events.sync(self.deadline)
            dispatched = self._has(self.events.log, done, rid, AGENT_PID)
        if dispatched and not rejected and not fails:
            self._wait_events(lambda log: self._has(log, "enter", rid))
            self._learn_worker(request)
        self._settle_loop()
        return self.observe()

    def _serving(self):
        return self.loop_call is not None and not self.loop_call.done.is_set()

    def _settle_loop(self):
        """A loop without poll_interval turns only when a connection arrives, and ends the turn
        in service_actions(): wait until it sits in one C call again, select() or the cap's
        waitpid(), so the turn is over and a shutdown() now finds it there."""
        if self._serving() and self.loop_poll is None:
            self.loop_call.settle(False, self.deadline)

    def cmd_hang_up(self, rid):
        self._hang_up(self.requests[rid])
        return self.observe()

    def _hang_up(self, request):
        """The client goes away: a TCP client with a reset (SO_LINGER 0), so the server's
        shutdown(SHUT_WR) of the request fails with ENOTCONN; a Unix one just closes."""
        if not self._unix():
            request.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        request.client.close()
        request.hung_up = True

    def cmd_serve(self, turn=False, returns=False, accepted=(), poll_interval=POLL):
        """serve_forever() on a thread of its own; `accepted`: connections waiting in the
        backlog (of a loop stopped at max_children) that this loop takes. With poll_interval
        None its select() waits for a connection: watched, to see it sit there."""
        serve = self._method("serve_forever")  # this server's, whatever self.server is later
        self.loop_start = len(self.events.log)
        self.count_turns = turn
        self.loop_poll = poll_interval
        # Armed before the loop starts: one restarted at max_children takes a waiting
        # connection and then waits at the cap inside its very first service_actions().
        first_turn = not returns and not turn and poll_interval is not None
        # A synchronous loop that takes a waiting connection first runs its handler, which the
        # checker holds: its first service_actions() comes only after the release.
        first_turn = first_turn and not (self.kind == "sync" and accepted)
        armed = self._arm_next_turn(lambda: None) if first_turn else None
        self.loop_call = Call(
            "serve_forever",
            lambda: serve(poll_interval),
            self.events,
            watch=True,  # a loop at the cap may wait in vain (see _hopeless)
        )
        for other in accepted:
            self._wait_accepted(self.requests[other])
        if returns:  # a shutdown() flag was set (misuse): it stops before its first poll
            self.loop_call.done.wait(self.deadline)
            if self.shutdown_call is not None:  # and answers a shutdown() that waits for it
                self.shutdown_call.done.wait(self.deadline)
        elif poll_interval is None:  # no turn comes by itself
            self._settle_loop()
        elif turn:  # its first service_actions() has reaped what had exited before
            self._wait_turns(self.loop_start, 1)
        elif armed is not None:
            self._wait_armed_turn(armed)  # its first turn has looked at max_children
        self.count_turns = False
        return self.observe()

    def _wait_turns(self, start, turns):
        """Wait until the running loop has completed `turns` service_actions() since `start`
        (or has returned: one that dies is not waited for until the deadline)."""

        def done(log):
            names = [e["e"] for e in log[start:]]
            return names.count("turned") >= turns or "serve_forever_return" in names

        self._wait_events(done)

    def _on_next_turn(self, work):
        """Have the running loop do `work` as its next service_actions() starts, and wait."""
        self._wait_armed_turn(self._arm_next_turn(work))

    def _arm_next_turn(self, work):
        """Have the loop do `work` as its next service_actions() starts; the log's length."""
        start = len(self.events.log)
        self.next_turn = work
        return start

    def _wait_armed_turn(self, start):
        self._wait_events(lambda log: any(e["e"] == "service_actions" for e in log[start:]))

    def cmd_shutdown(self, must_return=True):
        """shutdown(): it returns once the loop stopped, or waits (at max_children; misuse: with
        no loop running, until the next serve_forever())."""
        self._shutdown(watch=not must_return)
        if not must_return:
            self._wait_shutdown_flag()
        if must_return and self.loop_call is not None:
            self._both_return()
        else:
            self.shutdown_call.settle(must_return, self.deadline)
        return self.observe()

    def _both_return(self):
        """shutdown() and the loop it stops return: within one deadline for the two, since
        either returns only once the other has (a target where they hang costs one, not two)."""
        end = monotonic() + self.deadline
        # Not cut short by the loop's hopeless wait: seen once to give a false
        # shutdown-stops-loop under interleavings in a loaded suite (not understood yet).
        self.shutdown_call.settle(True, self.deadline)
        self.loop_call.settle(True, max(0, end - monotonic()))

    def cmd_time_out(self, must_return=True, listens=False, first=None):
        """handle_request() with nothing to accept: it times out, and then waits in
        handle_timeout() if the forking server is at max_children; or, `listens` (no timeout
        in effect that passes), it waits in select() for a connection. `first`: the timeouts
        to set first, in seconds."""
        for name, value in sorted((first or {}).items()):
            self._set(name, value)
        self._handle_request(must_return, listens)
        return self.observe()

    def _handle_request(self, must_return=True, listens=False):
        """handle_request() on a thread of its own, watched unless it must return.

        One that may block at max_children does so in handle_timeout(), after its select()
        timed out (a select() that has not yet timed out sits in one C call too); one that
        listens blocks in select() itself.
        """
        start = len(self.events.log)
        call = Call("handle_request", self.server.handle_request, self.events, watch=True)
        self.dispatch_call = call
        if not must_return and not listens:
            self._wait_events(lambda log: any(e["e"] == "handle_timeout" for e in log[start:]))
        call.settle(must_return, self.deadline, self._hopeless)

    def _wake_waiting_dispatch(self):
        """A handle_request() still waiting in select() gets a connection, which its
        verify_request() rejects: so it returns, and no worker is left to end."""
        call = self.dispatch_call
        if call is None or call.done.is_set() or self.server is None or _closed(self.server.socket):
            return
        with suppress(OSError):
            self._reach(self._new_request("wake", rejected=True))

    def _wait_shutdown_flag(self):
        """shutdown() sets its flag before it waits: see the flag set (bounded) before judging
        the call blocked, or a thread starved on a loaded machine looks blocked before it has
        set it, and the next connection is served as if no shutdown() had been called.
        A module without BaseServer's private flag is judged by its C call alone."""
        call, end = self.shutdown_call, monotonic() + self.deadline
        while not getattr(self.server, "_BaseServer__shutdown_request", True):
            if call.done.wait(0.001) or monotonic() > end:
                return

    def _shutdown(self, watch=False):
        self.shutdown_call = Call("shutdown", self._method("shutdown"), self.events, watch=watch)

    def cmd_release(
        self,
        rid,
        outcome,
        close_must_return,
        dispatch_must_return=True,
        accepted=(),
        turn=False,
        shutdown_returns=False,
        loop_stops=False,
    ):
        request = self.requests[rid]
        request.word_out.sendall({"raise": b"r", "exit": b"x"}.get(outcome, b"f"))
        request.word_sent = True
        self._wait_done(request)
        start = len(self.events.log)
        self.count_turns = turn  # only now: a loop spinning on a closed socket (misuse) turns fast
        for other in accepted:  # the loop was at max_children: now it takes these
            self._wait_accepted(self.requests[other])
        if turn:  # the second turn from here began after the worker had ended
            self._wait_turns(start, 2)
        self.count_turns = False
        if shutdown_returns:  # the loop waited at max_children: below it now, it stops
            self._both_return()
        elif loop_stops and self.loop_call is not None:  # sync: a SystemExit raised out of it
            self.loop_call.done.wait(self.deadline)
        self._settle_close(close_must_return)
        call = self.dispatch_call
        if call is not None and not call.done.is_set():
            call.settle(dispatch_must_return, self.deadline)
        self._settle_loop()  # an exit below max_children let it go on
        return self.observe()

    def _wait_accepted(self, request):
        request.queued = False
        rid = request.rid
        if request.rejected or request.fails:
            self._wait_server_events(lambda log: self._has(log, "close_request", rid, AGENT_PID))
        else:  # its worker shows itself once spawned (a process_request() may wait for it)

            def spawned(log):
                return self._has(log, "dispatched", rid, AGENT_PID) or self._has(log, "enter", rid)

            if self._wait_server_events(spawned):
                self._wait_events(lambda log: self._has(log, "enter", rid))
        self._learn_worker(request)

    def _set(self, name, value):
        if name == "socket_timeout":  # not the server's attribute: its socket's timeout
            self.server.socket.settimeout(value)
        else:
            setattr(self.server, name, value)

    def cmd_set(self, name, value, sync_loop=False):
        def change():
            self._set(name, value)

        if sync_loop:
            # Set between two turns of the running loop, so which turn first reads the value
            # is known: set from another thread, a turn already inside service_actions() may
            # or may not see it (and then wait at the cap without a word).
            self._on_next_turn(change)
        else:
            change()
        return self.observe()

    def cmd_close(self, must_return, turn=False, by_exit=False, by_handler=None):
        """server_close(), or the end of a `with server:` block by an exception, or (with
        `by_handler`) server_close() called by that request's handler on its own thread; with
        `turn` (misuse: a loop runs), also wait until the loop has made a whole turn on the
        closed socket."""
        close = self._exit_with_error if by_exit else self._method("server_close")
        if by_handler is None:
            self.close_call = Call("server_close", close, self.events, watch=True)
        else:
            request = self.requests[by_handler]
            request.close_call = self.close_call = Call(
                "server_close", close, self.events, watch=True, start=False
            )
            request.word_out.sendall(b"c")
        self._settle_close(must_return)  # returned, or blocked: past closing the socket either way
        start = len(self.events.log)
        self.count_turns = turn
        if turn:  # the second turn from here began on the closed socket
            self._wait_turns(start, 2)
        self.count_turns = False
        return self.observe()

    def cmd_window(self, point, intruder, rid=None):
        """Arm a controlled interleaving for the next step: when a server thread reaches `point`
        (for a worker's point: request `rid`'s worker), it stops there while `intruder` is made
        from a thread of its own, and goes on once that call has returned or sits blocked."""
        self.window = {"point": point, "intruder": intruder, "rid": rid}
        return {}

    def cmd_jitter(self, seconds, seed=0):
        """From now on, wait up to `seconds` (random, seeded) at every window point."""
        self.jitter = seconds
        self.rng = random.Random(seed)
        return {}

    def at(self, point, rid=None):
        """A server thread reaches a window point: jitter, and the armed window's intruder."""
        if os.getpid() != AGENT_PID:  # a forked child: its intruder would act on its copy
            return
        if self.jitter:
            time.sleep(self.rng.uniform(0, self.jitter))
        window = self.window
        if window is None or window["point"] != point or window["rid"] not in (None, rid):
            return
        self.window = None
        self.events.emit("window", rid, point=point)
        self._intrude(window["intruder"])

    def _intrude(self, intruder):
        """Make the window's call from a thread of its own; return once it has settled."""
        op = intruder["op"]
        if op == "set":
            self._set(intruder["name"], intruder["value"])
        elif op == "close":
            self.close_call = Call("server_close", self._method("server_close"), self.events, watch=True)
            self.close_call.settle(False, self.deadline)
        else:
            assert op == "shutdown", op
            self._shutdown(watch=True)
            self._wait_shutdown_flag()
            self.shutdown_call.settle(False, self.deadline)

    def cmd_settle(self, close_must_return=True, shutdown_must_return=True):
        """The end of a window step: its intruder's calls settle (returned, or blocked where the
        model says they wait). An armed window the server never reached has its intruder made
        now, after the step (and the log says so)."""
        window, self.window = self.window, None
        if window is not None:
            self.events.emit("window_missed", point=window["point"])
            self._intrude(window["intruder"])
        shutdown = self.shutdown_call
        if shutdown is not None and not shutdown.done.is_set():
            if shutdown_must_return and self.loop_call is not None:
                self._both_return()
            else:
                shutdown.settle(shutdown_must_return, self.deadline)
        self._settle_close(close_must_return)
        self._settle_loop()
        seen = self.observe()
        seen["window_missed"] = window is not None
        return seen

    def _exit_with_error(self):
        """What `with server as s:` does when its block raises: __enter__(), which must give
        the server, then __exit__ with the exception, which must close the server and not
        swallow the exception (a true result would)."""
        entered = self.server.__enter__()
        error = ValueError("raised inside `with server:`")
        swallowed = self.server.__exit__(ValueError, error, None)
        if entered is not self.server:
            raise AssertionError("__enter__() gave %r, not the server" % (entered,))
        if swallowed:
            raise AssertionError("__exit__() swallowed the with-block's exception")

    def cmd_probe(self):
        """Try the closed server's address: refused, or (if something holds it) accepted."""
        self.probes += 1
        probe = self._client_socket("p%d" % self.probes)
        probe.settimeout(self.deadline)
        try:
            self.probe = self._try(probe)
        except socket.timeout:
            self.probe = "timeout"  # something holds the address but does not answer
        except OSError as exc:  # ConnectionRefusedError, FileNotFoundError: told by errno on 2.7
            if exc.errno not in (errno.ECONNREFUSED, errno.ENOENT):
                raise
            self.probe = "refused"
        finally:
            probe.close()
        if self.probe != "refused" and not self._unix() and not self._server_socket_alive():
            # A port number is not ours alone: once the server let go of it, another process
            # (a parallel test, say) may have bound it. Ours no longer listens: a refusal.
            self.probe = "refused"
        result = self.observe()
        self.probe = None
        return result

    def _server_socket_alive(self):
        """Whether the server's own socket is still open here or in one of its children."""
        if self.server_inode is None:
            return True  # not measurable here: believe the probe
        pids = ["self"] + [str(pid) for pid in self.children if _child_state(pid) == "running"]
        return any(self.server_inode in (_sockets(pid) or {}).values() for pid in pids)

    def _try(self, probe):
        address = self._server_address()
        if self._stream():
            probe.connect(address)  # a full accept queue makes this time out
            return "accepted"
        if self._unix():
            probe.sendto(b"sockcheck probe", address)  # refused at once if nothing is bound
            return "accepted"
        # UDP: a closed port answers with ICMP port unreachable, which the connected socket
        # reports on the next recv(); a held port never answers (the machine avoids that case).
        probe.connect(address)
        probe.send(b"sockcheck probe")
        probe.recv(1)
        return "accepted"

    def cmd_stop(self):
        """Release everything, wait for it to end, reap, close; say what is left over."""
        leftovers = []
        self.window = None
        for request in self.requests:
            if not request.word_sent:
                with suppress(OSError):
                    request.word_out.sendall(b"f")
                request.word_sent = True
        end = monotonic() + self.deadline  # one deadline for the whole stop
        self._wake_waiting_dispatch()
        stopping = self.shutdown_call is not None and not self.shutdown_call.done.is_set()
        if self._serving() and not stopping:  # a loop started again after a shutdown() too
            self._shutdown(watch=self.loop_poll is None)
        if self._serving() and self.loop_poll is None and not _closed(self.server.socket):
            # its select() waits for a connection: one, made once shutdown() waits (so its flag
            # is set), wakes it to see the flag; rejected, should the loop take it after all
            self.shutdown_call.settle(False, max(0, end - monotonic()))
            with suppress(OSError):
                self._reach(self._new_request("wake", rejected=True))
        if stopping and not self._serving():  # misuse: it waits for a loop; answer it in its place
            shut_down = getattr(self.server, "_BaseServer__is_shut_down", None)
            if shut_down is not None:
                shut_down.set()
        for call in (self.close_call, self.dispatch_call, self.loop_call, self.shutdown_call):
            if call is not None and not call.done.wait(max(0, end - monotonic())):
                leftovers.append("%s() still blocked" % call.name)
        self.events.sync(max(0, end - monotonic()))  # every dispatch is in the log now
        for request in self.requests:  # a loop at max_children may have taken some late
            if (
                request.pid is None
                and request.thread_ref is None
                and not request.rejected
                and not request.fails
            ):
                self._learn_late_worker(request, end)
        for request in self.requests:
            if not self._wait_done(request, max(0, end - monotonic())):
                leftovers.append("worker of request %d still running" % request.rid)
        if self.server is not None:
            self.server.socket.close()
        for request in self.requests:
            request.close()
        leftovers.extend(self._reap_all(end))
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
        self.server = None
        self.events.sync(self.deadline)
        return {"leftovers": leftovers}

    # -- waiting ------------------------------------------------------------------------

    def _wait_events(self, predicate):
        return self.events.wait_for(predicate, self.deadline)

    def _wait_server_events(self, predicate):
        """_wait_events() for what the server's running call (the loop, else handle_request())
        must do next: given up, not waited out, once that call sits in a hopeless wait (2.7's
        at max_children, before it spawns) and a sync shows the events did not come before."""
        call = self.loop_call if self._serving() else self.dispatch_call

        def wait(timeout):
            return self.events.wait_for(predicate, timeout)

        if wait_unless_hopeless(wait, call, self._hopeless, self.deadline):
            return True
        self.events.sync(self.deadline)
        return predicate(self.events.log)

    def _mine(self, log):
        """The events of this example."""
        generation = self.events.generation
        return [e for e in log if e["gen"] == generation]

    def _has(self, log, name, rid, pid=None):
        return any(e["e"] == name and e["rid"] == rid and pid in (None, e["pid"]) for e in self._mine(log))

    def _learn_late_worker(self, request, end):
        """A request the loop dispatched after all: wait for its worker to show itself."""
        rid = request.rid
        if self._has(self.events.log, "dispatched", rid, AGENT_PID):
            self.events.wait_for(lambda log: self._has(log, "enter", rid), max(0, end - monotonic()))
            self._learn_worker(request)

    def _learn_worker(self, request):
        for event in self._mine(self.events.log):
            if event["e"] == "enter" and event["rid"] == request.rid and event["pid"] != AGENT_PID:
                request.pid = event["pid"]
                self.children.add(request.pid)

    def _wait_done(self, request, timeout=None):
        timeout = self.deadline if timeout is None else timeout
        if request.runs_on is not None:  # sync: the dispatching call is done with it
            return self.events.wait_for(lambda log: self._sync_done(log, request.rid), timeout)
        if request.thread_ref is not None:
            thread = request.thread
            if thread is not None:
                thread.join(timeout)
            return thread is None or not thread.is_alive()
        if request.pid is not None:
            return _wait_child_exit(request.pid, timeout)
        return True

    def _sync_done(self, log, rid):
        """A synchronous server is done with a released request: the call that handled it
        has left _handle_request_noblock() (its 'handled', after the handler got its word),
        or returned (a module without that method)."""
        mine = self._mine(log)
        words = [e["seq"] for e in mine if e["e"] == "word" and e["rid"] == rid]
        if words and any(e["e"] == "handled" and e["seq"] > words[-1] for e in mine):
            return True
        calls = [c for c in (self.dispatch_call, self.loop_call) if c is not None]
        return bool(words) and any(c.thread is self.requests[rid].runs_on and c.done.is_set() for c in calls)

    def _settle_close(self, must_return):
        if self.close_call is not None and not self.close_call.done.is_set():
            self.close_call.settle(must_return, self.deadline, self._hopeless)

    def _hopeless(self, fn):
        """Whether the builtin `fn` a call sits in waits for a worker the checker holds: a
        held worker waits for the checker's word, which no step sends while it waits for a
        call, so the call cannot return, and there is no need to wait out the deadline
        (every such hang cost one, in each example of a search and its shrinking)."""
        return self._joins_a_held_thread(fn) or self._waits_for_held_children(fn)

    def _waits_for_held_children(self, fn):
        """waitpid() while every child of the server is one the checker holds (2.7 waits so
        at max_children; server_close() so with block_on_close): none can exit to end it."""
        if getattr(fn, "__name__", None) != "waitpid":
            return False
        held = set(r.pid for r in self.requests if r.pid is not None and not r.word_sent)
        states = [(pid, _child_state(pid)) for pid in self.children]
        unreaped = [(pid, state) for pid, state in states if state != "reaped"]
        # A zombie, or a child on its way out, would end the wait: not hopeless.
        return bool(unreaped) and all(pid in held and state == "running" for pid, state in unreaped)

    def _joins_a_held_thread(self, fn):
        """Whether the builtin `fn` is the join of a handler thread the checker holds: the
        acquire of its tstate lock (3.x to 3.12), or its handle's join (3.13). 2.7 joins
        on a fresh lock of its own: not recognised, so there the deadline is waited out."""
        owner = getattr(fn, "__self__", None)
        if owner is None or getattr(fn, "__name__", None) not in ("acquire", "join"):
            return False
        for request in self.requests:
            thread = request.thread
            if request.word_sent or thread is None or not thread.is_alive():
                continue
            if owner is getattr(thread, "_tstate_lock", None) or owner is getattr(thread, "_handle", None):
                return True
        return False

    def _reap_all(self, end):
        left = []
        for pid in sorted(self.children):
            if not _wait_child_exit(pid, max(0, end - monotonic())):
                left.append("child %d still running" % pid)
                continue
            _waitpid(pid, 0)
        self.children = set()
        while True:  # children the agent was never told about
            reaped = _waitpid(-1, os.WNOHANG)
            if reaped is None:
                break
            if reaped[0] == 0:
                left.append("unknown children still running")
                break
        return left

    # -- observing ----------------------------------------------------------------------

    def observe(self):
        sockets = self._count_between_requests()
        log = self._mine(self.events.log)
        if any(r.lingers() for r in self.requests):
            # A reference cycle is not the server holding on. One collection for all the
            # requests: it was one each, and a third of the agent's time on a thread step.
            gc.collect()
        workers = [self._observe_request(r, log) for r in self.requests]
        close_return = [e["seq"] for e in log if e["e"] == "server_close_return"]
        if self.close_call is None or not self.close_call.done.is_set():
            close_return = []  # only the return of the close in progress, or of the last one
        return {
            "loop": self.loop_call.status() if self.loop_call else "none",
            "loop_error": self.loop_call.error if self.loop_call else None,
            "loop_stopped_seq": self._last_seq(log, "loop_stopped"),
            "shutdown_return_seq": self._last_seq(log, "shutdown_return"),
            "shutdown": self.shutdown_call.status() if self.shutdown_call else "none",
            "workers": workers,
            "close": self.close_call.status() if self.close_call else "none",
            "close_error": self.close_call.error if self.close_call else None,
            "close_return_seq": close_return[-1] if close_return else None,
            "dispatch": self.dispatch_call.status() if self.dispatch_call else "none",
            "dispatch_error": self.dispatch_call.error if self.dispatch_call else None,
            "probe": self.probe,
            "handle_timeout": sum(1 for e in log if e["e"] == "handle_timeout"),
            "server_sockets": sockets,
        }

    def _count_between_requests(self):
        """The server process's sockets, counted while no request is between accept and its
        disposal (a worker started, or the request shut down): a running loop that takes a
        connection the model did not expect is then seen taking it, not counted half-way."""
        for _ in range(3):
            self.events.sync(self.deadline)
            self.events.wait_for(self._between_requests, self.deadline)
            start = len(self.events.log)
            sockets = self._server_sockets()
            self.events.sync(self.deadline)
            if not any(e["e"] == "handling" for e in self._mine(self.events.log[start:])):
                return sockets
        return None  # the loop kept taking connections: not measured this time

    def _last_seq(self, log, name):
        """Where `name` last happened since the last serve_forever() started."""
        seqs = [e["seq"] for e in log if e["e"] == name and e["seq"] >= self.loop_start]
        return seqs[-1] if seqs else None

    def _between_requests(self, log):
        mine = self._mine(log)
        names = [e["e"] for e in mine]
        open_spans = names.count("handling") - names.count("handled")
        if open_spans == 0:
            return True
        # 2.7: the one request in hand waits at max_children before its fork (its socket is
        # the server's meanwhile): that is where the server rests until a child exits.
        last = len(names) - 1 - names[::-1].index("handling")
        if self.kind == "sync" and open_spans == 1:  # it rests in the handler the checker holds
            since = names[last:]
            return "enter" in since and "exit" not in since[since.index("enter") :]
        return open_spans == 1 and "capped" in names[last:]

    def _server_sockets(self):
        """Sockets open in this process that are not the agent's own (clients, word pairs)."""
        sockets = _sockets()
        if sockets is None:
            return None  # no /proc here: not measured
        mine = set()
        for request in self.requests:
            for sock in (request.client, request.word_out, request.word_in):
                if not _closed(sock):
                    mine.add(sock.fileno())
        return sum(1 for fd, inode in sockets.items() if fd not in mine and inode not in self.foreign_sockets)

    def _observe_request(self, request, log):
        mine = [e for e in log if e["rid"] == request.rid]
        counts = {}
        exit_seq = None
        closed_early = False
        released = None
        ended = None
        for event in mine:
            name = event["e"]
            if name == "close_request" and event["where"] == "worker":
                ended = event["seq"]
            if name == "exit":
                exit_seq = event["seq"]
            elif name == "word":
                released = event["seq"]
            elif name in ("handle_error", "shutdown_request", "close_request"):
                where = event["where"]
                counts.setdefault(name, {"worker": 0, "server": 0})[where] += 1
                if where == "worker" and name != "handle_error" and exit_seq is None:
                    closed_early = True
        entered = sum(1 for e in mine if e["e"] == "enter")
        daemon = None
        retained = False
        if request.thread_ref is not None:
            thread = request.thread
            alive = thread is not None and thread.is_alive()
            daemon = request.daemon
            child = None
            retained = request.lingers()
        elif request.runs_on is not None:  # sync: its handler runs on the dispatching call
            alive, child = entered > sum(1 for e in mine if e["e"] == "exit"), None
        elif request.pid is not None:
            child, status = _child_status(request.pid)
            if status is not None:
                request.exit_status = status
            alive = child == "running"
        else:
            alive, child = False, None
        return {
            "wid": request.rid,
            "alive": alive,
            "daemon": daemon,
            "child": child,
            "entered": entered,
            "exited": sum(1 for e in mine if e["e"] == "exit"),
            "handle_error": counts.get("handle_error", {"worker": 0, "server": 0}),
            "quiet_errors": sum(1 for e in mine if e["e"] == "quiet_error"),
            "stdout_errors": sum(1 for e in mine if e["e"] == "stdout_error"),
            "shutdown_request": counts.get("shutdown_request", {"worker": 0, "server": 0}),
            "close_request": counts.get("close_request", {"worker": 0, "server": 0}),
            "closed_before_exit": closed_early,
            "client_eof": self._client_eof(request),
            "released_seq": released,
            "ended_seq": ended,
            "retained": retained,
            "exit_status": request.exit_status,
        }

    def _client_eof(self, request):
        """EOF on the client: waited for (bounded) once the worker is done, peeked otherwise."""
        if not self._stream() or request.hung_up:
            return None  # a datagram request has no connection to end; a hung-up client is gone
        if (request.word_sent or request.rejected or request.fails) and not request.queued:
            ready, _, _ = select.select([request.client], [], [], self.deadline)
            if not ready:
                return False
        try:
            data = request.client.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except OSError as exc:  # BlockingIOError, InterruptedError: told by errno on 2.7
            return exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR)  # else a reset
        return data == b""

    # -- in the server and its workers ----------------------------------------------------

    def rid_of(self, request):
        entry = self.by_socket.get(id(request))
        return entry[0] if entry else None

    def where(self, rid):
        """'worker' inside the request's own thread or child, 'server' anywhere else."""
        if os.getpid() != AGENT_PID:
            return "worker"
        mine = rid is not None and rid < len(self.requests)
        if mine and threading.current_thread() in (self.requests[rid].thread, self.requests[rid].runs_on):
            return "worker"
        return "server"

    def in_child(self, rid):
        """Drop the agent's own descriptors in a forked child: they belong to the checker."""
        for request in self.requests:
            with suppress(OSError):
                request.client.close()
                request.word_out.close()
                if request.rid != rid:
                    request.word_in.close()
        for fd in (self.events.rfd, self.out.fileno(), 0):
            with suppress(OSError):
                os.close(fd)


MIXIN_KINDS = (("ThreadingMixIn", "thread"), ("ForkingMixIn", "fork"))
# The mix-in attributes the model knows, as a server class may set them (ThreadingHTTPServer
# sets daemon_threads): the model's server starts with the values the class starts with.
MODELLED_ATTRIBUTES = ("block_on_close", "daemon_threads", "max_children")


class UserServer(object):
    """A server class or factory of the user's (`--server MODULE:NAME`, `--server FILE.py:NAME`).

    Loaded once: imported, built once with a plain handler to learn its kind (the mix-in in
    its class's MRO), its transport (its socket), the modelled attributes it starts with and
    the mix-in's module, then closed. Each example then builds one around the probe handler:
    a class is subclassed by the instrumented server, as the module's classes are; a factory's
    server gets the instrumented subclass of its own class as its __class__ once built, so
    its constructor runs as the user wrote it.
    """

    def __init__(self, spec, made, trial, contract=None):
        self.spec = spec
        self.contract = _contract_of(made, trial, spec, contract)
        self.made = made
        self.is_class = inspect.isclass(made)
        self.cls = trial.__class__
        self.kind = _kind_of(self.cls, spec)
        self.transport = _transport_of(trial, spec)
        self.attributes = {}
        for name in MODELLED_ATTRIBUTES:
            value = getattr(trial, name, None)
            if isinstance(value, (bool, int)):
                self.attributes[name] = value
        self.handler_base = _handler_base(self.cls)

    @classmethod
    def load(cls, spec, root, module, label, contract=None):
        made = _import_server(spec, root, label)
        if inspect.isclass(made):
            if not _has_base(made, "BaseServer"):
                raise LoadError(
                    "--server %s: %s is not a socketserver server (no BaseServer in its MRO)"
                    % (label, made.__name__)
                )
        elif not callable(made):
            raise LoadError("--server %s: neither a server class nor a factory: %r" % (label, made))
        trial = _trial_build(made, label, module)
        try:
            return cls(label, made, trial, contract)
        finally:
            _close_trial(trial)

    def describe(self):
        mixins = [c for c in inspect.getmro(self.cls) if c.__name__ in dict(MIXIN_KINDS)]
        return {
            "spec": self.spec,
            "class": self.cls.__name__,
            "qualified": "%s.%s" % (self.cls.__module__, self.cls.__name__),
            "factory": not self.is_class,
            "kind": self.kind,
            "transport": self.transport,
            "attributes": self.attributes,
            "mixin_module": mixins[0].__module__ if mixins else None,
            "contract": self.contract,
        }

    def lacks(self, module):
        """FEATURES as the class has them (its own mix-in's), the rest as the module has them."""
        own = {"BaseServer": self.cls}
        own.update(dict((name, self.cls) for name, kind in MIXIN_KINDS if kind == self.kind))
        return _lacks(module, own)

    def build(self, agent, address):
        """(the user's class, a server of it around the probe handler, instrumented)."""
        handler = _probe_handler(agent, self.handler_base)
        if self.is_class:
            server = _instrumented_server(agent, self.made)(address, handler)
            base = self.made
        else:
            server = _call_factory(self.made, self.spec, address, handler)
            base = server.__class__
            server.__class__ = _instrumented_server(agent, base)
        _check_handler(server, handler, self.spec)
        return base, server


def _import_server(spec, root, label):
    """The object `spec` names: FILE.py:NAME (the file's folder on sys.path, for its own
    imports) or MODULE:NAME (imported with `root`, the checker's working folder, on sys.path)."""
    where, _, name = spec.rpartition(":")
    shown = label.rpartition(":")[0]  # the module or file as the user named it
    if not where or not name:
        raise LoadError("--server %s: expected MODULE:NAME or FILE.py:NAME" % label)
    try:
        if where.endswith(".py"):
            if not os.path.isfile(where):
                raise LoadError("--server %s: no such file" % label)
            sys.path.insert(0, os.path.dirname(where))
            stem = os.path.splitext(os.path.basename(where))[0]
            module = _load_file(stem if stem not in sys.modules else "sockcheck_server_" + stem, where)
        else:
            if root:
                sys.path.insert(0, root)
            module = importlib.import_module(where)
    except LoadError:
        raise
    except BaseException as exc:  # whatever the import raised: one line, never a traceback
        raise LoadError("--server %s: cannot import %s: %s" % (label, shown, _oneline(exc)))  # noqa: B904
    made = module
    for part in name.split("."):
        if not hasattr(made, part):
            raise LoadError("--server %s: %s has no %s" % (label, shown, name))
        made = getattr(made, part)
    return made


# BaseServer's calls that a server of its own contract may make by another name.
CONTRACT_CALLS = ("serve_forever", "shutdown", "server_close")


def _contract_of(made, trial, spec, given):
    """{BaseServer call: the server's method made instead}: from --contract, else from the
    class's or factory's own `sockcheck_contract` attribute (a dict), else none."""
    contract = dict(given or getattr(made, "sockcheck_contract", None) or {})
    for call, method in sorted(contract.items()):
        if call not in CONTRACT_CALLS:
            raise LoadError(
                "--server %s: its contract names %r; it may name %s" % (spec, call, ", ".join(CONTRACT_CALLS))
            )
        if not callable(getattr(trial, str(method), None)):
            raise LoadError(
                "--server %s: its contract makes %s() by %s(), which the server has not"
                % (spec, call, method)
            )
    return contract


def _has_base(cls, name):
    return any(c.__name__ == name for c in inspect.getmro(cls))


def _kind_of(cls, spec):
    kinds = [kind for name, kind in MIXIN_KINDS if _has_base(cls, name)]
    if len(kinds) > 1:
        raise LoadError("--server %s: both ThreadingMixIn and ForkingMixIn in its MRO; pass --kind" % spec)
    return kinds[0] if kinds else "sync"


def _transport_of(server, spec):
    sock = getattr(server, "socket", None)
    family, kind = getattr(sock, "family", None), getattr(sock, "type", None)
    for name, (_, fam, typ) in TRANSPORTS.items():
        if fam is not None and fam == family and typ == kind:
            return name
    raise LoadError(
        "--server %s: its socket (family %s, type %s) is none of %s"
        % (spec, family, kind, ", ".join(sorted(TRANSPORTS)))
    )


def _handler_base(cls):
    """BaseRequestHandler of the socketserver module the class's BaseServer comes from."""
    for c in inspect.getmro(cls):
        if c.__name__ == "BaseServer":
            owner = sys.modules.get(c.__module__)
            if owner is not None and hasattr(owner, "BaseRequestHandler"):
                return owner.BaseRequestHandler
    return importlib.import_module(STDLIB_MODULE).BaseRequestHandler


def _trial_addresses(made):
    """Where a trial server may bind: a class's own family; a factory's is found by trying."""
    family = getattr(made, "address_family", None) if inspect.isclass(made) else None
    unix = getattr(socket, "AF_UNIX", None)
    if family != unix or unix is None:
        yield ("127.0.0.1", 0)
    if unix is not None and family in (unix, None):
        # A short name: an AF_UNIX path has 107 bytes, and TMPDIR may be deep already.
        yield os.path.join(tempfile.mkdtemp(prefix="t-"), "server")


def _trial_build(made, spec, module):
    base = _handler_base(made) if inspect.isclass(made) else module.BaseRequestHandler
    handler = type(base)("TrialHandler", (base,), {})  # 2.7's are classic classes
    first = None
    for address in _trial_addresses(made):
        try:
            server = _call_factory(made, spec, address, handler)
        except LoadError as exc:
            first = first or exc
            continue
        finally:
            if not isinstance(address, tuple):
                shutil.rmtree(os.path.dirname(address), ignore_errors=True)
        if not hasattr(server, "serve_forever") or not hasattr(server, "socket"):
            _close_trial(server)
            raise LoadError(
                "--server %s: returned %s, not a socketserver server" % (spec, type(server).__name__)
            )
        _check_handler(server, handler, spec)
        return server
    raise first


def _call_factory(made, spec, address, handler):
    try:
        return made(address, handler)
    except BaseException as exc:  # no `raise ... from None` on 2.7; only the message is sent
        message = "--server %s: cannot be built with (%r, a handler class): %s"
        message = message % (spec, address, _oneline(exc))
    raise LoadError(message)


def _check_handler(server, handler, spec):
    """The handler the server runs must be the one it was given (or a subclass, or a partial
    of one): the probe is what reports each request."""
    runs = getattr(server, "RequestHandlerClass", None)
    runs = getattr(runs, "func", runs)  # functools.partial(handler, ...)
    if not (inspect.isclass(runs) and issubclass(runs, handler)):
        _close_trial(server)
        raise LoadError(
            "--server %s: the server does not run the handler class it is given "
            "(its RequestHandlerClass is %r)" % (spec, runs)
        )


def _close_trial(server):
    """Close a server built only to be looked at; its socket too, should its server_close() not."""
    with suppress(Exception):
        server.server_close()
    with suppress(Exception):
        server.socket.close()


def _instrumented_server(agent, base):
    """A subclass of the target's server class whose hooks report and then call super()."""
    events = agent.events
    base_service_actions = getattr(base, "service_actions", lambda server: None)  # 2.7: none

    class Instrumented(base):
        def get_request(self):
            request, address = base.get_request(self)
            rid = agent.by_key.get(address_key(address))
            agent.by_socket[id(request)] = (rid, request)
            return request, address

        def verify_request(self, request, client_address):
            rid = agent.rid_of(request)
            agent.at("accepted", rid)  # accepted, not yet spawned
            if rid is not None and agent.requests[rid].rejected:
                return False
            return base.verify_request(self, request, client_address)

        def process_request(self, request, client_address):
            rid = agent.rid_of(request)
            if rid is not None and agent.requests[rid].fails:
                with _spawn_fails():
                    base.process_request(self, request, client_address)
            else:
                base.process_request(self, request, client_address)
            if os.getpid() == AGENT_PID:  # a forked child never comes back here
                events.emit("dispatched", rid)

        if hasattr(base, "_handle_request_noblock"):  # every CPython has it; a patch may not

            def _handle_request_noblock(self):
                # From accept to the request's disposal (a worker started, or the request
                # shut down): observations wait until the server is outside this span, so a
                # request the model did not expect is never counted half-way (as a socket).
                if _closed(self.socket):  # a loop spinning after server_close() (misuse)
                    return base._handle_request_noblock(self)
                events.emit("handling")
                agent.at("selected")  # select() said a request is ready; nothing accepted yet
                try:
                    base._handle_request_noblock(self)
                finally:
                    if os.getpid() == AGENT_PID:  # a forked child never comes back here
                        events.emit("handled")

        def handle_timeout(self):
            events.emit("handle_timeout")
            base.handle_timeout(self)

        if hasattr(base, "collect_children") and not hasattr(base, "service_actions"):
            # 2.7: process_request() collects children before each fork. Say when it will wait
            # there (as many children running as max_children: its zombies are reaped first),
            # so that an observation need not wait for the request in hand to be forked.

            def collect_children(self):
                children = self.active_children or ()
                running = [pid for pid in children if _child_state(pid) == "running"]
                if children and len(running) >= self.max_children:
                    events.emit("capped")
                base.collect_children(self)

        def service_actions(self):
            agent.at("turn")  # before the mix-in's collect_children()
            work, agent.next_turn = agent.next_turn, None
            if work is not None:  # before the mix-in reads max_children
                work()
                events.emit("service_actions")
            base_service_actions(self)
            if agent.count_turns:
                events.emit("turned")
            if _closed(self.socket):
                # A loop left running on a closed socket (misuse) turns at once, over and over,
                # at a whole core; a thousand turns a second change nothing it can show.
                time.sleep(0.001)

        if not hasattr(base, "service_actions"):  # 2.7: its loop has no such hook, but its
            # select.select([self], ...) asks fileno() once a turn: where one turn ends and the
            # next begins, which is where service_actions() would run.

            def fileno(self):
                loop = agent.loop_call
                if loop is not None and threading.current_thread() is loop.thread:
                    self.service_actions()
                return base.fileno(self)

        def server_close(self):
            agent.at("closing")  # begun: nothing closed yet
            base.server_close(self)

        def handle_error(self, request, client_address):
            rid = agent.rid_of(request)
            events.emit("handle_error", rid, where=agent.where(rid))
            with sys.stderr.keep() as kept, sys.stdout.keep() as kept_out:
                try:
                    base.handle_error(self, request, client_address)
                finally:
                    if "Traceback (most recent call last)" not in "".join(kept):
                        events.emit("quiet_error", rid)
                    if "".join(kept_out).strip():
                        events.emit("stdout_error", rid)

        def shutdown_request(self, request):
            rid = agent.rid_of(request)
            if threading.current_thread() is not agent.main_thread:
                agent.at("finished", rid)  # a worker: finish_request() has returned
            events.emit("shutdown_request", rid, where=agent.where(rid))
            base.shutdown_request(self, request)

        def close_request(self, request):
            rid = agent.rid_of(request)
            try:
                base.close_request(self, request)
            finally:  # after: whoever waits for this event finds the descriptor closed
                events.emit("close_request", rid, where=agent.where(rid))

    Instrumented.__name__ = "Probed" + base.__name__
    return Instrumented


def _probe_handler(agent, base):
    events = agent.events

    class ProbeHandler(base):
        """Reports entry, waits for the checker's word on its own connection, obeys it."""

        def handle(self):
            rid = agent.rid_of(self.request)
            if os.getpid() == AGENT_PID and agent.kind == "sync":
                agent.requests[rid].runs_on = threading.current_thread()
            elif os.getpid() == AGENT_PID:
                this = agent.requests[rid]
                this.thread_ref = weakref.ref(threading.current_thread())
                this.daemon = threading.current_thread().daemon
            else:
                agent.in_child(rid)
            events.emit("enter", rid)
            word = agent.requests[rid].word_in.recv(1)
            while word == b"c":  # call server_close() from here, then wait for the word again
                events.emit("close_word", rid)
                agent.requests[rid].close_call.run_here()
                word = agent.requests[rid].word_in.recv(1)
            events.emit("word", rid)
            if word == b"r":
                events.emit("exit", rid, how="raise")
                raise ProbeError("raised on purpose by the checker")
            if word == b"x":
                events.emit("exit", rid, how="exit")
                raise SystemExit(3)  # not the status the child must exit with
            events.emit("exit", rid, how="return")

    return ProbeHandler


@contextlib.contextmanager
def _spawn_fails():
    """Within, on this thread: starting a thread raises as at the thread limit, and fork() as
    at EAGAIN. Only on this thread: 2.7's process_request() may wait at max_children before it
    forks, and meanwhile the agent starts threads of its own."""
    start, fork = threading.Thread.start, getattr(os, "fork", None)
    caller = threading.current_thread()

    def no_thread(thread):
        if threading.current_thread() is not caller:
            return start(thread)
        raise RuntimeError("can't start new thread")

    def no_fork():
        if threading.current_thread() is not caller:
            return fork()
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")  # BlockingIOError on 3

    threading.Thread.start = no_thread
    os.fork = no_fork
    try:
        yield
    finally:
        threading.Thread.start = start
        os.fork = fork


def _sockets(pid="self"):
    """{descriptor: 'socket:[inode]'} for every socket open in a process (None: no /proc)."""
    try:
        fds = os.listdir("/proc/%s/fd" % pid)
    except OSError:
        return None
    found = {}
    for fd in fds:
        try:
            target = _fd_target(pid, int(fd))
        except OSError:
            continue  # the listing's own descriptor, already gone
        if target.startswith("socket:"):
            found[int(fd)] = target
    return found


def _fd_target(pid, fd):
    """What /proc/PID/fd/FD links to. In this process, fstat() tells a socket and its inode
    without a path lookup in /proc: a third of the cost of observing, every step."""
    if pid != "self":
        return os.readlink("/proc/%s/fd/%d" % (pid, fd))
    status = os.fstat(fd)
    if stat.S_ISSOCK(status.st_mode):
        return "socket:[%d]" % status.st_ino
    return ""


def _inode(fd):
    try:
        return os.readlink("/proc/self/fd/%d" % fd)
    except OSError:
        return None


def _closed(sock):
    try:
        return sock.fileno() == -1
    except (OSError, socket.error):  # 2.7: a closed socket's fileno() raises
        return True


def _server_class(module, kind, transport):
    """The target's server class for a kind and transport, or one composed from its parts.

    ForkingUnixStreamServer and ForkingUnixDatagramServer are new in 3.12; on older lines
    the same class is ForkingMixIn with the Unix server, as a user would compose it.
    """
    suffix, family, _ = TRANSPORTS[transport]
    if family is None:
        raise LoadError("this platform has no Unix sockets")
    if kind == "sync":  # no mix-in: the plain server handles each request itself
        if not hasattr(module, suffix):
            raise LoadError("the module has no %s" % suffix)
        return getattr(module, suffix)
    mixin_name = MIXIN[kind]
    name = mixin_name.replace("MixIn", "") + suffix
    if hasattr(module, name):
        return getattr(module, name)
    missing = [c for c in (mixin_name, suffix, "BaseRequestHandler") if not hasattr(module, c)]
    if missing:
        raise LoadError("the module has no %s and no %s to make it from" % (name, " or ".join(missing)))
    mixin = getattr(module, mixin_name)
    return type(mixin)(name, (mixin, getattr(module, suffix)), {})  # 2.7's are classic classes


def _child_state(pid):
    return _child_status(pid)[0]


def _child_status(pid):
    """('running' | 'zombie' | 'reaped', the exit status if a zombie: -N if killed by N)."""
    if not hasattr(os, "waitid"):  # 2.7
        return _proc_child_status(pid)
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return "reaped", None
    if info is None:
        return "running", None
    status = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
    return "zombie", status


def _proc_child_status(pid):
    """_child_status() where there is no waitid() (2.7): /proc/<pid>/stat, read without reaping.
    Its state field says running or zombie; a zombie's exit_code field (Linux 3.5+) is its
    wait status. Gone, or another process's by now (not our child): reaped."""
    try:
        with open("/proc/%d/stat" % pid) as stat:
            fields = stat.read().rsplit(")", 1)[1].split()  # what follows "pid (comm)"
    except OSError:
        return "reaped", None
    if int(fields[1]) != os.getpid() or fields[0] in ("X", "x"):
        return "reaped", None
    if fields[0] != "Z":
        return "running", None
    if len(fields) < 50:
        return "zombie", None
    raw = int(fields[49])
    return "zombie", os.WEXITSTATUS(raw) if os.WIFEXITED(raw) else -os.WTERMSIG(raw)


def _wait_child_exit(pid, timeout):
    """Wait until the child has exited (zombie or reaped), never reaping it ourselves."""
    if _child_state(pid) != "running":
        return True
    if hasattr(os, "pidfd_open"):
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            return True
        try:
            select.select([fd], [], [], timeout)
        finally:
            os.close(fd)
        return _child_state(pid) != "running"
    end = monotonic() + timeout
    pause = 0.0005
    while _child_state(pid) == "running":  # no pidfd: poll, backing off, within the deadline
        if monotonic() > end:
            return False
        time.sleep(pause)
        pause = min(pause * 2, 0.01)
    return True


# What the checker's steps use that a socketserver may not have: 2.7 has none of these, 3.6
# no public block_on_close. A step that needs one is a step this target cannot take.
FEATURES = (
    ("BaseServer", "__enter__"),  # `with server:` (3.6+)
    ("BaseServer", "__exit__"),
    ("BaseServer", "service_actions"),  # called once a serve_forever() turn (3.3+)
    ("ThreadingMixIn", "block_on_close"),  # 3.7+
    ("ThreadingMixIn", "server_close"),  # joins the handler threads (3.7+, 3.6.6+ privately)
    ("ForkingMixIn", "block_on_close"),  # 3.7+
    ("ForkingMixIn", "server_close"),  # waits for and reaps the children (3.7+, 3.6.6+ privately)
)


def _lacks(module, own=None):
    """'Class.attribute' for each of FEATURES the module does not have; `own`, {class name: the
    class that stands for it} (a --server class for BaseServer and its own mix-in)."""
    own = own or {}
    return ["%s.%s" % (c, a) for c, a in FEATURES if not hasattr(own.get(c) or getattr(module, c, None), a)]


def _waitpid(pid, options):
    """os.waitpid(), or None where there is no such child (ChildProcessError; ECHILD on 2.7)."""
    try:
        return os.waitpid(pid, options)
    except OSError as exc:
        if exc.errno != errno.ECHILD:
            raise
        return None


def _oneline(exc):
    text = "%s: %s" % (type(exc).__name__, exc)
    if isinstance(exc, SyntaxError) and exc.lineno:
        text = "SyntaxError: %s (line %s)" % (exc.msg, exc.lineno)
    return text.splitlines()[0] if text else type(exc).__name__


def main():
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever the target prints goes to stderr, never into the protocol
    sys.stderr = Recorder(sys.stderr)
    sys.stdout = Recorder(sys.stdout)  # fd 1 is stderr now; Python's own writes are told apart
    agent = Agent(out)
    for line in iter(sys.stdin.readline, ""):  # 2.7's `for line in file` reads ahead
        command = json.loads(line)
        op = command.pop("op")
        if op == "quit":
            break
        try:
            reply = {"ok": True, "result": getattr(agent, "cmd_" + op)(**command)}
        except LoadError as exc:
            reply = {"ok": False, "error": str(exc), "load": True}
        except Exception as exc:
            reply = {"ok": False, "error": _oneline(exc), "trace": traceback.format_exc()}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
