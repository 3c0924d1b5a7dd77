"""The incremental export's watermark: one record per interval, beside the data (the ``calendars`` table).

Sized for 5,000 calendars and a year of daily intervals; tested here at 10 times both (50,000 calendars in a
record, 3,650 interval partitions), and at each bound: what is beyond it fails naming the file.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from airflow_dtcal.core.errors import DingTalkConfigurationError
from airflow_dtcal.core.paging import MAX_TOKEN_CHARS
from airflow_dtcal.export.partition import SUCCESS, partition_name
from airflow_dtcal.export.plan import MAX_CALENDARS
from airflow_dtcal.export.rows import RowContext, calendar_row
from airflow_dtcal.state import watermarks
from airflow_dtcal.state.watermarks import Mark, Start

UTC = dt.timezone.utc
D1, D2, D3 = (dt.datetime(2026, 3, d, tzinfo=UTC) for d in (9, 10, 11))
H = "2026-03-09T00:00:00Z"  # a horizon
TOKEN = "t" * 125  # the size of DingTalk's tokens


def _line(day: dt.datetime, owner: str, mode="incremental", started=None, ended=TOKEN, horizon=H, until=None):
    context = RowContext(
        watermarks.interval_key(day), watermarks.interval_key(day + dt.timedelta(days=1)), owner, "primary"
    )
    row = calendar_row(
        context,
        mode=mode,
        listed_from=horizon,
        listed_until=until,
        started_from=started,
        ended_at=ended,
        events=0,
    )
    return json.dumps(row, separators=(",", ":")) + "\n"


def _record(root: Path, day: dt.datetime, lines: str, complete: bool = True) -> Path:
    directory = root / "calendars" / partition_name(day)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "part-0.jsonl").write_text(lines)
    if complete:
        (directory / SUCCESS).write_text("")
    return directory / "part-0.jsonl"


def test_a_new_interval_continues_from_the_latest_complete_one_and_a_rerun_replays_its_own(tmp_path):
    _record(tmp_path, D1, _line(D1, "a", mode="full", ended="A1"))
    _record(tmp_path, D2, _line(D2, "a", started="A1", ended="A2") + _line(D2, "b", mode="full", ended="B2"))
    starts = watermarks.load_start_points(tmp_path, D3, ["a", "b", "c"], "2026-03-11T00:00:00Z")
    assert starts == {"a": Start("A2", H), "b": Start("B2", H), "c": Start(None, "2026-03-11T00:00:00Z")}
    # A re-run of D2 starts each calendar where D2 started it: a from A1, b with a full listing from its horizon.
    _record(tmp_path, D3, _line(D3, "a", started="A2", ended="A3"))
    again = watermarks.load_start_points(tmp_path, D2, ["a", "b"], "2026-03-10T00:00:00Z")
    assert again == {"a": Start("A1", H), "b": Start(None, H)}


def test_an_incomplete_earlier_interval_is_skipped_a_later_one_ignored(tmp_path):
    _record(tmp_path, D1, _line(D1, "a", ended="A1"))
    _record(tmp_path, D2, _line(D2, "a", started="A1", ended="A2"), complete=False)  # its run failed
    _record(tmp_path, D3, _line(D3, "a", started="A1", ended="A3"))
    (tmp_path / "calendars" / "not-a-partition").mkdir()
    assert watermarks.load_start_points(tmp_path, D3 + dt.timedelta(days=1), ["a"], H) == {
        "a": Start("A3", H)
    }
    # A run of D2 (after D3 exists) continues from D1, not from the later D3.
    own, earlier = watermarks.locate(tmp_path, D2)
    assert own == tmp_path / "calendars" / partition_name(D2) / "part-0.jsonl"
    assert earlier == tmp_path / "calendars" / partition_name(D1) / "part-0.jsonl"


def test_full_mode_records_are_not_continued(tmp_path):
    _record(tmp_path, D1, _line(D1, "a", mode="full", ended=None, until="2026-03-10T00:00:00Z"))
    assert watermarks.load_start_points(tmp_path, D2, ["a"], "2026-03-10T00:00:00Z") == {
        "a": Start(None, "2026-03-10T00:00:00Z")
    }


def test_no_destination_yet_lists_in_full(tmp_path):
    assert watermarks.load_start_points(tmp_path / "new", D1, ["a"], H) == {"a": Start(None, H)}


def test_a_year_of_daily_intervals_at_ten_times_reads_two_records(tmp_path):
    """3,650 interval partitions: the run reads its own record and the latest complete earlier one only (every
    other record is garbage here: reading any of them would fail)."""
    start = dt.datetime(2020, 1, 1, tzinfo=UTC)
    days = [start + dt.timedelta(days=n) for n in range(3650)]
    for day in days[:-2]:
        _record(tmp_path, day, "not a record\n")
    _record(tmp_path, days[-2], _line(days[-2], "a", ended="latest"))
    _record(tmp_path, days[-1], _line(days[-1], "a", started="latest", ended="own"))
    assert watermarks.load_start_points(tmp_path, days[-1], ["a"], H) == {"a": Start("latest", H)}
    assert watermarks.load_start_points(tmp_path, days[-1] + dt.timedelta(days=1), ["a"], H) == {
        "a": Start("own", H)
    }


def test_a_record_of_fifty_thousand_calendars_with_tokens_is_read(tmp_path):
    """10 times the 5,000 calendars an export is sized for, each with two 125-character tokens (~24 MB)."""
    owners = [f"union-{n:06d}" for n in range(MAX_CALENDARS)]
    path = _record(tmp_path, D1, "".join(_line(D1, o, started=TOKEN, ended=f"{o}-{TOKEN}") for o in owners))
    assert path.stat().st_size > 20_000_000
    marks = watermarks.read_record(path, watermarks.interval_key(D1), owners)
    assert len(marks) == MAX_CALENDARS
    assert marks["union-049999"] == Mark("incremental", H, None, TOKEN, f"union-049999-{TOKEN}")
    # A run of some of those calendars keeps only theirs.
    assert list(watermarks.read_record(path, watermarks.interval_key(D1), ["union-000007"])) == [
        "union-000007"
    ]


def test_beyond_the_bounds_the_record_is_refused_naming_the_file(tmp_path):
    path = _record(tmp_path, D1, "".join(_line(D1, f"u{n}") for n in range(MAX_CALENDARS + 1)))
    with pytest.raises(
        DingTalkConfigurationError,
        match=f"{re.escape(str(path))} has more than 50,000 lines.*remove its directory",
    ):
        watermarks.read_record(path, watermarks.interval_key(D1), ["u1"])
    path.write_text(_line(D1, "a") + "x" * (watermarks.MAX_LINE_BYTES + 10) + "\n")
    with pytest.raises(DingTalkConfigurationError, match="line 2 is longer than"):
        watermarks.read_record(path, watermarks.interval_key(D1), ["a"])


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("[1]\n", "line 1 is not a JSON object"),
        ("[" * 3000 + "]" * 3000 + "\n", "line 1 is not a JSON object"),  # was a raw RecursionError
        (_line(D2, "a"), "line 1 holds interval_start '2026-03-10T00:00:00\\+00:00'"),
        (_line(D1, "a", mode="other"), "line 1 has mode 'other'"),
        (_line(D1, "a", ended="t" * (MAX_TOKEN_CHARS + 1)), "ended_at that is not a sync token"),
        (_line(D1, "a", ended="with space"), "ended_at that is not a sync token"),
        (_line(D1, "a", horizon="yesterday"), "listed_from that is not a UTC instant"),
        (_line(D1, "a") + _line(D1, "a"), "line 2 repeats calendar_owner 'a'"),
        (_line(D1, ""), "line 1 has no calendar_owner"),
    ],
)
def test_a_damaged_record_is_refused_naming_the_file_and_line(tmp_path, line, problem):
    path = _record(tmp_path, D1, line)
    with pytest.raises(DingTalkConfigurationError, match=problem) as caught:
        watermarks.load_start_points(tmp_path, D1, ["a"], H)
    assert str(path) in str(caught.value)
