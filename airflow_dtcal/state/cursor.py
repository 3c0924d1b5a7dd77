"""A change watch's cursor: how far each watched calendar's change log was read, and what the watch knows
about the events it compares; kept in Airflow Variables between triggerer runs, bounded in bytes by design.

:class:`~airflow_dtcal.triggers.watch.CalendarChangeTrigger` reads each calendar's changes from DingTalk with
a sync token (ListEvents ``syncToken``, page by page with ``nextToken``). The cursor holds:

* per calendar, a **position**: the sync token the calendar was read to, and while a delta is being read,
  the ``nextToken`` of its next page (so a restart resumes at that page, not at the delta's start);
* an **events table**: for each event the watch has seen, the fingerprint of the watched ``fields`` (or
  nothing, when no fields are compared: the id alone says "seen before", which tells an update from a
  creation), most recently changed last.

Layout, in Airflow Variables (each well under Airflow's and this provider's 256 KiB per value):

* ``<key>``: the head: format version, a generation id, the source, how many parts, this month's calls,
  and the events table (at most :data:`MAX_EVENTS_BYTES`);
* ``<key>.1`` … ``<key>.N``: the positions of :data:`CALENDARS_PER_PART` calendars each (sorted by id).

A part belongs to the head's generation: deleting the head (``airflow variables delete <key>``) starts the
watch afresh (a first listing of every calendar, nothing fired) and the old parts are overwritten.

**Bounds, and what happens at them** (sizes served: up to 1,000 calendars per watch, deltas of 3,000
changes, 8 ``fields``, 1,200 events compared; tested at ten times those):

* a sync token longer than :data:`MAX_TOKEN_CHARS` is refused (DingTalk's are about 125 characters): the
  read fails with a :class:`~airflow_dtcal.exceptions.DingTalkAnswerError` before anything fires; a
  ``nextToken`` that long is not kept (a restart then reads that delta from its start: its changes fire
  again, with the same dedup keys);
* at most :data:`MAX_CALENDARS` calendars per watch (:data:`CALENDARS_PER_PART` per part): a worst case
  part (every token at its longest) stays under 256 KiB;
* the events table keeps at most :data:`MAX_EVENTS_BYTES`; beyond, the least recently changed events are
  forgotten first. A forgotten event that changes again fires with ``changed_fields`` None (its earlier
  fields are unknown: a run too many rather than a change lost), and a forgotten id tells no update from
  a creation that happened in the same minute; an event id longer than :data:`MAX_ID_CHARS` is never
  remembered (its updates fire unchecked likewise).

**When positions are saved** (the delivery guarantee, docs/event-driven.md): a position that passes a
change is written only :data:`SETTLE_SECONDS` after the change's TriggerEvent was handed to the triggerer
(:meth:`Cursor.checkpoint`, :meth:`Cursor.save_settled`). The triggerer ships handed-over events to its
metadata database every second, before it serves a later request of the same trigger, so by then the
change is stored; a triggerer that stops earlier reads those changes again and fires them again, with the
same dedup keys: at least once, never lost.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from airflow_dtcal.core.errors import DingTalkConfigurationError

VERSION = 2
#: Longest sync token (or nextToken) kept, in characters.
MAX_TOKEN_CHARS = 1024
#: Longest calendar or event id kept, in characters (unionIds are about 28, event ids about 50).
MAX_ID_CHARS = 128
#: Calendars whose positions one part holds; worst case 100 x (2 x 1,024 + 128 + 16) bytes, under 256 KiB.
CALENDARS_PER_PART = 100
#: Calendars one watch may name (100 parts).
MAX_CALENDARS = 10_000
#: Bytes of the events table (in the head, beside a few hundred bytes of metadata).
MAX_EVENTS_BYTES = 224 * 1024
#: Seconds after a TriggerEvent was handed over before a position past its change is written.
SETTLE_SECONDS = 10.0
#: At most one pending checkpoint per this many seconds (later ones are merged into it).
_MERGE_SECONDS = 1.0


class DamagedCursorError(DingTalkConfigurationError):
    """The cursor's Variables hold something this provider did not write; ``variable`` names the one."""

    def __init__(self, key: str, variable: str, detail: str) -> None:
        super().__init__(
            f"the watch's cursor in Airflow Variable {variable!r} is damaged ({detail}); to start the watch "
            f"afresh (a new listing of its calendars, nothing fired for what is there), run: "
            f"airflow variables delete {key}"
        )
        self.key = key
        self.variable = variable


