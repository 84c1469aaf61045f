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
    kind: str  # "thread", "fork" or "sync": where it shows
    guarantee: str  # the guarantee that must catch it
    steps: int  # the length of the minimal counterexample
    issue: str = ""  # the CPython issue whose bug it re-injects, if any
    # Examples to run. A variant whose workers never end costs a liveness deadline and an
    # agent restart per example, and shows at its first release anyway.
    examples: int = 100
    deadline: float = 1.0  # SOCKCHECK_DEADLINE for its run
    transport: str = "tcp"  # the transport it is checked on
    # The seed of its search. 0 unless the bug needs a rare sequence that seed 0's first
    # examples happen to miss (say why at the variant).
    seed: int = 0
    # Found only by calls outside the documented contract: checked with --misuse.
    misuse: bool = False

    def write(self, folder: Path) -> Path:
        source = Path(socketserver.__file__).read_text()
        path = folder / "socketserver.py"
        path.write_text(replace_once(source, self.replacements, self.name))
        return path


def replace_once(source: str, replacements: tuple[tuple[str, str], ...], what: str) -> str:
    """Each replacement in turn, each of which must match exactly once: a bug re-injected
    this way can never silently leave the file as it was."""
    for old, new in replacements:
        count = source.count(old)
        if count != 1:
            raise AssertionError(f"{what}: {old!r} occurs {count} times, expected once")
        source = source.replace(old, new)
    return source


# ForkingMixIn.service_actions() without its collect_children() (bpo-11109's fix undone).
SERVICE_ACTIONS_DOES_NOT_REAP = (
    "            service_actions is called in the BaseServer's serve_forever loop.\n"
    '            """\n            self.collect_children()\n',
    '            service_actions is called in the BaseServer\'s serve_forever loop.\n            """\n',
)

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
        # connect, block_on_close off, close: one seed in two meets it in 100 examples since the
        # actions grew (max_children at the cap makes most closes block anyway); seeds 2-5 do
        seed=2,
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
        "no-descriptor-leak",
        1,
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
        deadline=0.3,  # each request waits out one for an EOF that never comes
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
        # Each connect waits for a dispatch that never returns: two deadlines an example.
        deadline=0.3,
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
        deadline=0.3,  # each rejected request waits out one for an EOF that never comes
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
        "no-descriptor-leak",
        1,
        transport="udp",
    ),
)

# --- max_children ---------------------------------------------------------------------

CAP_LOOP = "        while len(self.active_children) >= self.max_children:\n"

VARIANTS += (
    Variant(
        "fork-no-cap",
        "collect_children() has no cap loop: max_children is never enforced",
        ((CAP_LOOP, "        while False:\n"),),
        "fork",
        "max-children",
        3,
        "gh-111872",
        # Seen whether the loop takes a connection beyond the cap within a grace period, so a
        # loaded machine can miss one example of it: 100 examples meet several (seeds 0-5 at
        # 100: 6 of 6; at 30: 2 of 6). A close whose blocking pass meets the children in pid
        # order can add a nondeterministic second failure; the first is what counts here.
    ),
    Variant(
        "fork-cap-off-by-one",
        "the cap loop waits only above max_children, so one child too many runs",
        ((CAP_LOOP, CAP_LOOP.replace(">=", ">")),),
        "fork",
        "max-children",
        3,
        "gh-111872",
        seed=2,  # seeds 0, 1 and 3 miss the exact cap (handle_request at max_children) in 100
    ),
)

# --- SystemExit and the child's exit status ---------------------------------------------

VARIANTS += (
    Variant(
        "thread-handle-error-catches-systemexit",
        "a handler thread's SystemExit reaches handle_error (before bpo-23430)",
        (
            (
                "        except Exception:\n            self.handle_error(request, client_address)\n        finally:",
                "        except BaseException:\n            self.handle_error(request, client_address)\n"
                "        finally:",
            ),
        ),
        "thread",
        "handle-error-once",
        2,
        "bpo-23430",
    ),
    Variant(
        "fork-handle-error-catches-systemexit",
        "a child's SystemExit reaches handle_error (before bpo-23430)",
        (
            (
                "                except Exception:\n                    self.handle_error(",
                "                except BaseException:\n                    self.handle_error(",
            ),
        ),
        "fork",
        "handle-error-once",
        2,
        "bpo-23430",
    ),
    Variant(
        "fork-exit-status-always-0",
        "a child exits with status 0 even when its handler raised",
        (("                status = 1\n", "                status = 0\n"),),
        "fork",
        "child-exit-status",
        2,
    ),
)

