"""Text DingTalk may send: a lone UTF-16 surrogate (valid as a JSON escape, invalid as UTF-8) in any string
field is written by both writers as U+FFFD, the same in JSON Lines and Parquet."""

from __future__ import annotations

import io
import json

import pyarrow.parquet as pq
import pytest

from airflow_dtcal.export.rows import RowContext, attendee_rows, check_in_rows, event_row
from airflow_dtcal.export.writers import JsonLinesWriter, ParquetTableWriter, valid_text

CTX = RowContext("2026-03-09T00:00:00+00:00", "2026-03-10T00:00:00+00:00", "union-a", "primary")
# As json.loads gives it from DingTalk's "\ud83d" escapes: each lone surrogate is a str character.
ANSWER = json.loads(
    '{"id": "ev-\\udc00", "summary": "Plan \\ud83d", "status": "confirmed",'
    ' "start": {"dateTime": "2026-03-09T10:00:00+08:00", "timeZone": "Asia/Shanghai"},'
    ' "end": {"dateTime": "2026-03-09T11:00:00+08:00", "timeZone": "Asia/Shanghai"},'
    ' "organizer": {"id": "union-a", "displayName": "\\udfffAnn"},'
    ' "location": {"displayName": "Room \\ud800 1"},'
    ' "attendees": [{"id": "union-b", "displayName": "Bo \\ud83d\\ude00 \\ud83d", "responseStatus": "accepted"}]}'
)


def test_valid_text_replaces_each_lone_surrogate_and_keeps_the_rest():
    assert valid_text("Plan \ud83d") == "Plan \ufffd"
    assert valid_text("\udfffa\ud800\ud800") == "\ufffda\ufffd\ufffd"
    assert valid_text("计划 😀") == "计划 😀"


def _rows(table: str) -> list[dict]:
    if table == "events":
        return [event_row(CTX, ANSWER, "snapshot")]
    if table == "attendees":
        return attendee_rows(CTX, ANSWER, "snapshot", ANSWER["attendees"])
    people = [{"userId": "u\ud800", "displayName": "\udc01", "checkInTime": 1, "checkOutTime": 2}]
    return check_in_rows(CTX, ANSWER, "snapshot", people, table)


@pytest.mark.parametrize("table", ["events", "attendees", "check_ins", "check_outs"])
def test_both_writers_write_lone_surrogates_as_the_replacement_character(table):
    rows = _rows(table)
    jsonl, parquet = io.BytesIO(), io.BytesIO()
    for writer in (JsonLinesWriter(jsonl, table), ParquetTableWriter(parquet, table)):
        writer.write(rows)
        writer.close()
    from_jsonl = [json.loads(line) for line in jsonl.getvalue().decode("utf-8").splitlines()]
    parquet.seek(0)
    from_parquet = pq.read_table(parquet).to_pylist()
    assert from_jsonl == from_parquet
    expected = [{k: valid_text(v) if isinstance(v, str) else v for k, v in row.items()} for row in rows]
    assert from_jsonl == expected
    text = json.dumps(from_jsonl, ensure_ascii=False)
    assert "\ufffd" in text and not any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def test_the_whole_event_column_keeps_valid_pairs_and_replaces_lone_halves():
    jsonl = io.BytesIO()
    writer = JsonLinesWriter(jsonl, "events")
    writer.write([event_row(CTX, ANSWER, "snapshot")])
    row = json.loads(jsonl.getvalue().decode("utf-8"))
    event = json.loads(row["event"])
    assert event["attendees"][0]["displayName"] == "Bo 😀 \ufffd"
    assert (row["event_id"], row["summary"], row["organizer_name"]) == (
        "ev-\ufffd",
        "Plan \ufffd",
        "\ufffdAnn",
    )