@dataclass
class Position:
    """How far one calendar's change log was read."""

    token: str | None = None  # the sync token read to; None: never listed
    page: str | None = None  # the nextToken of the next page of the delta from ``token``; None: none


class Cursor:
    """What a watch has read, in memory; :meth:`load` and :meth:`save_settled` move it to and from Variables.

    :param key: the head Variable's key.
    :param source: ``stream`` or ``poll`` (kept for people reading the Variable).
    :param calendars: the watched calendars (unionIds).
    :param counted: ``hook.quota_calls_spent`` already counted elsewhere.
    """

    def __init__(self, key: str, source: str, calendars: Iterable[str], counted: int = 0) -> None:
        self.key = key
        self.source = source
        self.calendars = sorted(set(calendars))
        if len(self.calendars) > MAX_CALENDARS:
            raise ValueError(f"at most {MAX_CALENDARS:,} calendars per watch, got {len(self.calendars):,}")
        self.generation = secrets.token_hex(8)
        self.positions: dict[str, Position] = {c: Position() for c in self.calendars}
        self.events: dict[str, str] = {}  # event id -> fingerprint ("" = seen), least recently changed first
        self._events_bytes = 2
        self.evicted = 0  # events forgotten to stay within MAX_EVENTS_BYTES (since load)
        self.month = ""
        self.month_calls = 0
        self._counted = counted
        self._dirty: set[str] = set(self.variable_keys())  # Variable keys changed since the last checkpoint
        self._pending: list[tuple[float, float, dict[str, str]]] = []  # (due, taken, {key: text})
        self.last_handover = -math.inf

    # ---------------------------------------------------------------- layout

    @property
    def parts(self) -> int:
        return max(1, math.ceil(len(self.calendars) / CALENDARS_PER_PART))

    def part_key(self, number: int) -> str:
        return f"{self.key}.{number}"

    def _part_of(self, calendar: str) -> str:
        return self.part_key(self.calendars.index(calendar) // CALENDARS_PER_PART + 1)

    def variable_keys(self) -> list[str]:
        return [self.key, *(self.part_key(n) for n in range(1, self.parts + 1))]

    # ---------------------------------------------------------------- positions

    def position(self, calendar: str) -> Position:
        return self.positions[calendar]

    def move(self, calendar: str, token: str | None, page: str | None = None) -> None:
        """Record that ``calendar`` was read to ``token`` (and, inside a delta, that ``page`` comes next)."""
        if token is not None and len(token) > MAX_TOKEN_CHARS:
            raise ValueError(f"a sync token of {len(token):,} characters is longer than {MAX_TOKEN_CHARS:,}")
        if page is not None and len(page) > MAX_TOKEN_CHARS:
            page = None  # not kept: a restart reads the delta from its start (same dedup keys)
        position = self.positions[calendar]
        if (position.token, position.page) != (token, page):
            position.token, position.page = token, page
            self._dirty.add(self._part_of(calendar))

    # ---------------------------------------------------------------- events table

    def known(self, event_id: str) -> bool:
        return event_id in self.events

    def fingerprint(self, event_id: str) -> str | None:
        """The fingerprint last remembered for the event, or None (never seen, forgotten, or seen with
        no fields compared)."""
        value = self.events.get(event_id)
        return value or None

    def remember(self, event_id: str, fingerprint: str = "") -> None:
        """Note the event's latest fingerprint (``""``: seen, no fields compared); it becomes the most
        recently changed, and the least recently changed are forgotten beyond :data:`MAX_EVENTS_BYTES`."""
        if len(event_id) > MAX_ID_CHARS:
            return
        old = self.events.pop(event_id, None)
        if old is not None:
            self._events_bytes -= _entry_bytes(event_id, old)
        self.events[event_id] = fingerprint
        self._events_bytes += _entry_bytes(event_id, fingerprint)
        while self._events_bytes > MAX_EVENTS_BYTES:
            oldest = next(iter(self.events))
            self._events_bytes -= _entry_bytes(oldest, self.events.pop(oldest))
            self.evicted += 1
        if old != fingerprint:
            self._dirty.add(self.key)

    def forget(self, event_id: str) -> None:
        old = self.events.pop(event_id, None)
        if old is not None:
            self._events_bytes -= _entry_bytes(event_id, old)
            self._dirty.add(self.key)

    # ---------------------------------------------------------------- calls this month

    def count_calls(self, hook: Any) -> None:
        """Add the calls the hook spent since the last count to this calendar month's."""
        month = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m")
        if month != self.month:
            self.month, self.month_calls = month, 0
        spent = hook.quota_calls_spent
        if spent != self._counted:
            self.month_calls += max(0, spent - self._counted)
            self._counted = spent
            self._dirty.add(self.key)

    def spent(self, hook: Any) -> int:
        self.count_calls(hook)
        return self.month_calls

    # ---------------------------------------------------------------- saving

    def handed_over(self) -> None:
        """A TriggerEvent was just handed to the triggerer: positions past it wait :data:`SETTLE_SECONDS`."""
        self.last_handover = time.monotonic()

    def checkpoint(self) -> None:
        """Take what changed since the last checkpoint, to be written once every TriggerEvent it includes
        was handed over :data:`SETTLE_SECONDS` ago (at once when none was)."""
        if not self._dirty:
            return
        texts = {key: self._text(key) for key in sorted(self._dirty)}
        self._dirty.clear()
        now = time.monotonic()
        due = max(now, self.last_handover + SETTLE_SECONDS)
        if self._pending and now - self._pending[-1][1] < _MERGE_SECONDS:
            _due, taken, merged = self._pending.pop()
            texts = {**merged, **texts}
            now = taken
        self._pending.append((due, now, texts))

    def next_due(self) -> float | None:
        """When (``time.monotonic()``) the oldest pending checkpoint may be written; None if none waits."""
        return self._pending[0][0] if self._pending else None

    async def save_settled(self) -> None:
        """Take a checkpoint and write those that are due, the parts before the head."""
        self.checkpoint()
        await self.save_due()

    async def save_due(self) -> None:
        """Write the checkpoints taken so far that are due (none is taken here), the parts before the head."""
        now = time.monotonic()
        ready = [texts for due, _taken, texts in self._pending if due <= now]
        if not ready:
            return
        del self._pending[: len(ready)]
        merged: dict[str, str] = {}
        for texts in ready:
            merged.update(texts)
        from airflow_dtcal.state import variables

        for key in sorted(merged, key=lambda k: k == self.key):
            await variables.asave_text(key, merged[key], "airflow-dtcal: a CalendarChangeTrigger's cursor")

    def pending(self) -> int:
        """Checkpoints not written yet."""
        return len(self._pending)

    def sizes(self) -> dict[str, int]:
        """Bytes of each Variable as it would be written now (for logs, benchmarks and tests)."""
        return {key: len(self._text(key).encode()) for key in self.variable_keys()}

    def _text(self, key: str) -> str:
        if key == self.key:
            state: dict[str, Any] = {
                "version": VERSION,
                "generation": self.generation,
                "source": self.source,
                "parts": self.parts,
                "month": self.month,
                "calls": self.month_calls,
                "events": self.events,
            }
        else:
            number = int(key.rsplit(".", 1)[1])
            chunk = self.calendars[(number - 1) * CALENDARS_PER_PART : number * CALENDARS_PER_PART]
            state = {
                "version": VERSION,
                "generation": self.generation,
                "calendars": {c: [self.positions[c].token, self.positions[c].page] for c in chunk},
            }
        return json.dumps(state, sort_keys=True, separators=(",", ":"))

    # ---------------------------------------------------------------- loading

    async def load(self) -> None:
        """Read the cursor; a watch seen for the first time starts empty. Raises :class:`DamagedCursorError`
        naming the Variable when one holds something else."""
        from airflow_dtcal.state import variables

        head = await self._read(variables, self.key)
        if head is None:
            self._dirty = set(self.variable_keys())  # written whole at the first checkpoint
            return
        version = head.get("version", 1)
        if version == 1:
            self._load_v1(head)
            self._dirty = set(self.variable_keys())
            return
        await self._load_v2(variables, head)
        self._dirty.clear()
        if head["parts"] != self.parts:  # the calendars changed under a given state_key
            self._dirty = set(self.variable_keys())

    async def _load_v2(self, variables: Any, head: dict) -> None:
        version = head.get("version")
        if version != VERSION:
            raise DamagedCursorError(self.key, self.key, f"format version {version!r}, expected {VERSION}")
        generation, parts = head.get("generation"), head.get("parts")
        if not isinstance(generation, str) or not generation or len(generation) > 64:
            raise DamagedCursorError(self.key, self.key, "its generation is not a short string")
        if not isinstance(parts, int) or isinstance(parts, bool) or not 0 <= parts <= MAX_CALENDARS:
            raise DamagedCursorError(self.key, self.key, "its number of parts is not a whole number")
        self.generation = generation
        self._load_month(head, self.key)
        self._load_events(head.get("events"), self.key)
        for number in range(1, parts + 1):
            key = self.part_key(number)
            part = await self._read(variables, key)
            if part is None or part.get("generation") != generation:
                raise DamagedCursorError(self.key, key, "a part of the cursor is missing")
            calendars = part.get("calendars")
            if not isinstance(calendars, dict):
                raise DamagedCursorError(self.key, key, "'calendars' is not an object")
            for calendar, value in calendars.items():
                if (
                    not isinstance(value, list)
                    or len(value) != 2
                    or not all(v is None or (isinstance(v, str) and len(v) <= MAX_TOKEN_CHARS) for v in value)
                ):
                    raise DamagedCursorError(
                        self.key, key, f"the position of {calendar!r} is not [token, page]"
                    )
                if calendar in self.positions:
                    self.positions[calendar] = Position(value[0], value[1])

    async def _read(self, variables: Any, key: str) -> dict | None:
        try:
            return await variables.aload_state(key)
        except DingTalkConfigurationError:
            raise DamagedCursorError(self.key, key, "not a JSON object") from None

    def _load_month(self, state: dict, where: str) -> None:
        month, calls = state.get("month", ""), state.get("calls", 0)
        if not isinstance(month, str) or len(month) > 16:
            raise DamagedCursorError(self.key, where, "'month' is not a month")
        if not isinstance(calls, int) or isinstance(calls, bool) or calls < 0:
            raise DamagedCursorError(self.key, where, "'calls' is not a whole number")
        self.month, self.month_calls = month, calls

    def _load_events(self, events: Any, where: str) -> None:
        if not isinstance(events, dict):
            raise DamagedCursorError(self.key, where, "'events' is not an object")
        for event_id, value in events.items():
            if not isinstance(value, str) or len(value) > 1024:
                raise DamagedCursorError(
                    self.key, where, f"the fingerprint of event {event_id!r} is not text"
                )
            self.remember(event_id, value)
        self.evicted = 0

    def _load_v1(self, state: dict) -> None:
        """A cursor of the first format (one Variable): its sync tokens and what it knew of events carry
        over; the changes it fired within an unfinished delta are read again (and fired again)."""
        tokens, prints, known = (
            state.get("tokens") or {},
            state.get("fingerprints") or {},
            state.get("known") or [],
        )
        month = state.get("month") or {}
        if not isinstance(tokens, dict) or not isinstance(prints, dict) or not isinstance(known, list):
            raise DamagedCursorError(
                self.key, self.key, "its tokens, fingerprints or known ids have the wrong type"
            )
        if not isinstance(month, dict):
            raise DamagedCursorError(self.key, self.key, "'month' is not an object")
        self._load_month({"month": month.get("month", ""), "calls": month.get("calls", 0)}, self.key)
        for event_id in known:
            if isinstance(event_id, str):
                self.remember(event_id)
        for event_id, fields in prints.items():
            if isinstance(fields, dict) and all(isinstance(v, str) for v in fields.values()):
                # A first-format hash is 16 hex digits per field; this format keeps the first 8, in order.
                self.remember(event_id, "".join(fields[name][:8] for name in sorted(fields)))
        for calendar, token in tokens.items():
            if calendar in self.positions and isinstance(token, str) and len(token) <= MAX_TOKEN_CHARS:
                self.positions[calendar] = Position(token)
        self.evicted = 0


def _entry_bytes(event_id: str, fingerprint: str) -> int:
    """Bytes of ``"id":"fingerprint",`` in the head's JSON."""
    return len(json.dumps(event_id)) + len(fingerprint) + 4
