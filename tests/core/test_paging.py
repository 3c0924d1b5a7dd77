"""The page loop keeps one ``nextToken`` however many pages it reads, and refuses tokens no DingTalk sends."""

from __future__ import annotations

import tracemalloc

import pytest

from airflow_dtcal.core import calls
from airflow_dtcal.core.errors import DingTalkAnswerError
from airflow_dtcal.core.paging import MAX_TOKEN_CHARS, Pager


def _page(number: int, size: int = MAX_TOKEN_CHARS) -> dict:
    return {"attendees": [{"id": "a"}], "nextToken": f"{number:08d}".ljust(size, "x")}


def test_a_long_loop_holds_only_the_last_token():
    """3,000 pages of tokens at the size limit (10x the 300 pages of the report): if every token were kept
    the loop would hold 12 MB; it holds one."""
    pager = Pager(calls.list_attendees("org", "e", "primary", 500), max_pages=10_000)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for number in range(3000):
            pager.accept(_page(number))
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert pager.next_token == _page(2999)["nextToken"]
    assert held - before < 64 * 1024


def test_a_token_repeating_the_one_before_stops_the_loop():
    pager = Pager(calls.list_attendees("org", "e", "primary", 500), max_pages=10)
    pager.accept({"attendees": [], "nextToken": "a"})
    pager.accept({"attendees": [], "nextToken": "b"})
    with pytest.raises(DingTalkAnswerError, match="nextToken repeated after 3 pages"):
        pager.accept({"attendees": [], "nextToken": "b"})


def test_a_cycle_of_tokens_ends_at_the_page_cap():
    pager = Pager(calls.list_attendees("org", "e", "primary", 500), max_pages=5)
    with pytest.raises(DingTalkAnswerError, match="still more pages after max_pages=5"):
        for number in range(10):
            pager.accept({"attendees": [], "nextToken": "AB"[number % 2]})
    assert pager.pages == 5


@pytest.mark.parametrize("name", ["nextToken", "syncToken"])
def test_an_oversized_token_is_refused(name):
    pager = Pager(
        calls.list_events("org", "primary", time_min=None, time_max=None, show_deleted=False, page_size=100),
        max_pages=10,
    )
    pager.accept({"events": [], "nextToken": "x" * MAX_TOKEN_CHARS})  # at the limit: accepted
    with pytest.raises(DingTalkAnswerError, match=f"{name} is 4,097 characters; at most 4,096"):
        pager.accept({"events": [], name: "y" * (MAX_TOKEN_CHARS + 1)})
