"""Broken variants of the running interpreter's own socketserver.py, made at test time.

Each variant is a list of exact replacements, each of which must match exactly once, so a
variant can never silently be the unmodified file. Each names the guarantee that must catch
it, the kinds it breaks, and the length of its minimal counterexample.
"""

from __future__ import annotations

import socketserver
from pathlib import Path

import attrs


@attrs.frozen
class Variant:
    name: str
    what: str  # the bug, in words
    replacements: tuple[tuple[str, str], ...]
    kind: str  # "thread" or "fork": where it shows
    guarantee: str  # the guarantee that must catch it
    steps: int  # the length of the minimal counterexample
    issue: str = ""  # the CPython issue whose bug it re-injects, if any
    # Examples to run. A variant whose workers never end costs a liveness deadline and an
    # agent restart per example, and shows at its first release anyway.
    examples: int = 100
    deadline: float = 1.0  # SOCKCHECK_DEADLINE for its run
    transport: str = "tcp"  # the transport it is checked on

    def write(self, folder: Path) -> Path:
        source = Path(socketserver.__file__).read_text()
        for old, new in self.replacements:
            count = source.count(old)
            if count != 1:
                raise AssertionError(f"{self.name}: {old!r} occurs {count} times, expected once")
            source = source.replace(old, new)
        path = folder / "socketserver.py"
        path.write_text(source)
        return path


THREAD_CLOSE = """    def server_close(self):
        super().server_close()
        self._threads.join()
"""
FORK_CLOSE = """            super().server_close()
            self.collect_children(blocking=self.block_on_close)
"""

VARIANTS: tuple[Variant, ...] = (
    # --- the six of the first slice -------------------------------------------------------
    Variant(
        "thread-close-no-join",
        "ThreadingMixIn.server_close() does not join the handler threads",
        ((THREAD_CLOSE, "    def server_close(self):\n        super().server_close()\n"),),
        "thread",
        "close-waits",
        2,
        "bpo-31233",
    ),
    Variant(
        "fork-close-no-reap",
        "ForkingMixIn.server_close() neither waits for nor reaps the children",
        ((FORK_CLOSE, "            super().server_close()\n"),),
        "fork",
        "close-waits",
        2,
        "bpo-31151",
    ),
    Variant(
        "thread-close-ignores-block_on_close",
        "ThreadingMixIn tracks every thread whatever block_on_close says",
        (
            (
                "        if self.block_on_close:\n            vars(self)",
                "        if True:\n            vars(self)",
            ),
        ),
        "thread",
        "close-returns",
        3,
        "bpo-33540",
    ),
    Variant(
        "fork-close-ignores-block_on_close",
        "ForkingMixIn.server_close() waits although block_on_close is false",
        (("collect_children(blocking=self.block_on_close)", "collect_children(blocking=True)"),),
        "fork",
        "close-returns",
        3,
        "bpo-33540",
    ),
    Variant(
        "daemon-threads-joined",
        "daemon handler threads are tracked, so server_close() joins them",
        (("        self.reap()\n        if thread.daemon:\n            return\n", "        self.reap()\n"),),
        "thread",
        "close-returns",
        3,
        "bpo-33540",
    ),
    Variant(
        "thread-handle-error-skipped",
        "a handler thread's exception never reaches handle_error",
        (
            (
                "        except Exception:\n            self.handle_error(request, client_address)\n"
                "        finally:\n            self.shutdown_request(request)",
                "        except Exception:\n            pass\n"
                "        finally:\n            self.shutdown_request(request)",
            ),
        ),
        "thread",
        "handle-error-once",
        2,
        "bpo-23430",
    ),
    Variant(
        "fork-handle-error-skipped",
        "a child's exception never reaches handle_error",
        (
            (
                "                except Exception:\n                    self.handle_error(request, client_address)",
                "                except Exception:\n                    pass",
            ),
        ),
        "fork",
        "handle-error-once",
        2,
        "bpo-23430",
    ),
    Variant(
        "close-leaves-socket-open",
        "TCPServer.server_close() leaves the listening socket open",
        (
            (
                '        """Called to clean-up the server.\n\n        May be overridden.\n\n        """\n'
                "        self.socket.close()",
                '        """Called to clean-up the server.\n\n        May be overridden.\n\n        """\n'
                "        pass",
            ),
        ),
        "thread",
        "closed-refuses",
        2,
    ),
    # --- one more for each remaining guarantee --------------------------------------------
    Variant(
        "fork-close-leaves-zombies",
        "ForkingMixIn.server_close() waits for the children to exit but never reaps them",
        (
            (
                "                    pid, _ = os.waitpid(pid, flags)",
                "                    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | flags)\n"
                "                    pid = 0",
            ),
        ),
        "fork",
        "no-zombie-after-blocking-close",
        3,
        "bpo-31151",
    ),
    Variant(
        "fork-parent-shuts-down-request",
        "the forking parent shuts the connection down instead of only closing its copy",
        (
            (
                "                self.active_children.add(pid)\n                self.close_request(request)",
                "                self.active_children.add(pid)\n                self.shutdown_request(request)",
            ),
        ),
        "fork",
        "request-closed-once",
        1,
        "bpo-6382",
    ),
    Variant(
        "thread-no-shutdown-request",
        "a handler thread never calls shutdown_request",
        (
            (
                "        except Exception:\n            self.handle_error(request, client_address)\n"
                "        finally:\n            self.shutdown_request(request)",
                "        except Exception:\n            self.handle_error(request, client_address)\n"
                "        finally:\n            pass",
            ),
        ),
        "thread",
        "request-closed-once",
        2,
    ),
    Variant(
        "daemon-flag-inverted",
        "handler threads get the opposite of daemon_threads",
        (("t.daemon = self.daemon_threads", "t.daemon = not self.daemon_threads"),),
        "thread",
        "daemon-at-spawn",
        1,
        "bpo-13140",
    ),
    Variant(
        "fork-reaps-before-each-fork",
        "process_request reaps children before each fork, as 2.7 does",
        (
            (
                '            """Fork a new subprocess to process the request."""\n            pid = os.fork()',
                '            """Fork a new subprocess to process the request."""\n'
                "            self.collect_children()\n            pid = os.fork()",
            ),
        ),
        "fork",
        "reaped-as-modelled",
        3,
        "bpo-11109",
    ),
    Variant(
        "threads-none-default",
        "ThreadingMixIn._threads defaults to None, so closing an unused server raises",
        (("    _threads = _NoThreads()", "    _threads = None"),),
        "thread",
        "close-raises-nothing",
        1,
        "bpo-37193",
    ),
    Variant(
        "thread-process-request-joins",
        "process_request waits for the handler thread it started",
        (
            (
                "        self._threads.append(t)\n        t.start()",
                "        self._threads.append(t)\n        t.start()\n        t.join()",
            ),
        ),
        "thread",
        "dispatch-does-not-wait",
        1,
    ),
    Variant(
        "fork-child-lingers",
        "a child waits for a signal after its request instead of exiting",
        (
            (
                "                        os._exit(status)",
                "                        __import__('signal').pause()\n                        os._exit(status)",
            ),
        ),
        "fork",
        "worker-lifecycle",
        2,
        examples=10,
        deadline=0.3,
    ),
    Variant(
        "finish-request-skips-handler",
        "finish_request never instantiates the handler",
        (("        self.RequestHandlerClass(request, client_address, self)", "        pass"),),
        "thread",
        "handler-runs",
        1,
    ),
)

