"""sockcheck docs: docs/SEMANTICS.md and the state diagram, generated from the model alone.

Every fact in the generated files comes from the code: the guarantees, the transition
table, the profiles and their switches, and which profile keeps which guarantee, computed
by a joint walk of each profile's model beside `documented`'s. tests/test_docs.py fails
while the committed docs/ says something else.
"""

from __future__ import annotations

import enum
import inspect
import re
from collections import deque
from pathlib import Path

import attrs

import model
from checker import svg
from checker.exploring import to_dot
from model import (
    DOCUMENTED,
    GUARANTEES,
    PROFILES,
    TRANSITIONS,
    Kind,
    Phase,
    Profile,
    Refused,
    State,
    StepView,
    Transport,
    allowed,
    check,
    step,
)
from model.explore import EVENT_TYPES, Bounds, Edge, events, explore, label
from model.ideal import ideal_obs
from model.profiles import ForkClose, ThreadClose

# The joint walk's bounds. Two requests alive at once and four events from the start keep
# all twelve walks near 25 s; six steps took 15-25 s per walk with one request alive. The
# with-block exit is left out: it closes exactly as server_close() does (a model test says
# so), and 2.7 has none.
KEEP_BOUNDS = Bounds(workers=2, steps=4, with_block=False)
DIAGRAM_BOUNDS = Bounds(workers=1)
KINDS = (Kind.THREAD, Kind.FORK)
FILES = ("SEMANTICS.md", "states.dot", "states.svg")


# --- which profile keeps which guarantee ----------------------------------------------------


@attrs.frozen
class Broken:
    """The shortest run found in which a profile's server breaks a guarantee as documented states it."""

    kind: Kind
    steps: tuple[str, ...]
    what: str


Pair = tuple[State, State]  # (the state under the profile, the state under documented)


def breaks(profile: Profile, kind: Kind, bounds: Bounds = KEEP_BOUNDS) -> dict[str, Broken]:
    """The guarantees some run of `profile`'s model breaks, judged by `documented`.

    Breadth-first over pairs of states, so the first witness found is a shortest one. The
    states are not canonicalized: both models number their workers in spawn order, which
    the symmetry reduction could reorder differently on each side; the step bound ends it.
    A pair reached by a breaking step is not explored further.
    """
    start = State.initial(kind, Transport.TCP)
    seen: set[Pair] = {(start, start)}
    frontier: deque[tuple[Pair, tuple[str, ...]]] = deque([((start, start), ())])
    found: dict[str, Broken] = {}
    while frontier:
        (mine, theirs), trace = frontier.popleft()
        if bounds.steps is not None and len(trace) >= bounds.steps:
            continue
        for event in events(profile, mine, bounds):
            if not allowed(theirs, event):
                continue
            steps = (*trace, label(mine, event))
            after_mine, after_theirs = step(profile, mine, event), step(DOCUMENTED, theirs, event)
            obs = ideal_obs(profile, mine, event, after_mine)
            violations = check(StepView(DOCUMENTED, theirs, event, after_theirs, obs))
            for v in violations:
                found.setdefault(v.guarantee.name, Broken(kind, steps, "; ".join(v.details)))
            pair = (after_mine, after_theirs)
            if not violations and pair not in seen:
                seen.add(pair)
                frontier.append((pair, steps))
    return found


def keeping(bounds: Bounds = KEEP_BOUNDS) -> dict[str, dict[str, Broken]]:
    """By profile name: the guarantees it breaks, each with its shortest witness over both kinds."""
    result: dict[str, dict[str, Broken]] = {}
    for name, profile in PROFILES.items():
        merged: dict[str, Broken] = {}
        for kind in KINDS:
            for guarantee, broken in breaks(profile, kind, bounds).items():
                if guarantee not in merged or len(broken.steps) < len(merged[guarantee].steps):
                    merged[guarantee] = broken
        result[name] = merged
    return result


# --- when each attribute is read --------------------------------------------------------------

