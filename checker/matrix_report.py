"""The matrix as Markdown or HTML: the same tables, made from the JSON data `matrix.run` returns.

Four parts: the interpreters and the profile each refines; per guarantee, which versions keep
it against `documented` (a broken cell links to its minimal counterexample); the profiles'
switches, which say how each line differs from `documented`; the counterexamples.
"""

from __future__ import annotations

import html
import json
from typing import Any

from checker.matrix import own_passed
from model import GUARANTEES

KEPT, BROKEN, UNCHECKED = "✓", "✗", "·"
MISSING_CLASS = "forking-unix-classes"  # not a step guarantee: the module's classes


def write(data: dict[str, Any], path: str) -> None:
    if path.endswith(".json"):
        text = json.dumps(data, indent=2) + "\n"
    elif path.endswith(".html"):
        text = to_html(data)
    else:
        text = to_markdown(data)
    with open(path, "w", encoding="utf-8") as out:
        out.write(text)


# --- the tables, as rows of cells: (text, anchor or None) ------------------------------------


Cell = tuple[str, str | None]


def _checked(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in data["columns"] if c["skipped"] is None]


def _cells_of(data: dict[str, Any], column: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in data["cells"] if c["column"] == column["index"]]


def anchor(cell: dict[str, Any], side: str, guarantee: str | None) -> str:
    return f"c{cell['column']}-{cell['kind']}-{cell['transport']}-{side}-{guarantee or 'other'}"


def interpreters_rows(data: dict[str, Any]) -> list[list[Cell]]:
    rows = []
    for column in data["columns"]:
        label = column["label"]
        if column["skipped"] is not None:
            rows.append(
                [(label, None), (column["name"], None), ("—", None), (f"skipped: {column['skipped']}", None)]
            )
            continue
        cells = _cells_of(data, column)
        own = [c for c in cells if c["own"] is not None]
        errors = [c for c in cells if c["error"]]
        failing = [c for c in own if not own_passed(c)]
        if errors:
            verdict: Cell = (f"could not run: {errors[0]['error']}", None)
        elif column["profile"] is None:
            verdict = (column["note"] or "no profile", None)
        elif failing:
            first = failing[0]
            if first["own"]["failures"]:
                link = anchor(first, "own", first["own"]["failures"][0]["guarantee"])
            else:
                scenario = next(r for r in first["scenarios"] if r["own"] and r["own"].get("broken"))
                link = scenario_anchor(first, "own", scenario["name"])
            verdict = (f"{BROKEN} does not refine it ({first['kind']} {first['transport']})", link)
        else:
            verdict = (f"{KEPT} refines it ({len(own)} cells)", None)
        rows.append([(label, None), (column["executable"], None), (column["profile"] or "—", None), verdict])
    return rows


def guarantee_rows(data: dict[str, Any]) -> list[list[Cell]]:
    """Per guarantee, per interpreter: kept against documented in every cell, or where not."""
    names = [g.name for g in GUARANTEES] + [MISSING_CLASS]
    rows = []
    for name in names:
        row: list[Cell] = [(name, None)]
        for column in _checked(data):
            row.append(_guarantee_cell(_cells_of(data, column), name))
        rows.append(row)
    return rows


def _guarantee_cell(cells: list[dict[str, Any]], name: str) -> Cell:
    checked = [c for c in cells if c["documented"] is not None]
    if not checked:
        return (UNCHECKED, None)
    broken = [c for c in checked if _breaks(c["documented"], name)]
    if not broken:
        return (KEPT, None)
    where = " ".join(f"{c['kind']}/{c['transport']}" for c in broken)
    shortest = min(broken, key=lambda c: _steps(c["documented"], name))
    guarantee = None if name == MISSING_CLASS else name
    return (f"{BROKEN} {where}", anchor(shortest, "documented", guarantee))


def _breaks(side: dict[str, Any], name: str) -> bool:
    if name == MISSING_CLASS:
        return any(f.get("kind") == "missing-class" for f in side["failures"])
    return name in side["broken"]


