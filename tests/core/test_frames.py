"""Stream mode frames (airflow_dtcal.hooks.stream): what is accepted, what is a typed error, what is sent."""

from __future__ import annotations

import json

import pytest

from airflow_dtcal.core import frames as stream
from airflow_dtcal.exceptions import DingTalkAnswerError
from airflow_dtcal.hooks.stream import backoff
from tests.bounded_work import HOSTILE, assert_bounded


def _event(message_id: str = "msg-1", data: object = None, **headers: object) -> str:
    body = {
        "specVersion": "1.0",
        "type": "EVENT",
        "headers": {
            "appId": "app",
            "connectionId": "conn",
            "contentType": "application/json",
            "messageId": message_id,
            "time": "1763900000000",
            "topic": "calendar_event_change",
            "eventType": "calendar_event_change",
            "eventId": "evt-1",
            "eventBornTime": "1763900000000",
            "eventCorpId": "corp",
            **headers,
        },
        "data": json.dumps(data if data is not None else {"calendarEventId": "e1", "unionIdList": ["u1"]}),
    }
    return json.dumps(body)


def test_an_event_frame_is_parsed_with_its_ids_and_data():
    frame = stream.parse_frame(_event())
    assert (frame.type, frame.topic, frame.message_id) == ("EVENT", "calendar_event_change", "msg-1")
    message = stream.event_message(frame)
    assert message == stream.StreamMessage(
        message_id="msg-1",
        topic="calendar_event_change",
        event_id="evt-1",
        born_time=1763900000000,
        data={"calendarEventId": "e1", "unionIdList": ["u1"]},
    )


def test_bytes_frames_are_accepted_too():
    assert stream.parse_frame(_event().encode()).message_id == "msg-1"


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        ("not json at all", "not JSON"),
        ("[1, 2]", "not an object"),
        ('{"type": "WHAT", "headers": {"messageId": "m"}}', "frame type"),
        ('{"type": "EVENT"}', "no headers object"),
        ('{"type": "EVENT", "headers": {"topic": "t"}}', "no usable messageId"),
        ('{"type": "EVENT", "headers": {"messageId": ""}}', "no usable messageId"),
        (json.dumps({"type": "EVENT", "headers": {"messageId": "m" * 300}}), "no usable messageId"),
        ('{"type": "EVENT", "headers": {"messageId": "m", "topic": 5}}', "no usable topic"),
        ('{"type": "EVENT", "headers": {"messageId": "m"}, "data": {"a": 1}}', "data is not a JSON string"),
        ("[" * 100 + "]" * 100, "nests deeper"),
        (json.dumps({"type": "EVENT", "headers": {"messageId": "m"}, "data": "x" * 300_000}), "larger than"),
    ],
)
def test_garbage_frames_are_a_typed_error_naming_the_problem(raw, complaint):
    with pytest.raises(DingTalkAnswerError, match=complaint) as caught:
        stream.parse_frame(raw)
    assert caught.value.operation == "Stream"
    assert len(str(caught.value)) < 300  # never the frame itself


@pytest.mark.parametrize(("data", "complaint"), [("nope", "not JSON"), ("[1]", "not a JSON object")])
def test_an_event_whose_data_is_unusable_is_a_typed_error(data, complaint):
    frame = stream.parse_frame(
        json.dumps({"type": "EVENT", "headers": {"messageId": "m", "topic": "t"}, "data": data})
    )
    with pytest.raises(DingTalkAnswerError, match=complaint):
        stream.event_message(frame)


def test_odd_optional_headers_are_dropped_not_trusted():
    message = stream.event_message(stream.parse_frame(_event(eventId=7, eventBornTime="soon")))
    assert (message.event_id, message.born_time) == (None, None)


def test_the_ack_names_the_message_and_the_status():
    ack = json.loads(stream.ack_frame("msg-9"))
    assert ack["code"] == 200 and ack["headers"]["messageId"] == "msg-9"
    assert json.loads(ack["data"]) == {"status": "SUCCESS"}
    assert json.loads(json.loads(stream.ack_frame("msg-9", "LATER"))["data"]) == {"status": "LATER"}
    with pytest.raises(ValueError, match="SUCCESS or LATER"):
        stream.ack_frame("msg-9", "MAYBE")


def test_a_ping_is_answered_with_its_own_data():
    ping = stream.parse_frame(
        json.dumps(
            {"type": "SYSTEM", "headers": {"messageId": "p1", "topic": "ping"}, "data": '{"opaque": 1}'}
        )
    )
    answer = json.loads(stream.system_answer(ping))
    assert answer == {
        "code": 200,
        "headers": {"contentType": "application/json", "messageId": "p1"},
        "message": "OK",
        "data": '{"opaque": 1}',
    }


def test_the_backoff_doubles_up_to_its_ceiling():
    for failures in range(1, 40):
        delay = backoff(failures, 60.0)
        expected = min(60.0, 2.0 ** (failures - 1))
        assert expected / 2 <= delay <= expected


@pytest.mark.parametrize("path", ["frame", "frame-data"], ids=["the-frame", "its-data"])
def test_hostile_frames_up_to_the_frame_cap_cost_about_what_valid_json_does(path):
    # One 256 KiB frame once took 717 s inside parse_frame, on the triggerer's event loop. Measured in a
    # child process, against valid JSON of the same size; the hostile text is the frame itself, or the data
    # of a well-formed EVENT frame.
    assert_bounded(path, stream.MAX_FRAME_BYTES, list(HOSTILE))


def test_a_text_frame_too_large_is_refused_before_it_is_encoded():
    with pytest.raises(DingTalkAnswerError, match="characters is larger than 262,144 bytes"):
        stream.parse_frame("x" * (stream.MAX_FRAME_BYTES + 1))
