"""Runs CPython's own test_socketserver inside a target interpreter, against a chosen module.

checker/peer.py starts it as ``python -I -B peer_runner.py CONFIG`` (``-E -s -B`` on 2.7) in
a process group of its own, and reads back the files it writes. It uses the stdlib only and
runs on 2.7 too: no f-strings, no annotations.

CONFIG is a JSON file:

    module    the name the suite imports: "socketserver", or "SocketServer" on 2.7
    source    null for the interpreter's own module, else the file to load under that name
    impl      the folder holding the impl package (when source is the impl shim), else null
    result    where to write the outcome (JSON) once the suite has run
    progress  where to append each test's id as it starts and " done" as it stops, so that
              a run killed at its deadline still says which test hung

Exit status: 0 the suite passed, 1 it did not, 3 the module the suite imported is not the
one asked for, 4 this interpreter ships no test_socketserver, 5 the module under test (or
impl) does not import. 3 to 5 write their reason to stderr and no result.
"""

import json
import os
import sys
import traceback
import unittest

WRONG_MODULE = 3
NO_SUITE = 4
NOT_IMPORTABLE = 5
SUITE = "test.test_socketserver"
# What `python -m test -u all` enables. 2.7's test_support enables nothing unless told, so
# the suite's module-level requires("network") would skip it whole.
RESOURCES = (
    "audio", "curses", "largefile", "network", "decimal", "cpu", "subprocess", "urlfetch",
    "gui", "walltime", "tzdata", "xpickle", "bsddb", "extralargefile",
)  # fmt: skip


def fail(status, message):
    sys.stderr.write("sockcheck peer: %s\n" % message)
    sys.stderr.flush()
    sys.exit(status)


def real(path):
    """A module's file, as the source it was loaded from (2.7 may report the .pyc)."""
    path = os.path.realpath(path)
    return path[:-1] if path.endswith((".pyc", ".pyo")) else path


def load_as(name, path):
    """Load the file at `path` as the module `name`, in place of any module of that name."""
    if sys.version_info[0] == 2:
        import imp

        return imp.load_source(name, path)
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # as import does: the module can find itself while it runs
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def module_under_test(config):
    """The module the suite must import, loaded and checked to be the one asked for."""
    name, source = config["module"], config["source"]
    try:
        module = load_as(name, source) if source else __import__(name)
    except Exception:
        fail(NOT_IMPORTABLE, "%s does not import:\n%s" % (source or name, traceback.format_exc()))
    found = real(module.__file__)
    # A substitute must be the file asked for; the stdlib's own module sits beside os.py.
    stdlib = os.path.join(os.path.dirname(real(os.__file__)), name + ".py")
    expected = real(source) if source else stdlib
    if found != expected:
        fail(WRONG_MODULE, "%s is %s, not %s" % (name, found, expected))
    if config["impl"]:
        impl = sys.modules.get("impl")
        where = impl and os.path.dirname(os.path.dirname(real(impl.__file__)))
        if where != os.path.realpath(config["impl"]):
            fail(WRONG_MODULE, "impl is %s, not the package in %s" % (where, config["impl"]))
    return module


def support_module():
    if sys.version_info[0] == 2:
        from test import test_support as support
    else:
        from test import support
    support.use_resources = list(RESOURCES)
    support.verbose = 0  # as regrtest without -v: the suite reads it at import
    return support


class Progress(unittest.TextTestResult):
    """Records each test as it starts and stops, in a file that survives a kill."""

    progress = None  # the file descriptor, set before the run

    def startTest(self, test):
        os.write(self.progress, (test.id() + "\n").encode("utf-8"))
        unittest.TextTestResult.startTest(self, test)

    def stopTest(self, test):
        unittest.TextTestResult.stopTest(self, test)
        os.write(self.progress, (test.id() + " done\n").encode("utf-8"))


def run_suite(config, module):
    pid = os.getpid()
    support_module()
    try:
        suite_module = __import__(SUITE, fromlist=["*"])
    except unittest.SkipTest as exc:  # requires() at module level: nothing runs
        return {"run": 0, "failed": [], "skipped": ["%s: %s" % (SUITE, exc)]}
    except Exception:
        traceback.print_exc()
        return {"run": 0, "failed": ["%s (import)" % SUITE], "skipped": []}
    if getattr(suite_module, config["module"], None) is not module:
        fail(WRONG_MODULE, "%s imported another %s than %s" % (SUITE, config["module"], module.__file__))
    Progress.progress = os.open(config["progress"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    suite = unittest.defaultTestLoader.loadTestsFromModule(suite_module)
    runner = unittest.TextTestRunner(stream=sys.stderr, verbosity=2, resultclass=Progress)
    result = runner.run(suite)
    if os.getpid() != pid:  # a forked child that came back out of a server: not ours to report
        os._exit(99)
    bad = result.failures + result.errors
    failed = [test.id() for test, _ in bad] + [test.id() for test in result.unexpectedSuccesses]
    skipped = ["%s: %s" % (test.id(), why) for test, why in result.skipped]
    return {"run": result.testsRun, "failed": failed, "skipped": skipped}


def main():
    # Run by path, this file's folder (checker/) would come first on 2.7's sys.path.
    here = os.path.dirname(os.path.realpath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != here]
    with open(sys.argv[1]) as handle:
        config = json.load(handle)
    if config["impl"]:
        sys.path.insert(0, config["impl"])
    if not has_suite():
        fail(NO_SUITE, "%s ships no %s" % (sys.executable, SUITE))
    module = module_under_test(config)
    outcome = run_suite(config, module)
    sys.stdout.flush()
    sys.stderr.flush()
    with open(config["result"], "w") as handle:
        json.dump(outcome, handle)
    sys.exit(0 if outcome["run"] and not outcome["failed"] else 1)


def has_suite():
    """Whether the interpreter has its test package (distributions often ship it apart)."""
    try:
        import test
    except ImportError:
        return False
    folders = getattr(test, "__path__", [])
    return any(os.path.exists(os.path.join(f, "test_socketserver.py")) for f in folders)


if __name__ == "__main__":
    main()
