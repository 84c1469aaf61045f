"""The `harness` fixture: it closes, releases, joins and reaps whatever a test leaves.

It cleans up after a failing test too, so that one failure does not cascade through the
autouse `no_leftovers` check of tests/conftest.py (which runs after this teardown).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.impl.impl_harness import Harness


@pytest.fixture
def harness() -> Iterator[Harness]:
    harness = Harness()
    try:
        yield harness
    finally:
        harness.cleanup()
