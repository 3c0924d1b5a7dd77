"""The steps of docs/deploy.md ("Deploy it for real"), read from the document itself, so that the deployment
runs what a reader is told to run: the SQL that creates the database, the settings file every service reads,
and the commands of the last steps. No Airflow or project import (tests/test_deploy_doc.py reads it too).

The document's placeholders (``<db password>``...) are filled with the deployment's own values; a placeholder
the deployment does not know, or a step it cannot find, is an error. What the deployment sets beyond the
document, or differently, is listed in ``DEPLOYMENT_ONLY``; the document names each of those keys.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
SETTINGS_FILE = "/etc/airflow/airflow.env"  # the first line of the settings block names it
PLACEHOLDER = re.compile(r"<[a-z][A-Za-z0-9 .'-]*>")

#: Every placeholder of the walkthrough: what the deployment puts there.
PLACEHOLDERS = (
    "<db host>",
    "<db port>",
    "<db password>",
    "<airflow home>",
    "<dags folder>",
    "<listen address>",
    "<airflow host>",
    "<api port>",
    "<random secret 1>",
    "<random secret 2>",
    "<admin password>",
    "<app key>",
    "<app secret>",
    "<organizer unionId>",
    "<all-hands event id>",
    "<export destination>",
)

#: Settings the deployment adds to the document's or sets differently, and why (docs/deploy.md names each).
DEPLOYMENT_ONLY = {
    "AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT": "the same connection with the emulator's URL as its host",
    "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False: runs only when triggered, with known logical dates",
    "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": "the deployment's own watch DAGs beside dags/",
    "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "15 s: a killed triggerer's watches move sooner",
    "AIRFLOW__API__WORKERS": "1 API server worker process (a small machine)",
    "DTCAL_WATCH_POLL_INTERVAL": "the watches' safety poll, seconds instead of 15 minutes",
    "DTCAL_WATCH_CALL_BUDGET": "the watches' monthly call budget, unlimited",
}


@dataclass(frozen=True)
class Block:
    language: str
    lines: tuple[str, ...]


def blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown text."""
    found, current, language = [], None, ""
    for line in text.splitlines():
        if line.startswith("```"):
            if current is None:
                current, language = [], line[3:].strip()
            else:
                found.append(Block(language, tuple(current)))
                current = None
        elif current is not None:
            current.append(line)
    return found


def fill(text: str, values: dict[str, str]) -> str:
    """``text`` with each placeholder replaced; an unknown placeholder is an error."""
    unknown = set(PLACEHOLDER.findall(text)) - set(values)
    if unknown:
        raise ValueError(f"docs/deploy.md uses placeholders the deployment does not fill: {sorted(unknown)}")
    return PLACEHOLDER.sub(lambda m: values[m.group(0)], text)


class Walkthrough:
    """The steps of docs/deploy.md, with the placeholders still in (``fill`` them)."""

    def __init__(self, text: str | None = None) -> None:
        self.text = DOC.read_text() if text is None else text
        self.blocks = blocks(self.text)

    def database_sql(self) -> list[str]:
        """The SQL statements of the database step (the one ``sql`` block)."""
        [block] = [b for b in self.blocks if b.language == "sql"]
        statements = " ".join(ln for ln in block.lines if not ln.lstrip().startswith("--")).split(";")
        return [s.strip() for s in statements if s.strip()]

    def settings(self) -> dict[str, str]:
        """The settings file every service reads: ``KEY=value`` lines (a value in single quotes as the shell
        reads it; the placeholders in unquoted values hold spaces until they are filled)."""
        [block] = [b for b in self.blocks if b.lines and b.lines[0] == f"# {SETTINGS_FILE}"]
        settings = {}
        for line in block.lines:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            key, sep, value = line.partition("=")
            if value.startswith("'"):
                [value] = shlex.split(value)
            if not sep or not re.fullmatch(r"[A-Z][A-Z0-9_]*", key) or key in settings:
                raise ValueError(f"docs/deploy.md: not a KEY=value line, or a repeated key: {line!r}")
            settings[key] = value
        return settings

    def commands(self, program: str, *subcommand: str) -> list[list[str]]:
        """The command lines of the walkthrough that start ``program subcommand...`` (comments dropped)."""
        found = []
        for block in self.blocks:
            if block.language != "bash":
                continue
            for line in block.lines:
                if line.split()[:1] != [program]:
                    continue
                argv = shlex.split(line, comments=True)
                if argv[: 1 + len(subcommand)] == [program, *subcommand]:
                    found.append(argv)
        return found

    def placeholders(self) -> set[str]:
        """Every placeholder in the steps the deployment runs."""
        steps = [*self.database_sql(), *self.settings().values()]
        steps += [" ".join(a) for a in self.commands("airflow")]
        return {p for step in steps for p in PLACEHOLDER.findall(step)}