VARIANTS += (
    # --- issue 3: verify_request, handle_request timeouts, retained threads -------------------
    Variant(
        "verify-reject-not-shut-down",
        "a request rejected by verify_request is never shut down (before bpo-26309)",
        (("        else:\n            self.shutdown_request(request)", "        else:\n            pass"),),
        "thread",
        "rejected-request-closed",
        1,
        "bpo-26309",
    ),
    Variant(
        "handle-request-skips-handle-timeout",
        "handle_request() times out without calling handle_timeout()",
        (
            (
                "                            return self.handle_timeout()",
                "                            return None",
            ),
        ),
        "thread",
        "handle-timeout",
        1,
    ),
    Variant(
        "fork-timeout-does-not-reap",
        "ForkingMixIn.handle_timeout() does not reap the exited children",
        (
            (
                '            May be extended, do not override.\n            """\n            self.collect_children()',
                '            May be extended, do not override.\n            """\n            pass',
            ),
        ),
        "fork",
        "timeout-reaps",
        3,
        "bpo-11109",
    ),
    Variant(
        "threads-never-reaped",
        "_Threads keeps finished threads until server_close() (3.7's leak)",
        (("        self[:] = (thread for thread in self if thread.is_alive())", "        pass"),),
        "thread",
        "finished-not-retained",
        3,
        "bpo-37193",
    ),
)

VARIANTS += (
    Variant(
        "shutdown-never-sets-the-flag",
        "shutdown() waits for the loop without asking it to stop",
        (
            (
                "        self.__shutdown_request = True\n        self.__is_shut_down.wait()",
                "        self.__is_shut_down.wait()",
            ),
        ),
        "thread",
        "shutdown-stops-loop",
        2,
        "bpo-2302",
        examples=10,
        deadline=0.3,
    ),
)

# --- transports -----------------------------------------------------------------------

VARIANTS += (
    Variant(
        "udp-close-request-closes-socket",
        "UDPServer.close_request() closes the request's socket, which is the server's own",
        (
            (
                "    def close_request(self, request):\n        # No need to close anything.\n        pass",
                "    def close_request(self, request):\n        request[1].close()",
            ),
        ),
        "fork",
        "dispatch-does-not-wait",
        2,
        transport="udp",
    ),
)

BY_NAME = {v.name: v for v in VARIANTS}