def _steps(side: dict[str, Any], name: str) -> int:
    lengths = [len(f["steps"]) for f in side["failures"] if f["guarantee"] == name]
    return min(lengths, default=0)


def scenario_rows(data: dict[str, Any]) -> list[list[Cell]]:
    """Per scenario, per interpreter: as documented, or the guarantee it breaks and where."""
    rows = []
    for scenario in data.get("scenarios", []):
        row: list[Cell] = [(f"{scenario['name']}: {scenario['recipe']} (§{scenario['where']})", None)]
        for column in _checked(data):
            row.append(_scenario_cell(_cells_of(data, column), scenario["name"]))
        rows.append(row)
    return rows


def _scenario_cell(cells: list[dict[str, Any]], name: str) -> Cell:
    runs = [
        (c, r) for c in cells for r in c.get("scenarios", []) if r["name"] == name and r["documented"]["ran"]
    ]
    if not runs:
        return (UNCHECKED, None)
    own = [(c, r) for c, r in runs if r["own"] is not None and r["own"]["broken"]]
    if own:
        cell, result = own[0]
        return (f"{BROKEN} own profile: {result['own']['broken']}", scenario_anchor(cell, "own", name))
    broken = [(c, r) for c, r in runs if r["documented"]["broken"]]
    if not broken:
        return (KEPT, None)
    guarantees = sorted({r["documented"]["broken"] for _, r in broken})
    where = " ".join(f"{c['kind']}/{c['transport']}" for c, _ in broken)
    return (f"{BROKEN} {', '.join(guarantees)}: {where}", scenario_anchor(broken[0][0], "documented", name))


def scenario_anchor(cell: dict[str, Any], side: str, name: str) -> str:
    return f"c{cell['column']}-{cell['kind']}-{cell['transport']}-{side}-scenario-{name}"


def profile_rows(data: dict[str, Any]) -> list[list[Cell]]:
    profiles = data["profiles"]
    switches = list(profiles[0]["switches"])
    rows = [[("versions", None), *((p["summary"], None) for p in profiles)]]
    for switch in switches:
        documented = profiles[0]["switches"][switch]
        row: list[Cell] = [(switch, None)]
        for profile in profiles:
            value = profile["switches"][switch]
            row.append((value if value == documented or profile is profiles[0] else f"**{value}**", None))
        rows.append(row)
    return rows


