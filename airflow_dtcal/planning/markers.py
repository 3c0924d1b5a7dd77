"""Event keys: how an event carries the key that makes it "the one intended" across runs, in a way that
cannot be borrowed.

Pure: no I/O, no Airflow.

**Where the key lives.** DingTalk has no custom-property field that round-trips: ``extra`` is write-only
(CreateEvent and PatchEvent accept it, no answer returns it), ``categories`` are the org's meeting types
(GetEvent returns only their display name), and ``extendedProperties`` appears only in answers (its
``sharedProperties`` are ``belongCorpId`` and ``sourceOpenCid``, set by DingTalk; the SDK's request models
have no such field). ``richTextDescription`` comes back but is shown to attendees as well. The description
comes back from GetEvent, ListEvents and ListEventsView alike, so the marker lives there, as its last line,
visible to everyone who sees the event.

**Why a visible marker is safe.** Calendar content is written by people we do not know, so a marker proves
something only if nobody else can make one that verifies. A marker is a keyed hash (HMAC-SHA256, 88 bits
shown) of the organizer, the calendar, the key *and the event's own id*, under a key derived from the app
secret (:class:`Markers`). So:

* someone who sees the marker (every attendee does) learns nothing of the key and cannot compute the
  marker of another key, organizer or event;
* a copy of the marker verifies on no other event: pasted into an event of her own (organized by her, and
  with another id), or into one she then hands to our organizer with TransferEvent (the id is still hers);
* an event counts as ours only when its organizer is the operator's organizer *and* its marker verifies for
  its id; anything else that carries a marker-like line is ignored and logged, never returned, patched or
  cancelled.

Because the id is part of the marker, an event is created first and marked right after (one PatchEvent of
its description, :func:`with_marker`). An event created by a run that stopped in between carries no marker
and is not recognised (a later run creates another).

**Markers of the previous release** (``[airflow-dtcal:<24 hex>]``, a plain SHA-256 of the key, and
``[airflow-dtcal-set:<24 hex>]`` for sets) can be computed by anyone who knows or sees them. They are
recognised *once*: an event of our organizer that carries one, when no event carries a verified marker for
the key and exactly one such event exists, is adopted and its marker replaced by a verified one (one
PatchEvent). Events the old markers name that cannot be adopted so (several for one key, or a set's events
that no desired event names) are left alone and logged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from airflow_dtcal.core.errors import InvalidArgumentError
from airflow_dtcal.core.ids import whole_number
from airflow_dtcal.core.times import wire_instant
from airflow_dtcal.planning.events import MAX_DESCRIPTION_LENGTH

EVENT_PREFIX = "[airflow-dtcal:2:"
SET_PREFIX = "[airflow-dtcal-set:2:"
#: The previous release's markers (a plain hash of the key or scope): recognised once, then replaced.
LEGACY_EVENT_PREFIX = "[airflow-dtcal:"
LEGACY_SET_PREFIX = "[airflow-dtcal-set:"
#: Hex digits of the HMAC shown: 88 bits, so a marker is as long as the previous release's.
MAC_HEX = 22
EVENT_MARKER_LENGTH = len(EVENT_PREFIX) + MAC_HEX + 1  # 40
SET_MARKER_LENGTH = len(SET_PREFIX) + MAC_HEX + 1  # 44
MAX_EVENT_KEY_LENGTH = 1024
MAX_KEY_WINDOW_DAYS = 180  # each side; ListEvents allows a window of one year
_PURPOSE = b"airflow-dtcal/event-markers/v2"


def check_event_key(key: Any, field: str = "dedup_key") -> str:
    """A key naming an intended event, stripped: a non-empty string of at most 1,024 characters."""
    if not isinstance(key, str) or not key.strip():
        raise InvalidArgumentError(field, "must be a non-empty string (e.g. 'weekly-review-{{ ds }}')", key)
    if len(key) > MAX_EVENT_KEY_LENGTH:
        raise InvalidArgumentError(field, f"is {len(key):,} characters; at most {MAX_EVENT_KEY_LENGTH:,}")
    return key.strip()


def check_scope(scope: Any, field: str = "scope") -> str:
    """A name of a set of events, stripped."""
    if not isinstance(scope, str) or not scope.strip():
        raise InvalidArgumentError(field, "must be a non-empty string naming the set of events", scope)
    return scope.strip()


def check_window_days(days: Any, field: str = "dedup_window_days") -> int:
    return whole_number(days, field, low=0, high=MAX_KEY_WINDOW_DAYS)


class Markers:
    """The markers of one app: keyed hashes under a key derived from the app secret.

    Holds only the derived key (never the secret); it cannot be printed, copied into XCom or pickled.
    Make one with :meth:`~airflow_dtcal.hooks.calendar.DingTalkCalendarHook.markers`.
    """

    __slots__ = ("_key",)

    def __init__(self, app_secret: str) -> None:
        if not isinstance(app_secret, str) or not app_secret:
            raise ValueError("markers need the app secret")
        self._key = hmac.new(app_secret.encode("utf-8"), _PURPOSE, hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "<Markers (key hidden)>"

    def __reduce__(self) -> Any:
        raise TypeError("Markers hold a key derived from the app secret; they are not serialised")

    def _mac(self, *parts: str) -> str:
        message = json.dumps(parts, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:MAC_HEX]

    def event(self, organizer: str, calendar: str, key: str, event_id: str) -> str:
        """The marker of ``key`` on the event ``event_id`` of ``organizer``'s calendar."""
        return f"{EVENT_PREFIX}{self._mac('event', organizer, calendar, key.strip(), event_id)}]"

    def member(self, organizer: str, calendar: str, scope: str, key: str) -> str:
        """The marker of the desired event ``key`` of the set ``scope`` (the same on any event: alone it
        proves nothing; :meth:`seal` binds it to one event)."""
        return f"{EVENT_PREFIX}{self._mac('member', organizer, calendar, scope.strip(), key.strip())}]"

    def seal(self, organizer: str, calendar: str, scope: str, event_id: str, member: str) -> str:
        """The marker that binds the member marker ``member`` of the set ``scope`` to the event ``event_id``."""
        return f"{SET_PREFIX}{self._mac('set', organizer, calendar, scope.strip(), event_id, member)}]"

    def set_line(self, organizer: str, calendar: str, scope: str, key: str, event_id: str) -> str:
        """The last line of an event of the set ``scope``: its member marker, then its seal."""
        member = self.member(organizer, calendar, scope, key)
        return f"{member} {self.seal(organizer, calendar, scope, event_id, member)}"

    def sealed_member(
        self, organizer: str, calendar: str, scope: str, event: Mapping[str, Any]
    ) -> str | None:
        """The member marker of an event of the set ``scope`` whose seal verifies for its id, else None."""
        event_id = event_id_of(event)
        words = marker_words(description_of(event))
        if event_id is None or len(words) != 2:
            return None
        member, seal = words
        if not (member.startswith(EVENT_PREFIX) and seal.startswith(SET_PREFIX)):
            return None
        expected = self.seal(organizer, calendar, scope, event_id, member)
        return member if hmac.compare_digest(seal, expected) else None


