"""The driver's agent processes: a restart after a hang takes an agent started ahead."""

from __future__ import annotations

from pathlib import Path

from checker.driver import Driver
from checker.targets import resolve
from tests.regression.mutants import BY_NAME

# serve_forever() that shutdown() never stops: every stop with a loop running leaves it
# blocked, so the agent is killed and started again.
HANGS = BY_NAME["shutdown-never-sets-the-flag"]


def _hang(driver: Driver) -> None:
    driver.start("thread")
    driver.serve()
    assert driver.stop() == ["serve_forever() still blocked", "shutdown() still blocked"]


def test_a_restart_takes_the_spare_agent_and_quit_ends_both(tmp_path: Path) -> None:
    driver = Driver(resolve("stdlib", str(HANGS.write(tmp_path))), deadline=0.2)
    try:
        driver.load()
        assert driver._spare is None  # a run that never restarts starts no second agent
        _hang(driver)
        _hang(driver)  # its start restarted the agent, and a spare was started then
        spare = driver._spare
        assert spare is not None and spare.proc.poll() is None
        assert driver.start("thread") == "ThreadingTCPServer"  # the restart takes the spare
        assert driver._proc is spare.proc
        assert driver._spare is not None and driver._spare.proc is not spare.proc
        assert driver.stop() == []
    finally:
        driver.quit()  # the no_leftovers fixture sees a spare left running, or its folder
    assert driver._spare is None and driver._proc is None
