"""Liveness deadlines scale with the machine's measured speed, never below the default, and
SOCKCHECK_DEADLINE overrides them; a check reports the factor in words and in its JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checker import checking, cli, speed

REFERENCE = speed.REFERENCE_SECONDS


def medians(**ratios: float) -> dict[str, float]:
    return {kind: REFERENCE[kind] * ratios.get(kind, 1.0) for kind in REFERENCE}


def test_a_machine_faster_than_the_reference_keeps_the_default() -> None:
    assert speed.factor_of(medians(thread=0.2, fork=0.5, request=0.9)) == 1.0


def test_one_kind_of_work_slowed_down_sets_the_factor() -> None:
    # Under load the kinds slow down unevenly: the slowest one counts, not a middle one.
    assert speed.factor_of(medians(fork=4.0)) == pytest.approx(4.0)


def test_the_factor_is_capped_so_a_hang_is_still_reported() -> None:
    assert speed.factor_of(medians(request=1000.0)) == speed.CAP


def test_measuring_is_cheap_and_leaves_nothing_behind() -> None:
    measured = speed.measure()
    assert set(measured.medians) == set(REFERENCE)
    assert all(m > 0 for m in measured.medians.values())
    assert 1.0 <= measured.factor <= speed.CAP
    assert measured.seconds < 1.0  # ~15-40 ms idle, under 100 ms with every core busy


def test_the_deadline_scales_unless_sockcheck_deadline_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    slow = speed.Speed(factor=3.0, medians=medians(fork=3.0), seconds=0.01)
    monkeypatch.delenv("SOCKCHECK_DEADLINE", raising=False)
    assert cli._deadline(slow) == pytest.approx(3.0 * cli.DEFAULT_DEADLINE)
    monkeypatch.setenv("SOCKCHECK_DEADLINE", "0.5")
    assert cli._deadline(slow) == 0.5


@pytest.mark.parametrize("raw", ["soon", "0", "-1"])
def test_a_bad_sockcheck_deadline_exits_2(monkeypatch: pytest.MonkeyPatch, capsys, raw: str) -> None:
    monkeypatch.setenv("SOCKCHECK_DEADLINE", raw)
    assert cli.main(["check", "--kind", "thread", "--examples", "1", "--no-cover"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sockcheck: SOCKCHECK_DEADLINE={raw!r} is not a") and err.count("\n") == 1


def test_a_check_reports_the_factor_and_runs_with_its_deadline(
    monkeypatch: pytest.MonkeyPatch, capsys, tmp_path: Path
) -> None:
    slow = speed.Speed(factor=2.5, medians=medians(request=2.5), seconds=0.02)
    monkeypatch.setattr(speed, "measure", lambda: slow)
    monkeypatch.delenv("SOCKCHECK_DEADLINE", raising=False)
    used = []
    real_driver = checking.Driver

    def driver(target: object, deadline: float) -> object:
        used.append(deadline)
        return real_driver(target, deadline)  # type: ignore[arg-type]

    monkeypatch.setattr(checking, "Driver", driver)
    report = tmp_path / "report.json"
    args = ["check", "--kind", "thread", "--examples", "1", "--no-cover", "--json", str(report)]
    assert cli.main(args) == 0
    assert used == [2.5]
    out = capsys.readouterr().out
    assert "machine speed: factor 2.50 (medians ms: thread 0.20, fork 1.50, request 1.25); " in out
    assert "liveness deadline 2.50 s\n" in out
    machine = json.loads(report.read_text())["machine_speed"]
    assert machine["factor"] == 2.5 and machine["deadline"] == 2.5
