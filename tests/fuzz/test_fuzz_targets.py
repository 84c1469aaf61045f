"""The fuzz targets: the refinement check of impl and of the running stdlib, thread and fork.

Plain pytest runs each for a few examples (checker.fuzz.EXAMPLES): they must pass, as
tests/refinement does at length. HypoFuzz runs the same four until it is stopped:

    hypothesis fuzz --no-dashboard -- tests/fuzz/test_fuzz_targets.py

SOCKCHECK_FUZZ_MODULE=PATH puts that socketserver.py in place of the stdlib's (README: Long
campaigns). Nothing else goes in this file: HypoFuzz collects every Hypothesis test in it.
"""

from __future__ import annotations

from checker.fuzz import fuzz_target
from model import Kind

TestImplThread = fuzz_target("impl", Kind.THREAD)
TestImplFork = fuzz_target("impl", Kind.FORK)
TestStdlibThread = fuzz_target("stdlib", Kind.THREAD)
TestStdlibFork = fuzz_target("stdlib", Kind.FORK)