# --- the listening socket after close ---------------------------------------------------

VARIANTS += (
    Variant(
        "fork-child-closes-listener",
        "a child closes its copy of the listening socket, so a closed server refuses while it runs "
        "(impl's behaviour, not CPython's)",
        (
            (
                "                status = 1\n",
                "                self.socket.close()\n                status = 1\n",
            ),
        ),
        "fork",
        "closed-refuses",
        4,
        # block_on_close off, a child running, close, probe: about one example in two
        # hundred has those four in order with today's action mix. Since the close and
        # handle_request() actions gained variants, seeds 3-5 meet one in 300, seed 2 not.
        examples=300,
        seed=3,
    ),
)

# --- process_request() failing --------------------------------------------------------

VARIANTS += (
    Variant(
        "failed-spawn-not-shut-down",
        "when process_request() raises, the server reports it but never shuts the request down",
        (
            (
                "            except Exception:\n                self.handle_error(request, client_address)\n"
                "                self.shutdown_request(request)\n",
                "            except Exception:\n                self.handle_error(request, client_address)\n",
            ),
        ),
        "thread",
        "rejected-request-closed",
        1,
        examples=30,  # found at once; every later step waits for an EOF that never comes
        deadline=0.3,  # each later step waits out one for an EOF that never comes
    ),
)

# --- descriptors ------------------------------------------------------------------------

VARIANTS += (
    Variant(
        "close-request-detaches",
        "TCPServer.close_request() detaches the socket: closed for Python, its descriptor leaks",
        (("        request.close()\n\n", "        request.detach()\n\n"),),
        "fork",
        "no-descriptor-leak",
        1,
    ),
)

# --- the loop and shutdown() (single-point changes a mutation sweep found unchecked) ------

LOOP_BODY = """                while not self.__shutdown_request:
                    ready = selector.select(poll_interval)
                    # bpo-35017: shutdown() called during select(), exit immediately.
                    if self.__shutdown_request:
                        break
                    if ready:
                        self._handle_request_noblock()

                    self.service_actions()
"""
FLAG_RESET = "            self.__shutdown_request = False\n            self.__is_shut_down.set()\n"

