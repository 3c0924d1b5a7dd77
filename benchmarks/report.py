"""Write a run's table and machine line into docs/benchmarks.md (the README links there).

    .venv/bin/python benchmarks/report.py [results/latest.json]

``run.py`` calls this after a full run of every measure. Only the text between the markers
``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->`` is replaced; the discussion around it is written by hand.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from harness import ROOT, render_table

DOCS = ROOT / "docs" / "benchmarks.md"


def machine_line(document: dict) -> str:
    m = document["machine"]
    v = m["versions"]
    start = m["load_average_at_start"]
    end = m.get("load_average_at_end", ["?"])
    return (
        f"Full run of {m['date'][:10]} ({document['elapsed_s']:.0f} s), commit {m['git_commit']}"
        f"{' with local changes' if m.get('git_tracked_changes') else ''}: {m['cpu_model']}, "
        f"{m['cpus_usable']} CPUs, {m['memory_gib']} GiB, {m['python']}; apache-airflow {v['apache-airflow']}, "
        f"alibabacloud-dingtalk {v['alibabacloud-dingtalk']} (tea-openapi {v['alibabacloud-tea-openapi']}), "
        f"requests {v['requests']}. Load average {start[0]} at the start and {end[0]} at the end "
        "(the machine is shared with other jobs)."
    )


def _replace(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- bench:{name} -->\n).*?(<!-- /bench:{name} -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"marker <!-- bench:{name} --> not found")
    return pattern.sub(lambda m: m.group(1) + body.rstrip("\n") + "\n" + m.group(2), text)


def update(document: dict) -> None:
    table = render_table(document["table"])
    line = machine_line(document)
    for path in (DOCS,):
        text = path.read_text(encoding="utf-8")
        text = _replace(text, "machine", line)
        text = _replace(text, "table", table)
        path.write_text(text, encoding="utf-8")


def main(argv: list[str]) -> None:
    source = Path(argv[0]) if argv else Path(__file__).resolve().parent / "results" / "latest.json"
    update(json.loads(source.read_text(encoding="utf-8")))
    print(f"updated {DOCS.relative_to(ROOT)} from {source}")


if __name__ == "__main__":
    main(sys.argv[1:])
