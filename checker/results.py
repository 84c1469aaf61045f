"""A check's results in words and as JSON: shared by `sockcheck check` and `sockcheck matrix`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from checker.machine import Counterexample, TargetBroke
from checker.report import counterexample_text, event_text, steps_json, steps_text
from checker.run import Failure, FlakyTarget, KindResult, MissingClass, WorkerDied


def failure_lines(failure: Failure) -> list[str]:
    if isinstance(failure, Counterexample):
        return counterexample_text(failure.violations, failure.steps)
    if isinstance(failure, FlakyTarget):
        return [f"the target is flaky: {failure}", "(the same steps behaved differently when replayed)"]
    if isinstance(failure, MissingClass):
        return [f"a class is missing: {failure}"]
    if isinstance(failure, WorkerDied):
        return [f"the check did not finish: {failure}", "(a checker failure, not one of the target's)"]
    what = "hung or crashed" if isinstance(failure, TargetBroke) else "left work behind"
    lines = [f"the target {what}: {failure}"]
    at = broke_at(failure) if isinstance(failure, TargetBroke) else None
    lines.append(f"steps ({len(failure.steps) + (at is not None)}):")
    lines.extend("  " + s for s in steps_text(failure.steps))
    if at is not None:
        lines.append(f"  {at['step']}. {at['event']}   <- it {what} during this step")
    elif isinstance(failure, TargetBroke):
        lines.append("  (as an example started or ended, between steps)")
    return lines


def broke_at(failure: TargetBroke) -> dict[str, Any] | None:
    """The step during which the target hung or crashed (the one not in its steps), if it
    broke during a step and not as an example started or ended."""
    if failure.event is None or failure.before is None:
        return None
    event = event_text(failure.event, failure.before).split("#")[0].strip()
    return {"step": len(failure.steps) + 1, "event": event}


def result_json(result: KindResult, scripts: tuple[Path | None, ...] = ()) -> dict[str, Any]:
    """`scripts`: beside each failure, the replay script written for it, if any."""
    return {
        "kind": result.kind.value,
        "transport": result.transport.value,
        "server_class": result.server_class,
        "profile": result.profile.name,
        "misuse": result.misuse,
        "passed": result.passed,
        "examples": result.examples,
        "steps": result.steps,
        "seconds": round(result.seconds, 3),
        "found_after_seconds": None if result.found_after is None else round(result.found_after, 3),
        "failures": [
            {
                **failure_json(f),
                "confirmed": None if confirmed is None else confirmed.to_json(),
                "replay_script": None if script is None else str(script),
            }
            for f, confirmed, script in zip(
                result.failures, _beside(result.confirmations, result), _beside(scripts, result), strict=True
            )
        ],
        "repeats_contradicted": result.contradicted,
        "shrinking_cut_short_at_seconds": result.shrink_cut_short,
        "database": None if result.reused is None else result.reused.to_json(),
        "windows": {"opened": result.windows_opened, "missed": result.windows_missed},
        "diverges_from_documented": (
            None
            if result.divergence is None
            else {
                "guarantee": result.divergence.violations[0].guarantee.name,
                "steps": steps_json(result.divergence.steps),
            }
        ),
    }


def shrinking_line(result: KindResult) -> str | None:
    """Where Hypothesis's shrinking stopped at its bound, in words; None where it ended."""
    if result.shrink_cut_short is None:
        return None
    return (
        f"note: shrinking stopped at its bound ({result.shrink_cut_short:g} s, SOCKCHECK_SHRINK_SECONDS); "
        "each counterexample was then made 1-minimal by replay"
    )


def database_line(result: KindResult) -> str | None:
    """What the example database gave the run, in words; None where it gave nothing."""
    reused = result.reused
    if reused is None or not reused.replayed:
        return None
    examples = "example" if reused.replayed == 1 else "examples"
    line = f"database: {reused.replayed} saved {examples} replayed first; "
    if not reused.found_there:
        return line + "none failed again"
    if reused.first_failed:
        line += "the first failed again" + (f" ({reused.failed} did)" if reused.failed > 1 else "")
    else:
        line += f"{reused.failed} failed again"
    return line + ": found in the database"


def _beside(values: tuple[Any, ...], result: KindResult) -> tuple[Any, ...]:
    """One value per failure of the result (None where there is none)."""
    return (values + (None,) * len(result.failures))[: len(result.failures)]


def failure_json(failure: Failure) -> dict[str, Any]:
    if isinstance(failure, Counterexample):
        return {
            "guarantee": failure.guarantee.name,
            "statement": failure.guarantee.statement,
            "issue": failure.guarantee.issue,
            "details": [d for v in failure.violations for d in v.details],
            "broken": [v.guarantee.name for v in failure.violations],
            "steps": steps_json(failure.steps),
        }
    kinds = {
        TargetBroke: "target-failure",
        FlakyTarget: "flaky",
        MissingClass: "missing-class",
        WorkerDied: "worker-died",
    }
    kind = kinds.get(type(failure), "leftovers")
    found = {"guarantee": None, "kind": kind, "message": str(failure), "steps": steps_json(failure.steps)}
    if isinstance(failure, TargetBroke):
        found["broke_at"] = broke_at(failure)
    return found