VARIANTS += (
    Variant(
        "shutdown-does-not-wait",
        "shutdown() sets the flag and returns at once, while serve_forever() still runs",
        (
            (
                "        self.__shutdown_request = True\n        self.__is_shut_down.wait()\n",
                "        self.__shutdown_request = True\n",
            ),
        ),
        "thread",
        "shutdown-stops-loop",
        2,
        "bpo-2302",
    ),
    Variant(
        "loop-never-clears-shut-down",
        "serve_forever() never clears the is-shut-down event: a second shutdown() does not wait",
        (("        self.__is_shut_down.clear()\n", ""),),
        "thread",
        "shutdown-stops-loop",
        4,
    ),
    Variant(
        "serve-forever-returns-at-once",
        "serve_forever() returns without serving (its loop is gone)",
        ((LOOP_BODY, "                pass\n"),),
        "thread",
        "loop-runs-until-shutdown",
        1,
    ),
    Variant(
        "shutdown-flag-not-reset",
        "serve_forever() leaves the shutdown flag set: a restarted loop returns at once",
        ((FLAG_RESET, "            self.__is_shut_down.set()\n"),),
        "thread",
        "loop-runs-until-shutdown",
        3,
        examples=30,  # every later serve_forever() returns at once: a deadline each
        deadline=0.3,  # each serve_forever() that returns at once is waited for
    ),
    Variant(
        "shutdown-flag-set-at-exit",
        "serve_forever() sets the shutdown flag as it exits: a restarted loop returns at once",
        ((FLAG_RESET, FLAG_RESET.replace("= False", "= True")),),
        "thread",
        "loop-runs-until-shutdown",
        3,
        examples=30,  # every later serve_forever() returns at once: a deadline each
        deadline=0.3,  # each serve_forever() that returns at once is waited for
    ),
    Variant(
        "fork-service-actions-does-not-reap",
        "ForkingMixIn.service_actions() does not collect the children",
        (SERVICE_ACTIONS_DOES_NOT_REAP,),
        "fork",
        "loop-reaps",
        3,
        "bpo-11109",
    ),
    Variant(
        "handle-error-prints-nothing",
        "handle_error() returns without printing the traceback",
        (
            (
                '        The default is to print a traceback and continue.\n\n        """\n',
                '        The default is to print a traceback and continue.\n\n        """\n        return\n',
            ),
        ),
        "thread",
        "handle-error-prints",
        1,  # connect(spawn fails): the server's own handle_error() for the failed spawn
    ),
    Variant(
        "handle-error-banner-on-stdout",
        "handle_error() prints its banner to stdout, as before bpo-23430 (3.6) moved it to stderr",
        (
            (
                "            client_address, file=sys.stderr)\n        import traceback\n",
                "            client_address)\n        import traceback\n",
            ),
        ),
        "fork",
        "handle-error-prints",
        1,  # connect(spawn fails): the server's own handle_error() for the failed spawn
        "bpo-23430",
    ),
    Variant(
        "handle-error-without-traceback-module",
        "handle_error() no longer imports traceback: it raises NameError before printing it",
        (("        import traceback\n        traceback.print_exc()\n", "        traceback.print_exc()\n"),),
        "fork",
        "handle-error-prints",
        2,
    ),
    Variant(
        "shutdown-request-error-escapes",
        "TCPServer.shutdown_request() lets ENOTCONN escape: a reset client's request is never closed",
        (
            (
                "        except OSError:\n            pass #some platforms may raise ENOTCONN here\n",
                "        except OSError:\n            raise\n",
            ),
        ),
        "thread",
        "request-closed-once",
        3,  # connect, hang_up, release: Hypothesis does not merge the first two into one
    ),
    Variant(
        "exit-does-not-close",
        "the context manager's __exit__() does not call server_close()",
        (
            (
                "    def __exit__(self, *args):\n        self.server_close()\n",
                "    def __exit__(self, *args):\n        pass\n",
            ),
        ),
        "thread",
        "no-descriptor-leak",
        1,
    ),
    Variant(
        "exit-swallows-the-exception",
        "the context manager's __exit__() returns True: an exception inside `with server:` vanishes",
        (
            (
                "    def __exit__(self, *args):\n        self.server_close()\n",
                "    def __exit__(self, *args):\n        self.server_close()\n        return True\n",
            ),
        ),
        "fork",
        "close-raises-nothing",
        1,
    ),
    # --- misuse: calls outside the contract, answered as BaseServer really answers them ------
    Variant(
        "shut-down-event-starts-set",
        "the is-shut-down event starts set: shutdown() with no loop ever run returns at once",
        (
            (
                "        self.__is_shut_down = threading.Event()\n",
                "        self.__is_shut_down = threading.Event()\n        self.__is_shut_down.set()\n",
            ),
        ),
        "thread",
        "shutdown-stops-loop",
        1,
        misuse=True,
    ),
    Variant(
        "get-request-error-escapes",
        "an OSError from get_request() escapes the loop: closed under it, serve_forever() dies",
        (
            (
                "            request, client_address = self.get_request()\n        except OSError:\n            return\n",
                "            request, client_address = self.get_request()\n        except OSError:\n            raise\n",
            ),
        ),
        "fork",
        "loop-runs-until-shutdown",
        2,
        misuse=True,
    ),
)

VARIANTS += (
    Variant(
        "enter-gives-none",
        "the context manager's __enter__() returns None: `with Server(...) as s:` gets no server",
        (
            (
                "    def __enter__(self):\n        return self\n",
                "    def __enter__(self):\n        return None\n",
            ),
        ),
        "thread",
        "close-raises-nothing",
        1,
    ),
)

# --- server_close() called by a handler thread --------------------------------------------

