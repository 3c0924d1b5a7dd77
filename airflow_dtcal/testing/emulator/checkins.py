"""Check-in: SignIn / SignOut (an attendee checks in or out of an event; CheckIn is SignIn's older version,
documented as such, and records the same check-in) and the organizer's lists of who did and who did not
(GetSignInList / GetSignOutList).

Each handler runs with ``state.lock`` held, like those in ``operations.py``. An event keeps its check-ins
as ``ev["checkIns"]`` and ``ev["checkOuts"]`` (unionId -> epoch milliseconds, in check-in order). Checking
in twice keeps the first time. Check-ins are not changes of the event: no change number, no Stream message.
"""

from __future__ import annotations

import time
from typing import Any

from airflow_dtcal.testing.emulator import events
from airflow_dtcal.testing.emulator.contract import MAX_SIGN_IN_PAGE
from airflow_dtcal.testing.emulator.errors import invalid
from airflow_dtcal.testing.emulator.query import decode_page_token, encode_page_token, parse_int
from airflow_dtcal.testing.emulator.rules import is_int
from airflow_dtcal.testing.emulator.state import State

Result = tuple[int, Any]

#: Per kind: where the times are kept, the time field, and the list ``type`` values (done, not yet).
KINDS = {
    "in": ("checkIns", "checkInTime", ("sign_in", "not_yet_sign_in")),
    "out": ("checkOuts", "checkOutTime", ("sign_out", "not_yet_sign_out")),
}


def _check(state: State, p: dict, kind: str) -> Result:
    store, field, _types = KINDS[kind]
    ev = events.visible(state, p["event"], p["user"])  # only attendees (the organizer included) see it
    if ev["status"] == "cancelled":
        raise invalid("The event is cancelled; attendees can no longer sign in or out.")
    times = ev.setdefault(store, {})
    when = times.setdefault(p["user"], int(time.time() * 1000))
    return 200, {field: when}


def _list(state: State, p: dict, q: dict, kind: str) -> Result:
    store, field, types = KINDS[kind]
    if not q.get("maxResults"):
        raise invalid(f"maxResults is required: an integer between 1 and {MAX_SIGN_IN_PAGE}")
    size = parse_int(q, "maxResults", MAX_SIGN_IN_PAGE, 1, MAX_SIGN_IN_PAGE)
    wanted = q.get("type")
    if wanted not in types:
        raise invalid(f"type is required and must be one of {', '.join(types)}, got {wanted!r}")
    offset = 0
    if q.get("nextToken"):
        payload = decode_page_token(q["nextToken"], "nextToken")
        token_ok = payload.get("k") == f"sign-{kind}" and payload.get("e") == p["event"]
        if not token_ok or payload.get("t") != wanted or not is_int(payload.get("o")):
            raise invalid("nextToken is not a token this server issued for this list")
        offset = payload["o"]
    ev = events.owned(state, p["event"], p["user"], cancelled_ok=True)  # the organizer's view
    times = ev.get(store, {})
    if wanted == types[0]:
        people = [uid for uid in times if uid in ev["attendees"]]
    else:
        people = [uid for uid in ev["attendees"] if uid not in times]
    users = []
    for uid in people[offset : offset + size]:
        shown = events.render_attendee(state, ev["attendees"][uid], None)
        entry = {"userId": uid, "displayName": shown["displayName"]}
        if uid in times:
            entry[field] = times[uid]
        users.append(entry)
    result: dict[str, Any] = {"users": users}
    if offset + size < len(people):
        token = {"k": f"sign-{kind}", "e": p["event"], "t": wanted, "o": offset + size}
        result["nextToken"] = encode_page_token(token)
    return 200, result


def sign_in(state: State, p: dict, q: dict, body: Any) -> Result:
    return _check(state, p, "in")


def check_in(state: State, p: dict, q: dict, body: Any) -> Result:
    return _check(state, p, "in")


def sign_out(state: State, p: dict, q: dict, body: Any) -> Result:
    return _check(state, p, "out")


def get_sign_in_list(state: State, p: dict, q: dict, body: Any) -> Result:
    return _list(state, p, q, "in")


def get_sign_out_list(state: State, p: dict, q: dict, body: Any) -> Result:
    return _list(state, p, q, "out")


def _link(state: State, p: dict, kind: str) -> Result:
    ev = events.owned(state, p["event"], p["user"])  # the organizer hands the link out
    field = {"in": "signInLink", "out": "signOutLink"}[kind]
    return 200, {field: f"https://applink.dingtalk.com/calendar/sign{kind}?eventId={ev['id']}"}


def get_sign_in_link(state: State, p: dict, q: dict, body: Any) -> Result:
    return _link(state, p, "in")


def get_sign_out_link(state: State, p: dict, q: dict, body: Any) -> Result:
    return _link(state, p, "out")


HANDLERS = {
    "GetSignInLink": get_sign_in_link,
    "GetSignOutLink": get_sign_out_link,
    "SignIn": sign_in,
    "CheckIn": check_in,
    "SignOut": sign_out,
    "GetSignInList": get_sign_in_list,
    "GetSignOutList": get_sign_out_list,
}
