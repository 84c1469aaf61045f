"""A small, deterministic SVG picture of the phase graph: Graphviz is not required.

Nodes are boxes laid out in columns by their breadth-first depth from the initial phase,
arrows are straight lines between box borders with one short label each. The same edges
give the same bytes: everything is sorted, and every coordinate is rounded to a whole pixel.
"""

from __future__ import annotations

import html
import math
from collections import deque
from collections.abc import Iterable

from model.explore import Edge

CHAR_WIDTH = 7  # px per character of the 12px monospace font: boxes fit their text
LINE_HEIGHT = 16
PAD = 8
COLUMN_GAP = 230  # room between columns for the arrows' labels
ROW_GAP = 44
MARGIN = 20
ARROW_OFFSET = 5  # a pair of opposite arrows is drawn side by side, not on top of each other

Arrows = dict[tuple[str, str], list[str]]
Box = tuple[float, float, float, float]  # centre x, centre y, width, height


def arrows_of(edges: Iterable[Edge]) -> Arrows:
    """One arrow per pair of different phases, with the sorted names of the events taking it
    (self-loops left out: every phase has attribute changes and the like that keep it)."""
    found: dict[tuple[str, str], set[str]] = {}
    for e in edges:
        if e.before != e.after:
            found.setdefault((e.before, e.after), set()).add(e.event)
    return {pair: sorted(names) for pair, names in sorted(found.items())}


def short_label(names: list[str]) -> str:
    """The first event's name, and how many more take the same arrow."""
    return names[0] if len(names) == 1 else f"{names[0]} (+{len(names) - 1} more)"


