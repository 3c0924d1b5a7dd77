"""The README's code blocks, read the way the tests run them (shared by test_readme and test_fresh_venv)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
REPO_URL = "https://github.com/airflow-dtcal/airflow-dtcal"
_BLOCK = re.compile(
    r"(?:<!-- (?P<kind>file|run): (?P<name>[^>]+?) -->\n)?```(?P<lang>[a-z]*)\n(?P<body>.*?)```", re.S
)


@dataclass(frozen=True)
class Block:
    lang: str
    body: str
    kind: str | None  # "file": written to the user project under `name`; "run": run by the wheel test
    name: str | None


def blocks(text: str | None = None) -> list[Block]:
    text = README.read_text(encoding="utf-8") if text is None else text
    return [Block(m["lang"], m["body"], m["kind"], m["name"]) for m in _BLOCK.finditer(text)]


def user_project(root: Path) -> Path:
    """Write the README's `file:` blocks into a user project at ``root`` (dags/ and tests/)."""
    for block in blocks():
        if block.kind == "file":
            path = root / block.name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(block.body, encoding="utf-8")
    return root
