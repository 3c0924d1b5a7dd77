"""Row counts of each new export partition, scheduled on the daily export's asset.

dingtalk_daily_export ─(Asset dingtalk_calendar_export)─▶ count_rows (@task)

Each finished run of ``dingtalk_daily_export`` records an event of the ``dingtalk_calendar_export`` asset
whose extra names the destination (``path``), the partition it wrote and the rows per table. This DAG runs
on that event: it counts the rows of each table's new partition from the JSON Lines files themselves and
logs them, and fails if a partition is incomplete (no ``_SUCCESS``) or holds other counts than the export
reported. Put your warehouse load or data-quality checks here. Standard library and Airflow only.

Set ``DTCAL_EXPORT_DESTINATION`` to the same value for both DAGs (every Airflow service must see it).
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any
from urllib.parse import urlsplit

import pendulum
from airflow.sdk import DAG, Asset, task

DESTINATION = os.environ.get("DTCAL_EXPORT_DESTINATION", "file:///tmp/dingtalk-export")
_where = urlsplit(DESTINATION)
calendar_export = Asset(
    name="dingtalk_calendar_export", uri=_where._replace(netloc=_where.netloc.rpartition("@")[2]).geturl()
)

TABLES = ("events", "attendees", "check_ins", "calendars")
# The export's partition names (interval_start=2026-11-22T16-10-00+00-00): nothing else is read.
PARTITION = re.compile(r"interval_start=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}-[0-9]{2}-[0-9]{2}\+00-00")

log = logging.getLogger(__name__)

with DAG(
    dag_id="dingtalk_export_row_counts",
    description="Count the rows of each new DingTalk export partition (scheduled on the export's asset)",
    schedule=[calendar_export],
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    tags=["dingtalk", "example", "export"],
) as dag:

    @task
    def count_rows(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """``[{"partition", "rows": {table: count}}]``, one per export event that triggered this run."""
        from airflow.sdk import ObjectStoragePath

        counted = []
        for events in (triggering_asset_events or {}).values():
            for event in events:
                path, partition = event.extra.get("path"), event.extra.get("partition")
                if (
                    not isinstance(path, str)
                    or not isinstance(partition, str)
                    or not PARTITION.fullmatch(partition)
                ):
                    raise ValueError(f"the asset event does not name an export partition: {event.extra!r}")
                reported = event.extra.get("rows") or {}
                rows: dict[str, int] = {}
                for table in TABLES:
                    directory = ObjectStoragePath(path) / table / partition
                    if not directory.exists():
                        continue  # a table the export was not asked for
                    if not (directory / "_SUCCESS").exists():
                        raise ValueError(f"{directory} is incomplete (no _SUCCESS): a run is replacing it")
                    with (directory / "part-0.jsonl").open("rb") as file:  # one row per line
                        chunks = iter(lambda: file.read(1 << 20), b"")  # 3.0's file wrapper is not iterable
                        rows[table] = sum(chunk.count(b"\n") for chunk in chunks)
                    if reported.get(table) is not None and reported[table] != rows[table]:
                        raise ValueError(
                            f"{directory}: {rows[table]} rows, the export reported {reported[table]}"
                        )
                log.info("%s in %s: %s", partition, path, ", ".join(f"{n:,} {t}" for t, n in rows.items()))
                counted.append({"partition": partition, "rows": rows})
        return counted

    count_rows()
