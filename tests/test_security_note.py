"""SECURITY.md promises only what a test proves: every test it names exists, the README links it, and the
source distribution ships it (MANIFEST.in)."""

from __future__ import annotations

import ast
import re

from tests.helpers import ROOT

NOTE = (ROOT / "SECURITY.md").read_text()
CITED = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def test_every_test_the_security_note_names_exists():
    cited = CITED.findall(NOTE)
    assert len(cited) >= 30, cited
    missing = []
    for path, name in cited:
        source = ROOT / path
        tests = (
            {
                node.name
                for node in ast.walk(ast.parse(source.read_text()))
                if isinstance(node, ast.FunctionDef)
            }
            if source.exists()
            else set()
        )
        if name not in tests:
            missing.append(f"{path}::{name}")
    assert missing == []


def test_the_readme_links_the_note_and_the_sdist_ships_it():
    # absolute, as every README link (it is the package's long description on PyPI)
    assert (
        "(https://github.com/airflow-dtcal/airflow-dtcal/blob/main/SECURITY.md)"
        in (ROOT / "README.md").read_text()
    )
    includes = [
        line.split()
        for line in (ROOT / "MANIFEST.in").read_text().splitlines()
        if line.startswith("include ")
    ]
    assert any("SECURITY.md" in words for words in includes)
    assert "## Reporting a vulnerability" in NOTE and "## What is not protected" in NOTE
