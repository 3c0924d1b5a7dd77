"""An answer from DingTalk carrying lone UTF-16 surrogate escapes, served over real HTTP by a server of our
own (the emulator refuses to store such text), exported by the operator in both formats: the run succeeds and
the files hold U+FFFD where the lone surrogates were."""

from __future__ import annotations

import json
import types

import pendulum
import pyarrow.parquet as pq
import pytest

from airflow_dtcal.transfers.export import ExportEventsOperator
from tests.hooks.hostile.server import HostileServer, json_answer

DAY = pendulum.datetime(2026, 3, 9, tz="UTC")
PAGE = (
    '{"events": [{"id": "ev-1", "summary": "Plan \\ud83d", "status": "confirmed",'
    ' "start": {"dateTime": "2026-03-09T10:00:00+08:00", "timeZone": "Asia/Shanghai"},'
    ' "end": {"dateTime": "2026-03-09T11:00:00+08:00", "timeZone": "Asia/Shanghai"},'
    ' "organizer": {"id": "union-ann", "displayName": "Ann \\udfff"},'
    ' "attendees": [{"id": "union-ann", "displayName": "Ann \\udfff", "responseStatus": "accepted"},'
    ' {"id": "union-bo", "displayName": "Bo \\ud83d\\ude00", "responseStatus": "declined"}]}]}'
)


@pytest.fixture
def server(monkeypatch):
    hostile = HostileServer()
    monkeypatch.setenv("AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT", hostile.connection_json())
    yield hostile
    hostile.close()


def test_an_export_of_an_answer_with_lone_surrogates_writes_replacement_characters(server, tmp_path):
    server.behaviour = json_answer(PAGE)
    op = ExportEventsOperator(
        task_id="export",
        calendars=["union-ann"],
        destination=f"file://{tmp_path}",
        formats=["jsonl", "parquet"],
    )
    ti = types.SimpleNamespace(
        dag_id="d", task_id="export", run_id="r", map_index=-1, try_number=1, xcom_push=lambda **_: None
    )
    result = op.execute({"ti": ti, "data_interval_start": DAY, "data_interval_end": DAY.add(days=1)})
    assert result["rows"]["events"] == 1 and result["rows"]["attendees"] == 2
    for table in ("events", "attendees"):
        partition = tmp_path / table / result["partition"]
        lines = (partition / "part-0.jsonl").read_bytes().decode("utf-8").splitlines()
        rows = [json.loads(line) for line in lines]
        assert pq.read_table(partition / "part-0.parquet").to_pylist() == rows
        assert (partition / "_SUCCESS").exists()
    event = json.loads((tmp_path / "events" / result["partition"] / "part-0.jsonl").read_text())
    assert (event["summary"], event["organizer_name"]) == ("Plan \ufffd", "Ann \ufffd")
    names = [
        json.loads(line)["display_name"]
        for line in (tmp_path / "attendees" / result["partition"] / "part-0.jsonl").read_text().splitlines()
    ]
    assert names == ["Ann \ufffd", "Bo 😀"]