_THREAD_CLOSE_READS = {
    ThreadClose.AT_CLOSE: "at each server_close(): a true one joins every non-daemon thread running",
    ThreadClose.AT_SPAWN_AND_CLOSE: (
        "at each thread spawn (a true one tracks the thread) and at each server_close() "
        "(a true one joins the tracked threads)"
    ),
    ThreadClose.LATCHED_AT_SPAWN: (
        "at each thread spawn until one sees it true; from then on never: every later "
        "non-daemon thread is tracked and server_close() joins them all"
    ),
    ThreadClose.NEVER: "never: no server_close() override joins anything",
}
_FORK_CLOSE_READS = {
    ForkClose.AT_CLOSE: "at each server_close(): a true one waits for every child",
    ForkClose.NEVER: "never: no server_close() override waits or reaps",
}
_PRIVATE_BLOCK_ON_CLOSE = "never: the private `_block_on_close` (False) is read in its place"
_DAEMON_THREADS_READ = "at each thread spawn"
_TIMEOUT_READ = "at each handle_request(), both of them, as it starts"
_POLL_INTERVAL_READ = "once per serve_forever() call: fixed for that call"


def _thread_block_on_close(profile: Profile) -> str:
    if profile.thread_close is not ThreadClose.NEVER and not profile.public_block_on_close:
        return _PRIVATE_BLOCK_ON_CLOSE
    return _THREAD_CLOSE_READS[profile.thread_close]


def _fork_block_on_close(profile: Profile) -> str:
    if profile.fork_close is not ForkClose.NEVER and not profile.public_block_on_close:
        return _PRIVATE_BLOCK_ON_CLOSE
    return _FORK_CLOSE_READS[profile.fork_close]


def _max_children(profile: Profile) -> str:
    """Where collect_children() runs its cap loop, each of which reads max_children."""
    where = ["serve_forever()'s service_actions()" if profile.service_actions else "before each fork"]
    where.append("handle_timeout()")
    if profile.cap_blocks_close:
        where.append("server_close()")
    return "at each collect_children(): " + ", ".join(where)


def attribute_reads(profile: Profile) -> dict[str, str]:
    return {
        "block_on_close (threads)": _thread_block_on_close(profile),
        "block_on_close (forks)": _fork_block_on_close(profile),
        "daemon_threads": _DAEMON_THREADS_READ,
        "max_children": _max_children(profile),
        "timeout, socket timeout": _TIMEOUT_READ,
        "poll_interval": _POLL_INTERVAL_READ,
    }


# --- the profiles as differences --------------------------------------------------------------


def switch_comments() -> dict[str, str]:
    """The comment block above each Profile field in model/profiles.py, joined into one line."""
    comments: dict[str, str] = {}
    pending: list[str] = []
    for line in inspect.getsource(Profile).splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("# ").rstrip())
            continue
        field = re.match(r"(\w+):", stripped)
        if field:
            comments[field.group(1)] = " ".join(pending) or _enum_doc(field.group(1))
        pending = []
    return comments


def _enum_doc(name: str) -> str:
    """An uncommented switch whose values are an enum is documented by the enum's docstring."""
    value = getattr(DOCUMENTED, name, None)
    return first_paragraph(type(value).__doc__) if isinstance(value, enum.Enum) else ""


def _value(value: object) -> str:
    """A switch's value; an enum's with the words it stands for."""
    if isinstance(value, enum.Enum):
        return f"`{type(value).__name__}.{value.name}` ({value.value})"
    return f"`{value!r}`"


def differences(profile: Profile) -> list[tuple[str, object, object]]:
    """The switches whose value differs from documented's: (name, documented's, the profile's)."""
    return [
        (f.name, getattr(DOCUMENTED, f.name), getattr(profile, f.name))
        for f in attrs.fields(Profile)
        if f.name not in ("name", "summary") and getattr(profile, f.name) != getattr(DOCUMENTED, f.name)
    ]


# --- the document -------------------------------------------------------------------------


