"""sockcheck's Python API: check your own socketserver class, from Python or in your test suite.

    import sockcheck

    result = sockcheck.check_server(MyServer)  # what `sockcheck check --server` reports
    print(result.report())

    TestMyServer = sockcheck.refinement_test(MyServer).TestCase  # in a test module

Nothing lives here: the work is checker.api's (see its docstring), and `sockcheck check`'s
(checker.checking). model/ never imports this package.
"""

from checker.api import RefinementTest, check_server, refinement_test, server_target
from checker.checking import CheckResult
from checker.driver import CannotRun

__all__ = ["CannotRun", "CheckResult", "RefinementTest", "check_server", "refinement_test", "server_target"]
