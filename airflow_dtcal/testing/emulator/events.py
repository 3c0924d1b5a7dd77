"""The event store: creating, finding, changing and rendering events (wire shape), and seeding them.

An event is kept as a dict: the validated wire fields, plus ``organizer`` (the owner's unionId), an
insertion-ordered ``attendees`` map (unionId -> attendee; the organizer first), ``status``, ``deleted``,
``seq``, ``changeSeq``, ``userSeq`` (unionId -> the last change number that concerned that user, kept
after they leave the event), ``checkIns``/``checkOuts`` and the parsed ``_start``/``_end`` instants. A cancelled event (CancelEvent) keeps
status ``cancelled`` and stays visible to GetEvent; a deleted one (the organizer's DeleteEvent, or a seeded
``cancelled`` event) is cancelled and gone: GetEvent answers ``instanceNotExist``. Functions that take a :class:`State` expect the
caller to hold ``state.lock``, except the ``dump_*`` and ``seed`` functions, which take it.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import secrets
import time
import zoneinfo
from collections.abc import Iterable
from typing import Any

from airflow_dtcal.testing.emulator import directory, stream
from airflow_dtcal.testing.emulator.contract import MAX_ATTENDEES_PER_EVENT
from airflow_dtcal.testing.emulator.errors import ApiError, event_not_found, invalid
from airflow_dtcal.testing.emulator.messages import invalid_text_at
from airflow_dtcal.testing.emulator.rules import UTC, check_attendee_list, event_fields, parse_instant
from airflow_dtcal.testing.emulator.state import State

#: Optional fields rendered back only when the event has them.
_OPTIONAL_FIELDS = (
    "description",
    "recurrence",
    "location",
    "onlineMeetingInfo",
    "uiConfigs",
    "richTextDescription",
    "cardInstances",
    "categories",
    "freeBusyStatus",
)


def utc_stamp() -> str:
    """createTime/updateTime in the SDK's documented UTC form ``yyyy-MM-ddTHH:mmZ``."""
    return dt.datetime.now(UTC).strftime("%Y-%m-%dT%H:%MZ")


def new_event_id() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(24)).decode().rstrip("=")


def new_attendee(state: State, user: str, optional: bool = False, status: str = "needsAction") -> dict:
    return {
        "id": user,
        "displayName": directory.display_name(state, user),
        "responseStatus": status,
        "isOptional": optional,
    }


def too_many_attendees() -> ApiError:
    return invalid(f"An event may have at most {MAX_ATTENDEES_PER_EVENT} attendees including the organizer")


def visible(state: State, event_id: str, user: str) -> dict:
    """The event, if ``user`` (organizer or attendee) can see it; deleted events are gone."""
    ev = state.events.get(event_id)
    if ev is None or ev["deleted"] or user not in ev["attendees"]:
        raise event_not_found()
    return ev


def owned(state: State, event_id: str, user: str, *, cancelled_ok: bool = False) -> dict:
    """The event, if ``user`` is its organizer (only the organizer may change it) and it is not cancelled."""
    ev = visible(state, event_id, user)
    if ev["organizer"] != user:
        raise ApiError(
            403,
            "Forbidden.AccessDenied.NoPermission",
            "Only the event organizer may change the event or its attendees.",
        )
    if ev["status"] == "cancelled" and not cancelled_ok:
        raise invalid("The event is cancelled; it can no longer be changed.")
    return ev


def wire_time(ev: dict, instant: dt.datetime) -> dict:
    """An instant in the event's own wire form: ``{date}`` for all-day events, else ``{dateTime, timeZone}``."""
    if ev["isAllDay"]:
        return {"date": instant.date().isoformat()}
    zone = zoneinfo.ZoneInfo(ev["start"]["timeZone"])
    return {"dateTime": instant.astimezone(zone).isoformat(), "timeZone": ev["start"]["timeZone"]}


def touch(
    state: State,
    ev: dict,
    change: str = "update",
    actor: str | None = None,
    removed: Iterable[str] = (),
    notify: bool = True,
) -> None:
    """Record one change of ``ev``: a new change number for every attendee and every user ``removed`` from
    it (so their ListEvents deltas carry it), and, when ``notify``, a ``calendar_event_change`` message
    for the Stream subscribers. ``change`` is the message's ``changeType``; ``actor`` the caller."""
    state.change_seq += 1
    seq = state.change_seq
    ev["changeSeq"] = seq
    ev["updateTime"] = utc_stamp()
    ev["updatedMs"] = int(time.time() * 1000)
    affected = list(dict.fromkeys([*ev["attendees"], *removed]))
    per_user = ev.setdefault("userSeq", {})  # unionId -> the last change number that concerned them
    for user in affected:
        per_user[user] = seq
    if notify:
        stream.publish(state, ev, change, actor, affected)


def overlaps(ev: dict, tmin: dt.datetime | None, tmax: dt.datetime | None) -> bool:
    """Whether ListEvents' window holds the event; series are not expanded, only their bounds compared."""
    if tmax is not None and ev["_start"] >= tmax:
        return False
    if tmin is None:
        return True
    rec = ev.get("recurrence")
    if rec is not None:
        end_date = rec["range"].get("endDate")
        if not end_date:
            return True  # open-ended or counted series: the emulator does not expand instances
        return parse_instant(end_date, "endDate") >= tmin
    return ev["_end"] > tmin