def _md(text: str) -> str:
    """A table cell: pipes escaped, and reStructuredText's double backticks made Markdown's."""
    return text.replace("``", "`").replace("|", "\\|")


def theory_of_operation() -> str:
    doc = model.__doc__ or ""
    text = doc.split("Theory of operation", 1)[1].split("\n", 2)[2]  # past the title's underline
    return text.replace("``", "`").strip()


def _intro() -> list[str]:
    return [
        "# The semantics of socketserver's lifecycles",
        "",
        "<!-- Generated by `sockcheck docs` from the model alone: do not edit by hand. -->",
        "",
        "This document is generated from the model (`model/`) by `sockcheck docs`; do not edit it by "
        "hand. A test fails while it differs from what the command writes.",
        "",
        "![The state diagram of `documented`](states.svg) ([dot source](states.dot))",
        "",
        "## Theory of operation",
        "",
        theory_of_operation(),
        "",
    ]


def _bounds_text(bounds: Bounds) -> str:
    return f"at most {bounds.workers} requests alive at once and {bounds.steps} events from the start"


def _guarantees(keeps: dict[str, dict[str, Broken]]) -> list[str]:
    lines = ["## Guarantees", "", "| guarantee | statement | CPython issue |", "|---|---|---|"]
    lines += [f"| `{g.name}` | {_md(g.statement)} | {g.issue or '—'} |" for g in GUARANTEES]
    names = list(PROFILES)
    lines += [
        "",
        "### Which profile keeps which guarantee",
        "",
        "This is the model's own prediction, which `sockcheck matrix` checks against real interpreters. "
        "A profile keeps a guarantee when no run of its model, within the bounds, breaks it as "
        "`documented` states it: a joint breadth-first walk steps both models by the same events "
        f"(thread and fork servers, TCP, {_bounds_text(KEEP_BOUNDS)}, no with-block exit, no misuse) "
        "and checks what the profile's ideal server shows against `documented`'s state. A difference "
        "that shows only in an observation the ideal server never makes (such as a retained thread "
        "or a banner on standard output) is not seen here.",
        "",
        "| guarantee | " + " | ".join(f"`{n}`" for n in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    notes: list[str] = []
    for g in GUARANTEES:
        cells = []
        for n in names:
            broken = keeps[n].get(g.name)
            if broken is None:
                cells.append("✓")
                continue
            notes.append(_witness(len(notes) + 1, n, g.name, broken))
            cells.append(f"✗ [{len(notes)}]")
        lines.append(f"| `{g.name}` | " + " | ".join(cells) + " |")
    lines += ["", "✓ keeps, ✗ breaks. The shortest run found for each ✗:", "", *notes, ""]
    return lines


def _witness(number: int, profile: str, guarantee: str, broken: Broken) -> str:
    steps = "; ".join(broken.steps)
    return f"{number}. `{profile}` breaks `{guarantee}` ({broken.kind.value}): {steps}. {_md(broken.what)}."


def _cell_text(cell: object) -> str:
    if isinstance(cell, Refused):
        return f"refused: {_md(cell.reason)}"
    return f"`{cell.__name__}`: {_md(first_paragraph(cell.__doc__))}"  # type: ignore[attr-defined]


def first_paragraph(doc: str | None) -> str:
    """A docstring's summary: its first paragraph on one line (a first line alone can stop mid-sentence)."""
    paragraph = (doc or "").strip().split("\n\n", 1)[0]
    return " ".join(line.strip() for line in paragraph.splitlines())


def _transitions() -> list[str]:
    lines = [
        "## The transition table",
        "",
        "One cell per phase and event type (`model.table.TRANSITIONS`): the transition's function "
        "and its docstring's summary, or why the event is refused in that phase. Conditions "
        "inside a cell can still refuse an event in a particular state.",
        "",
        "| phase | event | cell |",
        "|---|---|---|",
    ]
    for phase in Phase:
        for event in EVENT_TYPES:
            cell = TRANSITIONS[(phase, event)]
            lines.append(f"| {phase.value} | `{event.__name__}` | {_cell_text(cell)} |")
    return [*lines, ""]


def _attributes() -> list[str]:
    lines = [
        "## When each attribute is read",
        "",
        "Derived from each profile's switches (below).",
        "",
    ]
    for profile in PROFILES.values():
        lines += [f"### `{profile.name}`", "", "| attribute | read |", "|---|---|"]
        lines += [f"| {attr} | {_md(when)} |" for attr, when in attribute_reads(profile).items()]
        lines.append("")
    return lines


def _profiles() -> list[str]:
    comments = switch_comments()
    lines = [
        "## The profiles, as differences from `documented`",
        "",
        "Each switch's meaning is given beside `documented`'s value; the other profiles list only the "
        "switches they set otherwise.",
        "",
    ]
    for profile in PROFILES.values():
        lines += [f"### `{profile.name}`", "", profile.summary, ""]
        diff = differences(profile)
        if profile is DOCUMENTED:
            lines += ["| switch | value | what it stands for |", "|---|---|---|"]
            lines += [
                f"| `{f.name}` | {_value(getattr(profile, f.name))} | {_md(comments.get(f.name, ''))} |"
                for f in attrs.fields(Profile)
                if f.name not in ("name", "summary")
            ]
        elif not diff:
            lines.append("No switch differs from `documented`.")
        else:
            lines += ["| switch | documented | this profile |", "|---|---|---|"]
            lines += [f"| `{name}` | {_value(d)} | {_value(p)} |" for name, d, p in diff]
        lines.append("")
    return lines


# --- the state diagram ------------------------------------------------------------------------


def diagram_edges() -> frozenset[Edge]:
    return frozenset().union(*(explore(DOCUMENTED, k, Transport.TCP, DIAGRAM_BOUNDS).edges for k in KINDS))


def _mermaid_label(text: str) -> str:
    return '"' + text.replace('"', "#quot;") + '"'


def mermaid(edges: frozenset[Edge]) -> list[str]:
    arrows = svg.arrows_of(edges)
    nodes = sorted({e.before for e in edges} | {e.after for e in edges})
    ids = {node: f"s{i}" for i, node in enumerate(nodes)}  # safe identifiers, in sorted order
    lines = ["```mermaid", "flowchart LR"]
    lines += [f"  {ids[n]}[{_mermaid_label(n)}]" for n in nodes]
    lines += [
        f"  {ids[a]} -->|{_mermaid_label(svg.short_label(names))}| {ids[b]}"
        for (a, b), names in arrows.items()
    ]
    return [*lines, "```"]


def _diagram(edges: frozenset[Edge]) -> list[str]:
    arrows = svg.arrows_of(edges)
    lines = [
        "## The state diagram",
        "",
        "Every transition of `documented`'s model (thread and fork servers, TCP, "
        f"{DIAGRAM_BOUNDS.workers} request alive at once, explored to the end), seen from afar: the "
        "server's phase before and after, and the event's name. Self-loops are left out. The picture: "
        "[states.svg](states.svg); the Graphviz source: [states.dot](states.dot).",
        "",
        *mermaid(edges),
        "",
        "| from | to | events |",
        "|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {_md(', '.join(names))} |" for (a, b), names in arrows.items()]
    return [*lines, ""]


def semantics(keeps: dict[str, dict[str, Broken]], edges: frozenset[Edge]) -> str:
    parts = [_intro(), _guarantees(keeps), _transitions(), _attributes(), _profiles(), _diagram(edges)]
    return "\n".join(line for part in parts for line in part).rstrip("\n") + "\n"


def generate() -> dict[str, str]:
    """Every file of docs/, by name: what `sockcheck docs` writes."""
    edges = diagram_edges()
    return {
        "SEMANTICS.md": semantics(keeping(), edges),
        "states.dot": to_dot(edges),
        "states.svg": svg.render(edges),
    }


def write(out: Path, texts: dict[str, str] | None = None) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in sorted((texts or generate()).items()):
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
