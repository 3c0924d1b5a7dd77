"""The report's sizes, against the emulator over real HTTP: the old watermark (31 intervals x 2 tokens x
every calendar in one Variable) passed Airflow's 256 KiB on day 9 at 100 calendars, day 2 at 500 and day 1
at 1,000, after the run had written its data and ``_SUCCESS``, and every later run failed the same way.

Now each interval has its own record beside its data (one line per calendar), so its size depends on the
calendars only, never on how many days ran before; the runs past the old failure day succeed and carry on
from the day before. (10 times the sizes an export is sized for: tests/state/test_watermarks.py.)
"""

from __future__ import annotations

import json

import pendulum
import pyarrow.parquet as pq
import pytest

from tests.transfers.test_export import export

DAY1 = pendulum.datetime(2026, 3, 9, tz="UTC")


@pytest.fixture
def unpaced(dtcal_emulator, monkeypatch):
    """The emulator's connection without the client's 20 calls/s pacing (1,000 calendars are 1,000 calls)."""
    conn = json.loads(dtcal_emulator.connection_json(dtcal_emulator.app_key, dtcal_emulator.app_secret))
    conn["extra"] = {"rate_limit": 0}
    monkeypatch.setenv("AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT", json.dumps(conn))
    return dtcal_emulator


@pytest.mark.scale
@pytest.mark.parametrize(("calendars", "days"), [(1000, 2), (500, 3), (100, 10)])
def test_incremental_runs_past_the_day_the_old_watermark_failed(unpaced, tmp_path, calendars, days):
    owners = [f"union-size-{n:05d}" for n in range(calendars)]
    sizes, previous = [], []
    for day in range(days):
        run = export(
            tmp_path,
            start=DAY1.add(days=day),
            mode="incremental",
            calendars=owners,
            attendees=False,
            formats=["jsonl", "parquet"],
        )
        assert run.result["mode"] == ("full" if day == 0 else "incremental")
        assert run.result["calendars"] == dict.fromkeys(owners, run.result["mode"])
        marks = run.rows(tmp_path, "calendars")
        assert [m["calendar_owner"] for m in marks] == owners
        assert all(len(m["ended_at"]) >= 100 for m in marks)  # tokens of the report's size
        if day:
            assert [m["started_from"] for m in marks] == [m["ended_at"] for m in previous]
        previous = marks
        record = tmp_path / "calendars" / run.result["partition"] / "part-0.jsonl"
        sizes.append(record.stat().st_size)
        parquet = pq.ParquetFile(record.with_suffix(".parquet"))
        assert parquet.metadata.num_rows == calendars and parquet.metadata.num_row_groups == 1
    # The record of a day does not grow with the days before it: about 400 bytes per calendar.
    assert max(sizes) < calendars * 600
    assert max(sizes[1:], default=sizes[0]) - min(sizes[1:], default=sizes[0]) < calendars * 8