def legacy_event_marker(key: str) -> str:
    """The previous release's marker of ``key`` (anyone who knows the key can compute it)."""
    return f"{LEGACY_EVENT_PREFIX}{hashlib.sha256(key.strip().encode()).hexdigest()[:24]}]"


def legacy_set_marker(scope: str) -> str:
    """The previous release's marker of the set ``scope``."""
    return f"{LEGACY_SET_PREFIX}{hashlib.sha256(scope.strip().encode()).hexdigest()[:24]}]"


def event_id_of(event: Mapping[str, Any]) -> str | None:
    """The id an event's marker is bound to: its series' id for an occurrence of a recurring series."""
    event_id = event.get("seriesMasterId") or event.get("id")
    return event_id if isinstance(event_id, str) and event_id else None


def organizer_of(event: Mapping[str, Any]) -> str | None:
    organizer = event.get("organizer")
    found = organizer.get("id") if isinstance(organizer, Mapping) else None
    return found if isinstance(found, str) else None


def description_of(event: Mapping[str, Any]) -> str:
    description = event.get("description")
    return description if isinstance(description, str) else ""


class KeyScan:
    """Looks through the events of ``organizer``'s calendar (ListEvents pages) for the one that carries
    ``key``: :meth:`see` each event until it returns True, then read :attr:`found`, :attr:`legacy` and
    :attr:`ignored`.

    * :attr:`found`: the first live event organized by ``organizer`` whose marker verifies for its id (for
      an occurrence of a series, ``id`` is the series' id);
    * :attr:`legacy`: live events of ``organizer`` with the previous release's marker of ``key`` (at most
      two are kept: one can be adopted, two cannot);
    * :attr:`ignored`: ``(event id, why)`` for events that carry a marker but are not ours: organized by
      someone else (any marker of this provider, as a marker cannot tell its key to anyone without the
      secret), or of our organizer but with a copy of the found event's marker. A copy of the marker of an
      event no longer listed (deleted) on an event of our organizer cannot be told from an event of another
      key: it is ignored without a word.
    """

    MAX_SUSPECTS = 100

    def __init__(self, markers: Markers, organizer: str, calendar: str, key: str) -> None:
        self.markers, self.organizer, self.calendar = markers, organizer, calendar
        self.key = check_event_key(key)
        self.legacy_marker = legacy_event_marker(self.key)
        self.found: dict | None = None
        self.legacy: list[dict] = []
        self.ignored: list[tuple[str, str]] = []
        self._suspects: list[tuple[str, str]] = []  # our organizer's events with a marker that did not verify

    def see(self, event: Mapping[str, Any]) -> bool:
        text = description_of(event)
        event_id = event_id_of(event)
        if event.get("status") == "cancelled" or event_id is None or LEGACY_EVENT_PREFIX not in text:
            return False
        organizer = organizer_of(event)
        expected = self.markers.event(self.organizer, self.calendar, self.key, event_id)
        if organizer != self.organizer:
            if EVENT_PREFIX in text or self.legacy_marker in text:
                self.ignored.append((event_id, f"it is organized by {organizer!r}, not {self.organizer!r}"))
            if len(self._suspects) < self.MAX_SUSPECTS:
                self._suspects.append((event_id, text))
            return False
        if expected in text:
            self.found = dict(event, id=event_id)
            marker = expected
            for other, other_text in self._suspects:
                if marker in other_text:
                    self.ignored.append((other, f"it carries a copy of the marker of event {event_id}"))
            return True
        if self.legacy_marker in text:
            if len(self.legacy) < 2:
                self.legacy.append(dict(event, id=event_id))
        elif len(self._suspects) < self.MAX_SUSPECTS:
            self._suspects.append((event_id, text))
        return False

    def adoptable(self) -> dict | None:
        """The one event to adopt when nothing verified was found: the only live event of ours that carries
        the previous release's marker of the key."""
        return self.legacy[0] if self.found is None and len(self.legacy) == 1 else None