def create(state: State, user: str, body: Any, seeded: bool = False) -> dict:
    """Validate and store a new event organized by ``user``.

    Seeded events may also carry ``id``, ``status`` and ``attendees[].responseStatus``.
    """
    fields = event_fields(body, None)
    requested = fields.pop("attendees", [])
    if seeded:
        requested = check_attendee_list(body.get("attendees") or [], "attendees", allow_status=True)
    attendees: dict[str, dict] = {user: new_attendee(state, user, status="accepted")}
    for att in requested:
        if att["id"] in attendees:
            if seeded and att["id"] == user and "responseStatus" in att:
                attendees[user]["responseStatus"] = att["responseStatus"]
            continue
        status = att.get("responseStatus", "needsAction")
        attendees[att["id"]] = new_attendee(state, att["id"], att["isOptional"], status)
    if len(attendees) > MAX_ATTENDEES_PER_EVENT:
        raise too_many_attendees()
    event_id = body.get("id") if seeded and isinstance(body.get("id"), str) and body.get("id") else None
    if event_id is not None and event_id in state.events:
        raise invalid(f"duplicate event id {event_id!r}")
    if event_id is None:
        event_id = new_event_id()
        while event_id in state.events:
            event_id = new_event_id()
    status = "confirmed"
    if seeded and body.get("status") is not None:
        if body["status"] not in ("confirmed", "cancelled"):
            raise invalid("status must be 'confirmed' or 'cancelled'")
        status = body["status"]
    now = utc_stamp()
    state.event_seq += 1
    ev = {
        "id": event_id,
        "organizer": user,
        "attendees": attendees,
        "status": status,
        "deleted": status == "cancelled",  # a seeded cancelled event is a deleted one
        "createTime": now,
        "updateTime": now,
        "seq": state.event_seq,
    }
    ev.update(fields)
    if seeded and body.get("legacyEventId") is not None:  # an event made with the old calendar API
        legacy = body["legacyEventId"]
        if not isinstance(legacy, str) or not legacy.strip():
            raise invalid("legacyEventId must be a non-empty string")
        if any(other.get("_legacyId") == legacy for other in state.events.values()):
            raise invalid(f"duplicate legacyEventId {legacy!r}")
        ev["_legacyId"] = legacy
    state.events[event_id] = ev
    touch(state, ev, "create", actor=user, notify=not seeded)
    return ev


def render_attendee(state: State, att: dict, viewer: str | None) -> dict:
    out = dict(att)
    if state.users:  # names come from the directory when the user is in it (seeded before or after)
        out["displayName"] = directory.display_name(state, att["id"])
    if viewer is not None:
        out["self"] = att["id"] == viewer
    return out


def render(
    state: State,
    ev: dict,
    viewer: str | None,
    max_attendees: int | None = None,
    inspect: bool = False,
    include_event_config: bool = False,
) -> dict:
    """The event in wire shape as ``viewer`` sees it (``self`` flags); ``inspect`` adds ``extra``."""
    attendees = list(ev["attendees"].values())
    if max_attendees is not None:
        attendees = attendees[:max_attendees]
    org = ev["attendees"].get(ev["organizer"]) or new_attendee(state, ev["organizer"], status="accepted")
    org = render_attendee(state, org, None)
    organizer = {"id": org["id"], "displayName": org["displayName"], "responseStatus": org["responseStatus"]}
    if viewer is not None:
        organizer["self"] = org["id"] == viewer
    out: dict[str, Any] = {
        "id": ev["id"],
        "summary": ev["summary"],
        "start": dict(ev["start"]),
        "end": dict(ev["end"]),
        "isAllDay": ev["isAllDay"],
        "organizer": organizer,
        "attendees": [render_attendee(state, a, viewer) for a in attendees],
        "reminders": [{"method": r["method"], "minutes": str(r["minutes"])} for r in ev["reminders"]],
        "status": ev["status"],
        "createTime": ev["createTime"],
        "updateTime": ev["updateTime"],
    }
    if ev.get("rooms"):
        out["meetingRooms"] = [dict(room) for room in ev["rooms"].values()]
    for name in _OPTIONAL_FIELDS:
        if ev.get(name) is not None:
            out[name] = copy.deepcopy(ev[name])
    if (include_event_config or inspect) and ev.get("eventConfig") is not None:
        out["eventConfig"] = dict(ev["eventConfig"])
    if inspect and ev.get("extra") is not None:
        out["extra"] = dict(ev["extra"])
    return out


def dump_events(state: State) -> list[dict]:
    with state.lock:
        return [render(state, ev, viewer=None, inspect=True) for ev in state.events.values()]


def dump_event(state: State, event_id: str) -> dict | None:
    with state.lock:
        ev = state.events.get(event_id)
        return render(state, ev, viewer=None, inspect=True) if ev else None


def seed(state: State, events: Any) -> list[str]:
    """Preload events (a list, or ``{"events": [...]}``); ``ValueError`` names the bad event and field."""
    if isinstance(events, dict):
        events = events.get("events", [])
    if not isinstance(events, list):
        raise ValueError("events must be a list of events or {'events': [...]}")
    ids = []
    with state.lock:
        for i, item in enumerate(events):
            if not isinstance(item, dict):
                raise ValueError(f"events[{i}] is not an object")
            where = invalid_text_at(item, f"events[{i}]")
            if where is not None:
                raise ValueError(f"{where} is not valid Unicode text (a lone UTF-16 surrogate)")
            organizer = item.get("organizer")
            if isinstance(organizer, dict):
                organizer = organizer.get("id")
            if not isinstance(organizer, str) or not organizer:
                raise ValueError(f"events[{i}].organizer is required (a userId)")
            try:
                ev = create(state, organizer, item, seeded=True)
            except ApiError as exc:
                raise ValueError(f"events[{i}]: {exc.message}") from None
            ids.append(ev["id"])
    return ids
