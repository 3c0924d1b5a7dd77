"""A change watch's cursor: what :class:`~airflow_dtcal.triggers.watch.CalendarChangeTrigger` has
acknowledged, kept in an Airflow Variable (:mod:`airflow_dtcal.state.variables`) between triggerer runs."""

from __future__ import annotations

import datetime as dt
from typing import Any

#: Bounds on what the cursor remembers (it lives in one Airflow Variable).
MAX_SEEN = 500
MAX_FINGERPRINTS = 1000
MAX_KNOWN = 2000


class Cursor:
    """What the watch has acknowledged, kept in an Airflow Variable between triggerer runs."""

    def __init__(self, key: str, source: str, counted: int = 0) -> None:
        self.key = key
        self.source = source
        self.seen: list[str] = []  # stream: notices fired (their dedup keys), oldest first
        self.tokens: dict[str, str] = {}  # poll: unionId -> sync token
        self.fired: list[str] = []  # poll: dedup keys fired in the current delta
        self.fingerprints: dict[str, dict] = {}  # event id -> {field: hash}
        self.known: dict[str, None] = {}  # poll: ids of the watched events seen (create vs update)
        self.month = ""
        self.month_calls = 0
        self._counted = counted  # hook.quota_calls_spent already added
        self.dirty = False

    async def load(self) -> None:
        from airflow_dtcal.state import variables

        state = await variables.aload_state(self.key) or {}
        self.seen = [k for k in state.get("seen", []) if isinstance(k, str)][-MAX_SEEN:]
        self.tokens = {k: v for k, v in (state.get("tokens") or {}).items() if isinstance(v, str)}
        self.fired = [k for k in state.get("fired", []) if isinstance(k, str)]
        self.fingerprints = {
            k: v for k, v in (state.get("fingerprints") or {}).items() if isinstance(v, dict)
        }
        self.known = dict.fromkeys(k for k in state.get("known", []) if isinstance(k, str))
        month = state.get("month") or {}
        self.month, self.month_calls = str(month.get("month", "")), int(month.get("calls", 0) or 0)

    async def save(self) -> None:
        from airflow_dtcal.state import variables

        state = {
            "version": 1,
            "source": self.source,
            "seen": self.seen[-MAX_SEEN:],
            "tokens": self.tokens,
            "fired": self.fired,
            "fingerprints": self.fingerprints,
            "known": list(self.known),
            "month": {"month": self.month, "calls": self.month_calls},
        }
        await variables.asave_state(self.key, state, "airflow-dtcal: a CalendarChangeTrigger's cursor")
        self.dirty = False

    def remember(self, key: str) -> None:
        self.seen = [*self.seen[-(MAX_SEEN - 1) :], key]
        self.dirty = True

    def knows(self, event_id: str) -> bool:
        return event_id in self.known

    def know(self, event_id: str, present: bool) -> None:
        """Note that a watched event exists (``present``) or is gone; the oldest are forgotten first."""
        if present and event_id not in self.known:
            self.known[event_id] = None
            while len(self.known) > MAX_KNOWN:
                self.known.pop(next(iter(self.known)))
            self.dirty = True
        elif not present and event_id in self.known:
            del self.known[event_id]
            self.dirty = True

    def forget(self, event_id: str) -> None:
        if self.fingerprints.pop(event_id, None) is not None:
            self.dirty = True

    def set_fingerprint(self, event_id: str, value: dict) -> None:
        if self.fingerprints.get(event_id) != value:
            self.fingerprints.pop(event_id, None)
            self.fingerprints[event_id] = value  # newest last; the oldest go first when full
            while len(self.fingerprints) > MAX_FINGERPRINTS:
                self.fingerprints.pop(next(iter(self.fingerprints)))
            self.dirty = True

    def count_calls(self, hook: Any) -> None:
        """Add the calls the hook spent since the last count to this calendar month's."""
        month = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m")
        if month != self.month:
            self.month, self.month_calls = month, 0
        spent = hook.quota_calls_spent
        self.month_calls += max(0, spent - self._counted)
        self._counted = spent
        self.dirty = True

    def spent(self, hook: Any) -> int:
        self.count_calls(hook)
        return self.month_calls
