"""Calendar, ACL and escape-hatch answers of the wrong shape, from a misbehaving server on loopback, through
both transports: each is a typed DingTalkAnswerError naming the operation, never a KeyError or TypeError."""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_dtcal.exceptions import DingTalkAnswerError
from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from tests.hooks.hostile.server import HostileServer, json_answer


@pytest.fixture
def server(monkeypatch):
    hostile = HostileServer()
    monkeypatch.setenv("AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT", hostile.connection_json())
    yield hostile
    hostile.close()


CASES = [
    ("list_calendars", ("org",), {"response": {"calendars": [{"summary": "no id"}]}}, "ListCalendars"),
    ("list_calendars", ("org",), {"calendars": []}, "ListCalendars"),
    ("list_acls", ("org",), {"acls": [{"privilege": "reader"}]}, "ListAcls"),
    ("list_acls", ("org",), {"acls": "all"}, "ListAcls"),
    ("add_acl", ("org", "p", "reader"), {"privilege": "reader"}, "CreateAcls"),
    ("create_subscribed_calendar", ("org", "Team"), {"calendarId": 7}, "CreateSubscribedCalendar"),
    (
        "call_api",
        ("GetEvent", {"userId": "o", "calendarId": "primary", "eventId": "e"}),
        {"summary": "x"},
        "GetEvent",
    ),
    (
        "call_api",
        ("ListAttendees", {"userId": "o", "calendarId": "primary", "eventId": "e"}),
        [1],
        "ListAttendees",
    ),
]


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(("method", "args", "answer", "operation"), CASES)
def test_wrong_shapes_are_typed(server, mode, method, args, answer, operation):
    server.behaviour = json_answer(json.dumps(answer))
    hook = DingTalkCalendarHook(max_attempts=1, rate_limit=0, timeout=5)
    with pytest.raises(DingTalkAnswerError) as caught:
        if mode == "sync":
            getattr(hook, method)(*args)
        else:

            async def run():
                try:
                    return await getattr(hook, "a" + method)(*args)
                finally:
                    await hook.aclose()

            asyncio.run(run())
    assert caught.value.operation == operation