def room_for(description: str | None, length: int, field: str = "description") -> str:
    """``description`` without trailing space, checked to leave room for a marker line of ``length``."""
    text = (description or "").rstrip()
    if len(text) + 2 + length > MAX_DESCRIPTION_LENGTH:
        room = MAX_DESCRIPTION_LENGTH - length - 2
        raise InvalidArgumentError(
            field, f"leaves no room for the event key's marker; keep it within {room:,} characters"
        )
    return text


def with_marker(description: str | None, line: str, field: str = "description") -> str:
    """``description`` with the marker ``line`` as its last line, replacing a marker line already there
    (ours, or the previous release's), within DingTalk's 5,000 characters."""
    text = room_for(strip_marker_line(description), len(line), field)
    return f"{text}\n\n{line}" if text else line


def marker_words(description: str | None) -> list[str]:
    """The markers on the last line of ``description`` (ours or the previous release's), or [] when that
    line holds anything else."""
    last = (description or "").rstrip().rpartition("\n")[2]
    words = last.split()
    if words and all(_is_marker(word) for word in words):
        return words
    return []


def _is_marker(word: str) -> bool:
    return (
        word.startswith((LEGACY_EVENT_PREFIX, LEGACY_SET_PREFIX)) and word.endswith("]") and len(word) <= 64
    )


def strip_marker_line(description: str | None) -> str:
    """``description`` without its last line when that line is only markers (ours or the previous
    release's)."""
    text = (description or "").rstrip()
    if marker_words(text):
        return text.rpartition("\n")[0].rstrip()
    return text


def key_search_window(
    event: Mapping[str, Any], days: Any, field: str = "dedup_window_days"
) -> tuple[str, str]:
    """``(timeMin, timeMax)`` for finding an event by key: its own span widened by ``days`` on each side.

    The event's times are read by :func:`~airflow_dtcal.core.times.read_wire_time` (an offset-less
    ``dateTime`` in its ``timeZone``); an all-day event's dates as UTC days, which the day of slack covers.
    """
    days = check_window_days(days, field)
    start = wire_instant(event.get("start"), "start")
    end = wire_instant(event.get("end") or event.get("start"), "end")
    # Always at least one day wide on each side: a zone's offset never moves an event further than that.
    slack = dt.timedelta(days=max(days, 1))
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return (start - slack).strftime(fmt), (end + slack).strftime(fmt)
