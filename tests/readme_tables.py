"""The README's tables of guarantees and broken variants, made from the code.

`python -m tests.readme_tables` rewrites them in README.md; tests/test_project.py fails
while the README says something else.
"""

from __future__ import annotations

import re
from pathlib import Path

from model import GUARANTEES, PROFILES
from tests.regression.mutants import VARIANTS

README = Path(__file__).resolve().parent.parent / "README.md"


def guarantees_table() -> str:
    rows = [f"| `{g.name}` | {g.statement} | {g.issue or '—'} |" for g in GUARANTEES]
    return "\n".join(["| guarantee | statement | CPython issue |", "|---|---|---|", *rows])


def profiles_table() -> str:
    rows = [f"| `{p.name}` | {p.summary} |" for p in PROFILES.values()]
    return "\n".join(["| profile | what it is |", "|---|---|", *rows])


def variants_table() -> str:
    rows = [
        f"| `{v.name}` | {v.what} | {v.kind} | {v.transport}{' --misuse' if v.misuse else ''} | "
        f"`{v.guarantee}` | {v.steps} | {v.issue or '—'} |"
        for v in VARIANTS
    ]
    header = "| variant | the bug | kind | transport | caught by | steps | re-injects |"
    return "\n".join([header, "|---|---|---|---|---|---|---|", *rows])


def rewrite(text: str) -> str:
    text = re.sub(
        r"\| guarantee \| statement.*?\n\n", lambda _: guarantees_table() + "\n\n", text, flags=re.S
    )
    text = re.sub(r"\| profile \| what it is.*?\n\n", lambda _: profiles_table() + "\n\n", text, flags=re.S)
    return re.sub(r"\| variant \| the bug.*?\n\n", lambda _: variants_table() + "\n\n", text, flags=re.S)


if __name__ == "__main__":
    README.write_text(rewrite(README.read_text()))