def counterexamples(data: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    """(anchor, heading, lines) for every failure of every cell."""
    found = []
    for cell in data["cells"]:
        label = data["columns"][cell["column"]]["label"]
        for side in ("own", "documented"):
            if cell[side] is None:
                continue
            seen = set()
            for failure in cell[side]["failures"]:
                key = anchor(cell, side, failure["guarantee"])
                if key in seen:
                    continue
                seen.add(key)
                what = failure["guarantee"] or failure.get("kind", "failure")
                heading = (
                    f"{label}, {cell['kind']} {cell['transport']}, profile {cell[side]['profile']}: {what}"
                )
                found.append((key, heading, failure["text"]))
        for result in cell.get("scenarios", []):
            for side in ("own", "documented"):
                run = result[side]
                if run is None or not run.get("broken"):
                    continue
                profile = "documented" if side == "documented" else data["columns"][cell["column"]]["profile"]
                heading = (
                    f"{label}, {cell['kind']} {cell['transport']}, profile {profile}: "
                    f"scenario {result['name']} breaks {run['broken']}"
                )
                found.append((scenario_anchor(cell, side, result["name"]), heading, run["text"]))
    return found


# --- Markdown ----------------------------------------------------------------------------


def _md_cell(cell: Cell) -> str:
    text, link = cell
    text = text.replace("|", "\\|")
    return f"[{text}](#{link})" if link else text


def _md_table(header: list[str], rows: list[list[Cell]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return lines


def to_markdown(data: dict[str, Any]) -> str:
    versions = [c["label"] for c in _checked(data)]
    lines = [
        "# sockcheck matrix",
        "",
        f"Started {data['started']}; {data['examples']} examples per check, seed {data['seed']}; "
        f"against `documented` up to {data['rounds']} rounds, each with its own seed and muting the "
        f"guarantees found broken before it, until {data.get('quiet_rounds', 1)} in a row find nothing new.",
        "",
        "## Interpreters",
        "",
        *_md_table(["interpreter", "path", "profile", "against its own profile"], interpreters_rows(data)),
        "",
        "## Guarantees against `documented`",
        "",
        f"{KEPT} kept in every cell checked; {BROKEN} broken in the cells named (kind/transport), "
        "linked to the shortest counterexample.",
        "",
        *_md_table(["guarantee", *versions], guarantee_rows(data)),
        "",
        "## The reference notes' recipes, replayed in every cell",
        "",
        f"{KEPT} as documented in every cell it applies to; {BROKEN} the guarantee it breaks against "
        "`documented`, and where, linked to the run.",
        "",
        *_md_table(["scenario", *versions], scenario_rows(data)),
        "",
        "## Profiles: how each line differs from `documented`",
        "",
        *_md_table(["switch", *(p["name"] for p in data["profiles"])], profile_rows(data)),
        "",
        "## Counterexamples",
        "",
    ]
    for key, heading, text in counterexamples(data):
        lines += [f'<a id="{key}"></a>', f"### {heading}", "", "```", *text, "```", ""]
    return "\n".join(lines).rstrip() + "\n"


# --- HTML --------------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; vertical-align: top; }
th { background: #f4f4f4; }
.broken { background: #fde8e8; }
.kept { color: #1a7f37; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; }
"""


def _html_cell(cell: Cell, tag: str = "td") -> str:
    text, link = cell
    body = html.escape(text.replace("**", ""))
    if text.startswith("**"):
        body = f"<strong>{body}</strong>"
    if link:
        body = f'<a href="#{html.escape(link)}">{body}</a>'
    css = ' class="broken"' if text.startswith(BROKEN) else ' class="kept"' if text == KEPT else ""
    return f"<{tag}{css}>{body}</{tag}>"


def _html_table(header: list[str], rows: list[list[Cell]]) -> list[str]:
    lines = ["<table>", "<tr>" + "".join(_html_cell((h, None), "th") for h in header) + "</tr>"]
    lines += ["<tr>" + "".join(_html_cell(c) for c in row) + "</tr>" for row in rows]
    return [*lines, "</table>"]


def to_html(data: dict[str, Any]) -> str:
    versions = [c["label"] for c in _checked(data)]
    lines = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8"><title>sockcheck matrix</title>',
        f"<style>{_STYLE}</style></head><body>",
        "<h1>sockcheck matrix</h1>",
        f"<p>Started {html.escape(data['started'])}; {data['examples']} examples per check, seed "
        f"{data['seed']}; against <code>documented</code> up to {data['rounds']} rounds, each with its own "
        "seed and muting the guarantees found broken before it, until "
        f"{data.get('quiet_rounds', 1)} in a row find nothing new.</p>",
        "<h2>Interpreters</h2>",
        *_html_table(["interpreter", "path", "profile", "against its own profile"], interpreters_rows(data)),
        "<h2>Guarantees against <code>documented</code></h2>",
        f"<p>{KEPT} kept in every cell checked; {BROKEN} broken in the cells named (kind/transport), "
        "linked to the shortest counterexample.</p>",
        *_html_table(["guarantee", *versions], guarantee_rows(data)),
        "<h2>The reference notes' recipes, replayed in every cell</h2>",
        f"<p>{KEPT} as documented in every cell it applies to; {BROKEN} the guarantee it breaks against "
        "<code>documented</code>, and where, linked to the run.</p>",
        *_html_table(["scenario", *versions], scenario_rows(data)),
        "<h2>Profiles: how each line differs from <code>documented</code></h2>",
        *_html_table(["switch", *(p["name"] for p in data["profiles"])], profile_rows(data)),
        "<h2>Counterexamples</h2>",
    ]
    for key, heading, text in counterexamples(data):
        lines += [f'<h3 id="{html.escape(key)}">{html.escape(heading)}</h3>']
        lines += ["<pre>" + html.escape("\n".join(text)) + "</pre>"]
    lines.append("</body></html>")
    return "\n".join(lines) + "\n"
