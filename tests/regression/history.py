"""Every historical bug of the reference notes, re-injected into its own interpreter's module.

Where `mutants.py` breaks the running interpreter's socketserver.py, each entry here puts one
bug from the catalogue (reference notes, section 2) back into the socketserver.py of the
CPython line it belongs to: the first line that has the fix, or a line that has the code,
spread over 3.6, 3.7, 3.8-3.10 and 3.12-3.13 where the code exists there. Each replacement
is exact, against that interpreter's own file as found on this machine, and must match
exactly once, so an entry can never silently be the unmodified file.

Interpreters are found only through `checker.interpreters.find`, never by path: an entry
whose line is not installed is skipped, with its reason, by tests/regression/test_history.py.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Any

import attrs

from checker.interpreters import Interpreter, NoInterpreter, find
from model import BY_NAME as GUARANTEES
from tests.regression.mutants import SERVICE_ACTIONS_DOES_NOT_REAP, replace_once
from tests.regression.test_variants import check_json


@attrs.frozen
class Entry:
    name: str
    issue: str  # the CPython issue whose bug it re-injects
    what: str  # the bug, in words
    line: str  # the CPython line it is re-injected into: "3.7" is `python3.7`
    replacements: tuple[tuple[str, str], ...]
    kind: str  # "thread" or "fork": where it shows
    guarantee: str  # the guarantee that must catch it
    steps: int  # the length of the minimal counterexample
    transport: str = "tcp"
    # As few as find it every time with the seed below (measured: see the module's end).
    examples: int = 100
    seed: int = 0
    deadline: float = 1.0  # SOCKCHECK_DEADLINE for its run
    misuse: bool = False
    # What the checker lacks to see this bug, in words (a rule, a model part, a branch), or
    # "" if it can. Such an entry is checked only once `guarantee` cites `issue`: a model
    # that has grown the part it needs names the bug on the guarantee that catches it.
    needs: str = ""

    @property
    def python(self) -> str:
        return f"python{self.line}"

    def missing(self) -> str | None:
        """Why the checker cannot find this bug yet, or None if it can."""
        if not self.needs:
            return None
        guarantee = GUARANTEES.get(self.guarantee)
        if guarantee is not None and self.issue in guarantee.issue:
            return None
        return self.needs

    def mutate(self, source: str) -> str:
        return replace_once(source, self.replacements, f"{self.name} in {self.line}")

    def write(self, original: Path, folder: Path) -> Path:
        path = folder / "socketserver.py"
        path.write_text(self.mutate(original.read_text()))
        return path


@functools.cache
def interpreter(line: str) -> Interpreter | None:
    """The installed interpreter of a CPython line (`python3.7`), or None."""
    try:
        found = find(f"python{line}")
    except NoInterpreter:
        return None
    # A `python3.7` that answers with another version (a stray link) is not the 3.7 line.
    return found if ".".join(map(str, found.version[:2])) == line else None


@functools.cache
def module_file(python: Interpreter) -> Path:
    """That interpreter's own socketserver.py, as it imports it."""
    done = subprocess.run(
        [python.executable, *python.isolation, "-c", "import socketserver; print(socketserver.__file__)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return Path(done.stdout.strip())


# --- texts shared by more than one entry --------------------------------------------------

THREAD_CATCHES = (
    "        except Exception:\n            self.handle_error(request, client_address)\n        finally:"
)
CHILD_CATCHES = "                except Exception:\n                    self.handle_error("

# bpo-21491: collect_children() as it was before the rewrite (2.7.7, 3.4.1 and earlier),
# reconstructed from the reference notes (section 2.9) in Python 3 words, keeping the later
# `blocking` flag that server_close() passes: the children are a list; at the cap it waits on
# waitpid(0, 0), any child of the process group, and spins while that fails; then it removes
# reaped pids from the very list it iterates, so each removal skips the next child.
OLD_COLLECT_CHILDREN = '''        def collect_children(self, *, blocking=False):
            """Internal routine to wait for children that have exited."""
            if self.active_children is None:
                return
            while len(self.active_children) >= self.max_children:
                try:
                    pid, _ = os.waitpid(0, 0)
                except OSError:
                    pid = None
                if pid not in self.active_children:
                    continue
                self.active_children.remove(pid)

            for child in self.active_children:
                try:
                    pid, _ = os.waitpid(child, 0 if blocking else os.WNOHANG)
                except OSError:
                    pid = None
                if not pid:
                    continue
                self.active_children.remove(pid)

        def handle_timeout(self):'''

# The 3.6+ collect_children(), from its head to the next method, as 3.7 has it.
NEW_COLLECT_CHILDREN = '''        def collect_children(self, *, blocking=False):
            """Internal routine to wait for children that have exited."""
            if self.active_children is None:
                return

            # If we're above the max number of children, wait and reap them until
            # we go back below threshold. Note that we use waitpid(-1) below to be
            # able to collect children in size(<defunct children>) syscalls instead
            # of size(<children>): the downside is that this might reap children
            # which we didn't spawn, which is why we only resort to this when we're
            # above max_children.
            while len(self.active_children) >= self.max_children:
                try:
                    pid, _ = os.waitpid(-1, 0)
                    self.active_children.discard(pid)
                except ChildProcessError:
                    # we don't have any children, we're done
                    self.active_children.clear()
                except OSError:
                    break

            # Now reap all defunct children.
            for pid in self.active_children.copy():
                try:
                    flags = 0 if blocking else os.WNOHANG
                    pid, _ = os.waitpid(pid, flags)
                    # if the child hasn't exited yet, pid will be 0 and ignored by
                    # discard() below
                    self.active_children.discard(pid)
                except ChildProcessError:
                    # someone else reaped it
                    self.active_children.discard(pid)
                except OSError:
                    pass

        def handle_timeout(self):'''

HISTORY: tuple[Entry, ...] = (
    # --- 3.6: the first line with bpo-23430's fix; the older fixes all have their code there ---
    Entry(
        "bpo-23430-thread",
        "bpo-23430",
        "a handler thread's SystemExit reaches handle_error",
        "3.6",
        ((THREAD_CATCHES, THREAD_CATCHES.replace("except Exception:", "except BaseException:")),),
        "thread",
        "handle-error-once",
        2,  # connect, release(w0, exit)
        examples=10,
        seed=4,  # seeds 0-5 all find it in 10; 4 shrinks quickest (1-2 s against 2-8)
    ),
    Entry(
        "bpo-23430-fork",
        "bpo-23430",
        "a forked child's SystemExit reaches handle_error",
        "3.6",
        ((CHILD_CATCHES, CHILD_CATCHES.replace("except Exception:", "except BaseException:")),),
        "fork",
        "handle-error-once",
        2,  # connect, release(w0, exit)
        examples=10,
        seed=4,  # seeds 0-5 all find it in 10; 4 shrinks quickest (1-2 s against 2-7)
    ),
    Entry(
        "bpo-13140",
        "bpo-13140",
        "daemon_threads false leaves t.daemon alone: handler threads inherit the daemon status of "
        "the thread that calls process_request() (the agent's are daemon threads)",
        "3.6",
        (
            (
                "        t.daemon = self.daemon_threads\n",
                "        if self.daemon_threads:\n            t.daemon = True\n",
            ),
        ),
        "thread",
        "daemon-at-spawn",
        1,  # connect: the first handler thread is a daemon already
        examples=10,
    ),
    Entry(
        "bpo-6382",
        "bpo-6382",
        "the forking parent shuts the connection down, half-closing the child's connection",
        "3.6",
        (
            (
                "self.active_children.add(pid)\n                self.close_request(request)",
                "self.active_children.add(pid)\n                self.shutdown_request(request)",
            ),
        ),
        "fork",
        "request-closed-once",
        1,  # connect
        examples=10,
    ),
    # --- 3.7: the first line with bpo-31151's fix ----------------------------------------------
    Entry(
        "bpo-31151",
        "bpo-31151",
        "ForkingMixIn.server_close() neither waits for nor reaps the children",
        "3.7",
        (
            (
                "super().server_close()\n            self.collect_children(blocking=self.block_on_close)\n",
                "super().server_close()\n",
            ),
        ),
        "fork",
        "close-waits",
        2,  # connect, server_close()
        examples=10,
        # Seeds 1-5 also meet the zombie (3 steps) and max_children consequences: 5-20 s.
    ),
    Entry(
        "bpo-21491",
        "bpo-21491",
        "the old collect_children(): a list it removes from while iterating it, so one pass "
        "skips a child, and waitpid(0, 0) at the cap",
        "3.7",
        (
            (NEW_COLLECT_CHILDREN, OLD_COLLECT_CHILDREN),
            ("self.active_children = set()", "self.active_children = []"),
            ("self.active_children.add(pid)", "self.active_children.append(pid)"),
        ),
        "fork",
        "close-waits",
        # connect, connect, server_close() (blocked on w0), release(w0): the pass that reaped
        # w0 skips w1, so close returns while w1 runs. Two children are the least that show it.
        4,
        examples=30,
        # Two children before a blocking close: seeds 0, 1 and 4 miss it in 30 examples, 2, 3
        # and 5 find it (and its zombie and reaping consequences, 5 steps each): 25-30 s.
        seed=5,
    ),
    # --- 3.8-3.10: bpo-37193's rewrite (first fixed in 3.8.9) ------------------------------
    Entry(
        "bpo-37193",
        "bpo-37193",
        "_Threads never prunes finished threads: the server keeps every one until server_close()",
        "3.8",
        (("        self[:] = (thread for thread in self if thread.is_alive())", "        pass"),),
        "thread",
        "finished-not-retained",
        3,  # connect, release(w0), connect
        examples=10,
        # A release then a second connect: seeds 0, 1 and 5 miss it in 10; 2 and 3 also meet
        # close-raises-nothing (a failed spawn still tracked), which doubles the time.
        seed=4,
    ),
    Entry(
        "bpo-26309",
        "bpo-26309",
        "a request that verify_request() rejects is never shut down",
        "3.9",
        (("        else:\n            self.shutdown_request(request)", "        else:\n            pass"),),
        "thread",
        "rejected-request-closed",
        1,  # connect(rejected)
        examples=5,
        seed=2,  # seeds 1 and 4 miss it in 5; 0 and 5 shrink a long example (9 s against 1)
        # Each example with a rejected request waits the deadline for an EOF that never comes.
        deadline=0.3,
    ),
    Entry(
        "bpo-33540",
        "bpo-33540",
        "block_on_close is ignored: handler threads are tracked, and joined, whatever it says",
        "3.10",
        (
            (
                "        if self.block_on_close:\n            vars(self)",
                "        if True:\n            vars(self)",
            ),
        ),
        "thread",
        "close-returns",
        3,  # set block_on_close False, connect, server_close()
        examples=100,
    ),
    # --- 3.12-3.13 ------------------------------------------------------------------------------
    Entry(
        "bpo-11109",
        "bpo-11109",
        "ForkingMixIn.service_actions() does not reap: zombies stay under serve_forever()",
        "3.12",
        (SERVICE_ACTIONS_DOES_NOT_REAP,),
        "fork",
        "loop-reaps",
        3,  # serve_forever(), connect, release(w0)
        examples=30,
        # Also breaks the cap (no collect_children() runs in the loop): seeds 1-5 at 30 take
        # 15-140 s, shrinking those too; 3 misses it.
        seed=1,
    ),
    Entry(
        "bpo-31233",
        "bpo-31233",
        "ThreadingMixIn.server_close() does not join the handler threads",
        "3.13",
        (
            (
                "    def server_close(self):\n        super().server_close()\n        self._threads.join()\n",
                "    def server_close(self):\n        super().server_close()\n",
            ),
        ),
        "thread",
        "close-waits",
        2,  # connect, server_close()
        examples=10,
        seed=4,  # seeds 0-5 all find it in 10, with two consequences; 4 takes 3 s, others 5-14
    ),
    Entry(
        "bpo-35017",
        "bpo-35017",
        "serve_forever() serves a request that arrives after shutdown(): the post-select check "
        "of the flag is gone",
        "3.13",
        (
            (
                "                    # bpo-35017: shutdown() called during select(), exit immediately.\n"
                "                    if self.__shutdown_request:\n                        break\n",
                "",
            ),
        ),
        "thread",
        "nothing-accepted-after-shutdown",
        # serve_forever(poll_interval=None), shutdown() (the loop sleeps in select() with no
        # timeout), connect: the loop wakes for it and serves it. With a short poll the flag
        # is seen at the next poll before a connection can slip in between.
        3,
        examples=30,
        seed=1,  # seeds 0-2 all find it in 30 (16, 6 and 10 s, with the consequences shrunk too)
    ),
    Entry(
        "bpo-22435",
        "bpo-22435",
        "TCPServer.__init__ leaves the socket open when server_bind() or server_activate() fails",
        "3.12",
        (
            (
                "            except:\n                self.server_close()\n                raise\n",
                "            except:\n                raise\n",
            ),
        ),
        "thread",
        "no-descriptor-leak",
        1,  # construct on an address in use
        needs="a step that constructs a server whose bind fails (an address in use): the checker "
        "only builds servers on free ports, so the mutated path never runs; and CPython's "
        "refcounting closes the dropped socket anyway (reference notes, M11)",
    ),
)

BY_NAME = {e.name: e for e in HISTORY}


def check(entry: Entry, python: Interpreter, folder: Path) -> tuple[int, dict[str, Any]]:
    """Run `sockcheck check --target PYTHON --module COPY` on the entry's mutated copy."""
    module = entry.write(module_file(python), folder)
    return check_json(
        module,
        entry.kind,
        folder,
        entry.examples,
        entry.deadline,
        entry.transport,
        entry.seed,
        entry.misuse,
        target=python.executable,
    )
