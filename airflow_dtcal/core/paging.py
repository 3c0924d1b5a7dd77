"""``nextToken`` loops that always end, in bounded memory, shared by the sync and async iterators.

A page loop stops when DingTalk returns no ``nextToken``; it fails with a typed error
(:class:`~airflow_dtcal.core.errors.DingTalkAnswerError`), instead of paging forever or growing, when a
token repeats the one before it, when ``max_pages`` pages have been read, when a page holds more items than
were asked for, or when a ``nextToken`` or ``syncToken`` is longer than :data:`MAX_TOKEN_CHARS`.

A loop keeps only the last ``nextToken`` (it is sent back as the next page's query parameter), so its
memory is one token however many pages there are. A server that cycles through several tokens
(A, B, A, B...) is not caught by the repeat check; the page cap ends it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from airflow_dtcal.core.calls import Call
from airflow_dtcal.core.errors import DingTalkAnswerError

#: The longest ``nextToken`` or ``syncToken`` accepted. DingTalk's are about 125 characters; a token goes back
#: in a URL (and a ``syncToken`` into the export's watermark), so anything near this size is not DingTalk's.
MAX_TOKEN_CHARS = 4096


def _check_token(operation: str, name: str, token: str | None) -> str | None:
    if token is not None and len(token) > MAX_TOKEN_CHARS:
        raise DingTalkAnswerError(
            operation,
            200,
            None,
            f"{name} is {len(token):,} characters; at most {MAX_TOKEN_CHARS:,} are accepted",
        )
    return token


@dataclass
class Pager:
    """The state of one page loop over ``call`` (whose ``expect`` is ``page:<key>``)."""

    call: Call
    max_pages: int
    pages: int = 0
    next_token: str | None = None
    sync_token: str | None = None  # ListEvents' syncToken, from the last page
    done: bool = False

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
        token = _check_token(operation, "nextToken", page.get("nextToken") or None)
        if token is None:
            self.done = True
            self.sync_token = _check_token(operation, "syncToken", page.get("syncToken") or None)
        elif token == self.next_token:
            raise DingTalkAnswerError(
                operation, 200, None, f"nextToken repeated after {self.pages} pages; stopped paging"
            )
        elif self.pages >= self.max_pages:
            raise DingTalkAnswerError(
                operation, 200, None, f"still more pages after max_pages={self.max_pages}; stopped paging"
            )
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
