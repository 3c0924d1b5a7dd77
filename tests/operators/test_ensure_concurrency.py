"""Two EnsureEventOperator runs with one key at the same time leave one event: both search before either
creates (a barrier holds each run between its search and its create), and DingTalk (the emulator, over real
HTTP) takes the second CreateEvent as a repeat of the first because both carry the token derived from the
organizer, the calendar and the key."""

from __future__ import annotations

import threading

import pytest

from airflow_dtcal.operators.events import EnsureEventOperator
from tests.helpers import ORGANIZER, task_context

KEY = "weekly-review-2026-W49"


def _ensure(run_id: str, barrier: threading.Barrier | None, **kwargs) -> tuple[EnsureEventOperator, dict]:
    op = EnsureEventOperator(
        task_id=f"ensure_{run_id}",
        organizer_id=ORGANIZER,
        summary="Weekly review",
        start="2026-12-01T10:00:00+08:00",
        end="2026-12-01T11:00:00+08:00",
        dedup_key=KEY,
        **kwargs,
    )
    if barrier is not None:
        search = op.get_hook().find_event_by_key

        def search_then_wait(*args, **kw):
            found = search(*args, **kw)
            barrier.wait(timeout=30)  # both runs have searched before either creates
            return found

        op.get_hook().find_event_by_key = search_then_wait
    return op, task_context(op.task_id, run_id=run_id)


def _race(count: int, **kwargs) -> list[str]:
    barrier = threading.Barrier(count)
    runs = [_ensure(f"manual__{n}", barrier, **kwargs) for n in range(count)]
    results: list = [None] * count

    def run(index: int) -> None:
        op, context = runs[index]
        try:
            results[index] = op.execute(context)
        except BaseException as err:  # surfaced below
            results[index] = err

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def _live(emulator) -> list[dict]:
    return [e for e in emulator.events() if e["status"] != "cancelled"]


def test_two_simultaneous_runs_with_one_key_leave_one_event(dtcal_emulator):
    first, second = _race(2)
    assert first == second
    assert [e["id"] for e in _live(dtcal_emulator)] == [first]
    creates = [r for r in dtcal_emulator.requests() if r["operation"] == "CreateEvent"]
    assert len(creates) == 2 and creates[0]["client_token"] == creates[1]["client_token"]
    assert dtcal_emulator.stats()["replayed"]["CreateEvent"] == 1


def test_four_simultaneous_runs_leave_one_event(dtcal_emulator):
    ids = _race(4)
    assert len(set(ids)) == 1 and [e["id"] for e in _live(dtcal_emulator)] == ids[:1]


def test_a_run_after_the_event_was_deleted_creates_a_new_one_and_racing_runs_share_it(dtcal_emulator):
    from airflow_dtcal.hooks.calendar import DingTalkCalendarHook

    [first] = _race(1)
    DingTalkCalendarHook().delete_event(ORGANIZER, first)
    # DingTalk still remembers the token (within a day) and answers with the deleted event: each run sees
    # it is gone and creates anew, with a token derived from it, which the racing runs share again.
    again = _race(2)
    assert again[0] == again[1] != first
    assert [e["id"] for e in _live(dtcal_emulator)] == [again[0]]


def test_a_given_client_token_keys_the_create(dtcal_emulator):
    op, context = _ensure("manual__given", None, client_token="my-own-token-1")
    event_id = op.execute(context)
    [create] = [r for r in dtcal_emulator.requests() if r["operation"] == "CreateEvent"]
    assert create["client_token"] == "my-own-token-1" and _live(dtcal_emulator)[0]["id"] == event_id


@pytest.mark.parametrize("other", [{"organizer_id": "org-2"}, {"dedup_key": "another-key"}])
def test_another_organizer_or_key_gets_its_own_token(dtcal_emulator, other):
    op, context = _ensure("manual__a", None)
    op.execute(context)
    other_op = EnsureEventOperator(
        task_id="ensure_b",
        **{
            "organizer_id": ORGANIZER,
            "summary": "Weekly review",
            "start": "2026-12-01T10:00:00+08:00",
            "end": "2026-12-01T11:00:00+08:00",
            "dedup_key": KEY,
            **other,
        },
    )
    other_op.execute(task_context("ensure_b", run_id="manual__b"))
    tokens = [r["client_token"] for r in dtcal_emulator.requests() if r["operation"] == "CreateEvent"]
    assert len(tokens) == 2 and tokens[0] != tokens[1] and len(_live(dtcal_emulator)) == 2
