"""``nextToken`` loops that always end, shared by the sync and async iterators.

A page loop stops when DingTalk returns no ``nextToken``; it fails with a typed error, instead of paging
forever, when a token repeats, when ``max_pages`` pages have been read, or when a page holds more items
than were asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from airflow_dtcal.core.calls import Call
from airflow_dtcal.core.errors import DingTalkAnswerError


@dataclass
class Pager:
    """The state of one page loop over ``call`` (whose ``expect`` is ``page:<key>``)."""

    call: Call
    max_pages: int
    pages: int = 0
    next_token: str | None = None
    sync_token: str | None = None  # ListEvents' syncToken, from the last page
    done: bool = False
    _seen: set[str] = field(default_factory=set)

    @property
    def key(self) -> str:
        return self.call.expect.split(":", 1)[1]

    def next_call(self) -> Call:
        params = dict(self.call.params)
        if self.next_token:
            params["nextToken"] = self.next_token
        return replace(self.call, params=params)

    def accept(self, page: dict[str, Any]) -> list[dict]:
        """The items of one (shape-checked) page; remembers where the next page starts."""
        operation = self.call.operation
        items = page[self.key]
        asked = self.call.params.get("maxResults")
        if isinstance(asked, int) and len(items) > asked:
            raise DingTalkAnswerError(
                operation, 200, None, f"a page holds {len(items):,} {self.key}; {asked} were asked for"
            )
        self.pages += 1
        token = page.get("nextToken") or None
        if token is None:
            self.done = True
            self.sync_token = page.get("syncToken") or None
        elif token in self._seen:
            raise DingTalkAnswerError(
                operation, 200, None, f"nextToken repeated after {self.pages} pages; stopped paging"
            )
        elif self.pages >= self.max_pages:
            raise DingTalkAnswerError(
                operation, 200, None, f"still more pages after max_pages={self.max_pages}; stopped paging"
            )
        else:
            self._seen.add(token)
        self.next_token = token
        return items


@dataclass(frozen=True)
class EventPage:
    """One page of a calendar's events from :meth:`DingTalkCalendarHook.iter_event_changes`.

    :ivar events: the events of this page; deleted and cancelled ones have ``status`` ``"cancelled"``.
    :ivar sync_token: on the last page only: where the next delta starts (None before the last page, or
        if DingTalk gave none).
    :ivar full: True for a full listing (no token was given), False for a delta since a token.
    :ivar last: True on the last page.
    """

    events: list[dict]
    sync_token: str | None
    full: bool
    last: bool
    next_token: str | None = None  # where the next page starts (None on the last page)