def depths(nodes: Iterable[str], arrows: Arrows, start: str) -> dict[str, int]:
    """Breadth-first depth from `start`; a node it does not reach goes one column further."""
    depth = {start: 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for a, b in arrows:
            if a == node and b not in depth:
                depth[b] = depth[node] + 1
                queue.append(b)
    beyond = max(depth.values()) + 1
    return {node: depth.get(node, beyond) for node in sorted(nodes)}


def _lines(node: str) -> list[str]:
    """A phase's parts, one per line: `open, serve_forever(), shutdown() waits`."""
    return node.split(", ")


def _size(node: str) -> tuple[float, float]:
    lines = _lines(node)
    return max(map(len, lines)) * CHAR_WIDTH + 2 * PAD, len(lines) * LINE_HEIGHT + PAD


def columns_of(nodes: Iterable[str], arrows: Arrows, start: str) -> dict[int, list[str]]:
    """The phases of `start`'s kind (open), in columns by their depth from it."""
    opened = [n for n in sorted(nodes) if _phase(n) == _phase(start)]
    inner = {pair: names for pair, names in arrows.items() if set(pair) <= set(opened)}
    columns: dict[int, list[str]] = {}
    for node, d in sorted(depths(opened, inner, start).items(), key=lambda item: (item[1], item[0])):
        columns.setdefault(d, []).append(node)
    return columns


def _phase(node: str) -> str:
    return node.split(",")[0]


def layout(nodes: Iterable[str], arrows: Arrows, start: str) -> dict[str, Box]:
    """A top band holds the end of a server's life as a triangle, so that its three arrows
    (open to closing, open to closed, closing to closed) cross nothing: `start` at the top
    left, the closed phases below it, the closing ones to its right. The other phases of
    `start`'s kind hang below the band in columns by depth."""
    nodes = sorted(nodes)
    columns = columns_of(nodes, arrows, start)
    closed = [n for n in nodes if _phase(n) == "closed"]
    closing = [n for n in nodes if n not in closed and _phase(n) != _phase(start)]
    columns[0] = [start, *closed]
    widths = {d: max(_size(n)[0] for n in column) for d, column in columns.items()}
    xs, x = {}, float(MARGIN)
    for d in sorted(columns):
        xs[d] = x
        x += widths[d] + COLUMN_GAP
    boxes = _stack(columns[0], xs[0] + widths[0] / 2, MARGIN)
    band = max(cy + h / 2 for _, cy, _, h in boxes.values())
    for i, node in enumerate(closing):
        d = min(i + 1, max(xs))
        boxes |= _stack([node], xs[d] + widths[d] / 2 + (i + 1 - d) * COLUMN_GAP, MARGIN)
    for d in sorted(columns)[1:]:
        boxes |= _stack(columns[d], xs[d] + widths[d] / 2, band + ROW_GAP)
    return boxes


def _stack(column: list[str], cx: float, top: float) -> dict[str, Box]:
    """Boxes one below the other, centred on cx, from `top` down."""
    boxes = {}
    for node in column:
        w, h = _size(node)
        boxes[node] = (cx, top + h / 2, w, h)
        top += h + ROW_GAP
    return boxes


def _border(box: Box, dx: float, dy: float) -> tuple[float, float]:
    """Where the ray from the box's centre in direction (dx, dy) leaves the box."""
    cx, cy, w, h = box
    t = min(w / 2 / abs(dx) if dx else math.inf, h / 2 / abs(dy) if dy else math.inf)
    return cx + t * dx, cy + t * dy


def _arrow(a: Box, b: Box, label: str, where: float) -> list[str]:
    dx, dy = b[0] - a[0], b[1] - a[1]
    length = math.hypot(dx, dy) or 1.0
    nx, ny = -dy / length * ARROW_OFFSET, dx / length * ARROW_OFFSET
    x1, y1 = _border(a, dx, dy)
    x2, y2 = _border(b, -dx, -dy)
    x1, y1, x2, y2 = x1 + nx, y1 + ny, x2 + nx, y2 + ny
    lx, ly = x1 + (x2 - x1) * where, y1 + (y2 - y1) * where - 3
    return [
        f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" class="arrow"/>',
        f'<text x="{lx:.0f}" y="{ly:.0f}" class="label">{html.escape(label)}</text>',
    ]


def _node(node: str, box: Box) -> list[str]:
    cx, cy, w, h = box
    out = [f'<rect x="{cx - w / 2:.0f}" y="{cy - h / 2:.0f}" width="{w:.0f}" height="{h:.0f}" rx="6"/>']
    top = cy - h / 2 + PAD / 2 + LINE_HEIGHT - 4
    for i, line in enumerate(_lines(node)):
        out.append(f'<text x="{cx:.0f}" y="{top + i * LINE_HEIGHT:.0f}">{html.escape(line)}</text>')
    return out


_STYLE = (
    "<style>rect{fill:#f4f6fb;stroke:#345;stroke-width:1.2}"
    "text{font:12px monospace;text-anchor:middle;fill:#123}"
    ".arrow{stroke:#567;stroke-width:1;marker-end:url(#head)}"
    ".label{font-size:10px;fill:#603;paint-order:stroke;stroke:#fff;stroke-width:3px}</style>"
)
_HEAD = (
    '<defs><marker id="head" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
    'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#567"/></marker></defs>'
)


def render(edges: Iterable[Edge], start: str = "open") -> str:
    """The picture as SVG text. Labels sit at staggered points along their arrows (by the
    arrow's rank) so that arrows leaving the same box do not stack their labels."""
    edges = list(edges)
    arrows = arrows_of(edges)
    nodes = {e.before for e in edges} | {e.after for e in edges}
    boxes = layout(nodes, arrows, start)
    width = max(cx + w / 2 for cx, _, w, _ in boxes.values()) + MARGIN
    height = max(cy + h / 2 for _, cy, _, h in boxes.values()) + MARGIN
    body = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}">',
        _STYLE,
        _HEAD,
    ]
    for rank, ((a, b), names) in enumerate(arrows.items()):
        body += _arrow(boxes[a], boxes[b], short_label(names), 0.3 + 0.1 * (rank % 5))
    for node in sorted(boxes):
        body += _node(node, boxes[node])
    body.append("</svg>")
    return "\n".join(body) + "\n"