VARIANTS += (
    Variant(
        "close-from-handler-stops-at-the-caller",
        "a half fix of the self-join: _Threads.join() stops at the calling thread, so a handler's "
        "server_close() raises nothing and never joins the threads after it",
        (
            (
                "        for thread in self.pop_all():\n            thread.join()\n",
                "        for thread in self.pop_all():\n            if thread is threading.current_thread():\n"
                "                break\n            thread.join()\n",
            ),
        ),
        "thread",
        "close-raises-nothing",
        2,
        # A close with the handler variant, right after a connect, before any other close:
        # seeds 1-5 and 7 find it within 100 examples, 0 and 6 do not.
        seed=1,
    ),
    Variant(
        "close-from-handler-joins-backwards",
        "_Threads.join() joins the threads last first: a handler's server_close() waits for the "
        "threads spawned after it before it raises",
        (
            (
                "        for thread in self.pop_all():\n            thread.join()\n",
                "        for thread in reversed(self.pop_all()):\n            thread.join()\n",
            ),
        ),
        "thread",
        "close-raises-nothing",
        3,
        # connect, connect, then the first handler closes: a rare sequence. Which seeds find it
        # within 100 examples moved with code the search does not run (merging checker/docs.py,
        # only imported, turned seed 3 from found to not): Hypothesis draws about 5% of its
        # integers from the integer literals of every loaded local module (providers.py,
        # _get_local_constants), so a literal added anywhere in checker/, model/ or impl/ can
        # move a seed. Now 1 (at 3 steps) and 2 (close-waits, 4 steps) of seeds 0-7.
        seed=1,
        deadline=0.3,  # each close that waits for a later thread waits out one
    ),
)

# --- handle_request()'s effective timeout ---------------------------------------------------

VARIANTS += (
    Variant(
        "timeout-max-not-min",
        "handle_request() waits for the larger of the socket's timeout and server.timeout",
        (
            (
                "            timeout = min(timeout, self.timeout)\n",
                "            timeout = max(timeout, self.timeout)\n",
            ),
        ),
        "thread",
        "handle-timeout",
        1,
    ),
    Variant(
        "timeout-ignores-the-socket",
        "handle_request() never reads the socket's own timeout, only server.timeout",
        (("        timeout = self.socket.gettimeout()\n", "        timeout = None\n"),),
        "fork",
        "handle-timeout",
        1,
    ),
)

# --- serve_forever(poll_interval=None) ---------------------------------------------------------

VARIANTS += (
    Variant(
        "shutdown-serves-one-more",
        "serve_forever() does not look at the flag after select(): the connection that wakes it to "
        "shutdown() is accepted and handled first (before bpo-35017)",
        (
            (
                "                    ready = selector.select(poll_interval)\n"
                "                    # bpo-35017: shutdown() called during select(), exit immediately.\n"
                "                    if self.__shutdown_request:\n"
                "                        break\n",
                "                    ready = selector.select(poll_interval)\n",
            ),
        ),
        "thread",
        "nothing-accepted-after-shutdown",
        3,
        "bpo-35017",
    ),
)

# --- the synchronous server (no mix-in) ------------------------------------------------------

VARIANTS += (
    Variant(
        "sync-systemexit-reaches-handle-error",
        "a synchronous handler's SystemExit reaches handle_error and the loop goes on: "
        "_handle_request_noblock() catches everything (before bpo-23430)",
        (
            (
                "            except Exception:\n"
                "                self.handle_error(request, client_address)\n"
                "                self.shutdown_request(request)\n"
                "            except:\n"
                "                self.shutdown_request(request)\n"
                "                raise\n",
                "            except:\n"
                "                self.handle_error(request, client_address)\n"
                "                self.shutdown_request(request)\n",
            ),
        ),
        "sync",
        "handled-in-call",
        2,
        "bpo-23430",
        examples=40,
    ),
    Variant(
        "sync-handled-in-a-thread",
        "BaseServer.process_request() hands the request to a thread of its own: handle_request() "
        "returns before the handler has run",
        (
            (
                "        self.finish_request(request, client_address)\n"
                "        self.shutdown_request(request)\n",
                "        def run():\n"
                "            self.finish_request(request, client_address)\n"
                "            self.shutdown_request(request)\n"
                "        threading.Thread(target=run).start()\n",
            ),
        ),
        "sync",
        "handled-in-call",
        1,
        # Its workers outlive their call: each step that dispatches waits out a liveness
        # deadline for the call's end, so a short one (shown at the first connect anyway).
        examples=10,
        deadline=0.3,
    ),
)

BY_NAME = {v.name: v for v in VARIANTS}
