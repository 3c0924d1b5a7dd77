"""The emulator's times over real HTTP: a dateTime without an offset is stored as written and read in its
timeZone (DingTalk documents timeZone as the zone the dateTime belongs to), so the windows of ListEvents,
ListEventsView and GetSchedule compare instants; daylight-saving gaps and repeats are read as RFC 5545
reads them, as the client's rule does (airflow_dtcal.core.times)."""

from __future__ import annotations

from airflow_dtcal.testing import DingTalkEmulator

from .conftest import Api, timed

TZ = "Asia/Shanghai"
#: 06:00 on the 10th in Shanghai is 22:00 UTC on the 9th: read as UTC it would fall a day later.
EARLY = timed("2026-03-10T06:00:00", "2026-03-10T07:00:00")


def listed(api: Api, tmin: str, tmax: str, operation: str = "events") -> list[str]:
    resp = api.call("GET", "org", operation, params={"timeMin": tmin, "timeMax": tmax})
    assert resp.status_code == 200, resp.text
    return [e["summary"] for e in resp.json()["events"]]


def schedule_items(api: Api, start: str, end: str) -> list[dict]:
    resp = api.session.post(
        f"{api.base_url}/v1.0/calendar/users/org/querySchedule",
        json={"userIds": ["org"], "startTime": start, "endTime": end},
        headers={"x-acs-dingtalk-access-token": api.token},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    [info] = resp.json()["scheduleInformation"]
    return info["scheduleItems"]


def test_an_offset_less_time_is_stored_as_written_and_windows_compare_its_instant(
    emu: DingTalkEmulator, api: Api
) -> None:
    created = api.create("org", {"summary": "Early", **EARLY})
    assert created.status_code == 200, created.text
    event = api.get("org", created.json()["id"]).json()
    assert (event["start"], event["end"]) == (EARLY["start"], EARLY["end"])  # as written, offset-less
    for operation in ("events", "eventsview"):
        assert listed(api, "2026-03-09T00:00:00Z", "2026-03-10T00:00:00Z", operation) == ["Early"]
        assert listed(api, "2026-03-09T22:30:00Z", "2026-03-10T00:00:00Z", operation) == ["Early"]
        assert listed(api, "2026-03-09T23:00:00Z", "2026-03-11T00:00:00Z", operation) == []  # it has ended
        assert listed(api, "2026-03-09T00:00:00Z", "2026-03-09T22:00:00Z", operation) == []  # not yet begun
    # GetSchedule answers the instant in the event's zone, with the offset written out
    [item] = schedule_items(api, "2026-03-09T00:00Z", "2026-03-10T00:00Z")
    assert item["start"] == {"dateTime": "2026-03-10T06:00:00+08:00", "timeZone": TZ}
    assert schedule_items(api, "2026-03-10T00:00Z", "2026-03-11T00:00Z") == []


def test_a_patch_in_another_zone_reads_the_new_time_in_that_zone(emu: DingTalkEmulator, api: Api) -> None:
    event_id = api.create("org", {"summary": "Early", **EARLY}).json()["id"]
    berlin = timed("2026-03-09T23:00:00", "2026-03-10T00:00:00", tz="Europe/Berlin")  # 22:00 to 23:00 UTC
    assert api.patch("org", event_id, {"id": event_id, **berlin}).status_code == 200
    assert listed(api, "2026-03-09T22:30:00Z", "2026-03-10T00:00:00Z") == ["Early"]
    assert listed(api, "2026-03-09T23:00:00Z", "2026-03-10T00:00:00Z") == []
    [item] = schedule_items(api, "2026-03-09T00:00Z", "2026-03-10T00:00Z")
    assert item["start"] == {"dateTime": "2026-03-09T23:00:00+01:00", "timeZone": "Europe/Berlin"}


def test_daylight_saving_gaps_and_repeats_read_as_rfc_5545(emu: DingTalkEmulator, api: Api) -> None:
    ny = "America/New_York"
    # 02:30 does not exist on 2026-03-08 in New York: read with the offset before the gap (EST), 07:30 UTC
    gap = api.create("org", {"summary": "Gap", **timed("2026-03-08T02:30:00", "2026-03-08T04:00:00", tz=ny)})
    assert gap.status_code == 200, gap.text
    # 01:30 happens twice on 2026-11-01: the first (EDT) is meant, 05:30 UTC
    twice = timed("2026-11-01T01:30:00", "2026-11-01T02:30:00", tz=ny)
    assert api.create("org", {"summary": "Twice", **twice}).status_code == 200
    [gap_item] = schedule_items(api, "2026-03-08T00:00Z", "2026-03-09T00:00Z")
    assert (gap_item["start"]["dateTime"], gap_item["end"]["dateTime"]) == (
        "2026-03-08T03:30:00-04:00",
        "2026-03-08T04:00:00-04:00",
    )
    [twice_item] = schedule_items(api, "2026-11-01T00:00Z", "2026-11-02T00:00Z")
    assert (twice_item["start"]["dateTime"], twice_item["end"]["dateTime"]) == (
        "2026-11-01T01:30:00-04:00",  # 05:30 UTC
        "2026-11-01T02:30:00-05:00",  # 07:30 UTC: two hours long
    )
    assert listed(api, "2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z") == []
    assert listed(api, "2026-11-01T05:00:00Z", "2026-11-01T05:31:00Z") == ["Twice"]
