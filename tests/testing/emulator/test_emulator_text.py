"""The emulator refuses text that is not valid Unicode (a lone UTF-16 surrogate escape) in any request body
or seed, naming the field, and stores nothing: the calendar keeps answering."""

from __future__ import annotations

import pytest
import requests

from airflow_dtcal.testing.emulator.messages import invalid_text_at

START = {"dateTime": "2026-03-09T10:00:00+08:00", "timeZone": "Asia/Shanghai"}
END = {"dateTime": "2026-03-09T11:00:00+08:00", "timeZone": "Asia/Shanghai"}


def _post(emulator, path: str, body: bytes) -> requests.Response:
    token = requests.post(
        f"{emulator.base_url}/v1.0/oauth2/accessToken",
        json={"appKey": emulator.app_key, "appSecret": emulator.app_secret},
        timeout=5,
    ).json()["accessToken"]
    return requests.post(
        f"{emulator.base_url}{path}",
        data=body,
        headers={"x-acs-dingtalk-access-token": token, "content-type": "application/json"},
        timeout=5,
    )


EVENTS = "/v1.0/calendar/users/union-ann/calendars/primary/events"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"summary": "Plan \\ud800", "start": S, "end": E}', "summary"),
        (b'{"summary": "ok", "description": "\\udfff", "start": S, "end": E}', "description"),
        (
            b'{"summary": "ok", "start": S, "end": E, "attendees": [{"id": "b"}, {"id": "c\\ud83d"}]}',
            "attendees[1].id",
        ),
        (b'{"summary": "ok", "start": S, "end": E, "\\udc00": 1}', "a key of the body"),
    ],
)
def test_a_lone_surrogate_is_refused_naming_the_field_and_the_calendar_keeps_working(
    dtcal_emulator, body, field
):
    body = body.replace(b"S", b'{"dateTime": "2026-03-09T10:00:00+08:00", "timeZone": "Asia/Shanghai"}')
    body = body.replace(b"E", b'{"dateTime": "2026-03-09T11:00:00+08:00", "timeZone": "Asia/Shanghai"}')
    answer = _post(dtcal_emulator, EVENTS, body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "invalidParameter"
    assert answer.json()["message"].startswith(f"{field} is not valid Unicode text")
    assert dtcal_emulator.events() == []
    # The same event with a valid surrogate pair is stored, and the calendar lists it.
    valid = body.replace(b"\\ud800", b"\\ud83d\\ude00").replace(b"\\udfff", b"x")
    valid = valid.replace(b"c\\ud83d", b"c").replace(b'"\\udc00"', b'"key"')
    assert _post(dtcal_emulator, EVENTS, valid).status_code == 200
    from airflow_dtcal.hooks.calendar import DingTalkCalendarHook

    listed = DingTalkCalendarHook().list_events("union-ann", time_min="2026-03-09T00:00:00Z")
    assert len(listed) == 1


def test_seeding_a_lone_surrogate_is_refused_naming_the_event_and_field(dtcal_emulator):
    with pytest.raises(ValueError, match=r"events\[0\]\.summary is not valid Unicode text"):
        dtcal_emulator.seed_events(
            [{"organizer": "union-ann", "summary": "x\ud800", "start": START, "end": END}]
        )
    assert dtcal_emulator.events() == []


def test_invalid_text_is_found_at_any_depth():
    deep: object = "\ud800"
    for _ in range(5000):
        deep = [deep]
    assert invalid_text_at(deep) == "[0]" * 5000
    assert invalid_text_at({"a": [{"b": "fine 😀"}]}) is None
