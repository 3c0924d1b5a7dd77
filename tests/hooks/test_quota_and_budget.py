"""The quota shared by workers and the monthly budget, against the emulator over real HTTP.

* the adaptive pacer: a throttling answer slows this app down, successes grow it back;
* processes of one machine pace together (pacing="host") and stay under the quota; alone they collide;
* every task reports the calls it spent; the monthly quota fails fast with a message naming it;
* a budgeted sensor spaces its polls so the wait spends at most its budget.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from airflow_dtcal.core.pacing import PACERS
from airflow_dtcal.exceptions import DingTalkQuotaExceededError
from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from airflow_dtcal.operators.base import CALLS_XCOM_KEY
from airflow_dtcal.operators.events import CreateEventOperator
from airflow_dtcal.planning import budget
from tests.helpers import task_context

EVENT = {"summary": "s", "start": {"date": "2026-12-07"}, "end": {"date": "2026-12-08"}, "isAllDay": True}


@pytest.mark.dtcal_emulator(qps_limit=4)
def test_throttling_slows_the_app_down_and_surfaces_no_error(dtcal_emulator, monkeypatch):
    hook = DingTalkCalendarHook(rate_limit=20, max_attempts=10, backoff_initial=0.05, backoff_max=1.5)
    key = (*hook.settings.app, "CreateEvent")
    assert hook.settings.pacing == "host"
    pacer = PACERS.host
    after_cuts: list[float] = []
    throttled = pacer.throttled

    def spy(k, rate, window):  # the share the app allows itself right after each throttling answer
        throttled(k, rate, window)
        after_cuts.append(pacer.factor(k))

    monkeypatch.setattr(pacer, "throttled", spy)
    hook.run_many(lambda _: hook.create_event("org", EVENT), range(24), max_in_flight=8)
    stats = dtcal_emulator.stats()
    assert stats["throttled"]["CreateEvent"] > 0  # the server allows 4/s, the hook started at 20/s
    assert stats["applied"]["CreateEvent"] == 24  # every create went through, no error surfaced
    # a window with most of its calls throttled cuts the share to what got through, at most to a quarter
    assert after_cuts and min(after_cuts) <= 0.5
    assert pacer.factor(key) <= 1.0
    # (that successes grow the rate back, step by step, is checked on the pacer itself in test_core)


WORKER = textwrap.dedent(
    """
    import json, sys, time
    from airflow_dtcal.core import pacing
    from airflow_dtcal.hooks.calendar import DingTalkCalendarHook

    starts = []
    backend = getattr(pacing.PACERS, sys.argv[1])
    reserve = backend.reserve

    def recording(key, rate, window):  # note when the pacer lets each create start
        delay = reserve(key, rate, window)
        if key[-1] == "CreateEvent" and delay >= 0:  # negative: not booked, ask again later
            starts.append(time.monotonic() + delay)
        return delay

    backend.reserve = recording
    hook = DingTalkCalendarHook(pacing=sys.argv[1], rate_limit=10, max_attempts=10, backoff_initial=0.2)
    event = {"summary": "s", "start": {"date": "2026-12-07"}, "end": {"date": "2026-12-08"}, "isAllDay": True}
    hook.run_many(lambda _: hook.create_event("org", event), range(int(sys.argv[2])), max_in_flight=4)
    print(json.dumps({"spent": hook.calls_spent, "starts": starts}))
    """
)


def _workers(emulator, pacing: str, processes: int, creates: int) -> list[dict]:
    env = {**os.environ, "AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT": emulator.connection_json()}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, pacing, str(creates)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def _busiest_window(results: list[dict], seconds: float) -> int:
    """The most create starts, across all workers, within any ``seconds`` (monotonic time is machine-wide)."""
    starts = sorted(t for r in results for t in r["starts"])
    return max(sum(1 for u in starts if t <= u < t + seconds) for t in starts)


@pytest.mark.dtcal_emulator(qps_limit=10)
def test_processes_of_one_machine_pace_together_and_surface_no_error(dtcal_emulator):
    """Four worker processes, 15 creates each, 10 calls/s allowed: first each pacing alone, then together.

    What is checked is the pacer's own decisions across processes (when each create was let start), which
    no scheduling jitter of a loaded machine can change; the emulator's throttling counts are reported by
    ``make bench``. Either way no error reaches the caller and every create is applied once."""
    PACERS.clear()
    alone = _workers(dtcal_emulator, "process", processes=4, creates=15)
    assert dtcal_emulator.stats()["applied"]["CreateEvent"] == 60
    assert _busiest_window(alone, 1.0) > 10  # each process allows itself 10/s: together they exceed it

    dtcal_emulator.reset()
    PACERS.clear()
    together = _workers(dtcal_emulator, "host", processes=4, creates=15)
    assert dtcal_emulator.stats()["applied"]["CreateEvent"] == 60
    assert _busiest_window(together, 1.0) <= 10  # one window for the whole machine
    throttled = dtcal_emulator.stats()["throttled"].get("CreateEvent", 0)
    assert sum(r["spent"]["CreateEvent"] for r in together) == 60 + throttled


def test_every_task_reports_the_calls_it_spent(dtcal_emulator):
    pushed = {}
    context = task_context("create")
    context["ti"].xcom_push = lambda key, value: pushed.update({key: value})
    operator = CreateEventOperator(
        task_id="create", organizer_id="org", summary="s", start="2026-12-07", end="2026-12-07"
    )
    operator.execute(context)
    report = pushed[CALLS_XCOM_KEY]
    assert report == {"by_operation": {"GetAccessToken": 1, "CreateEvent": 1}, "requests": 2, "counted": 1}
    assert dtcal_emulator.stats()["counted_total"] == report["counted"]


@pytest.mark.dtcal_emulator(monthly_quota=2)
def test_the_monthly_quota_fails_fast_and_says_so(dtcal_emulator):
    hook = DingTalkCalendarHook(backoff_initial=0.01)
    hook.create_event("org", EVENT)
    hook.list_events("org")
    with pytest.raises(
        DingTalkQuotaExceededError, match="monthly API call quota is spent .5,000 calls a month"
    ):
        hook.create_event("org", EVENT)
    assert hook.calls_spent["CreateEvent"] == 2  # one create, then one refused: not retried
    assert hook.quota_calls_spent == 3


@pytest.mark.parametrize("timeout_days, calls", [(1, 20), (7, 50), (7, 500), (30, 100)])
def test_budgeted_polls_fit_the_budget(timeout_days, calls):
    timeout = timeout_days * 86400.0
    ceiling = budget.poll_ceiling(timeout, calls)
    elapsed, polls = 0.0, 1  # the first check at the start
    while True:
        elapsed += budget.next_poll(polls - 1, ceiling)
        if elapsed > timeout:
            break
        polls += 1
    assert polls <= calls
    assert polls >= calls * 0.8  # and the budget is used, not wasted on needlessly long waits
    assert budget.next_poll(0, ceiling) == budget.FIRST_POLL  # the first polls come fast


def test_what_a_week_of_polling_costs():
    assert budget.calls_for(7 * 86400, 60) == 10_081
    assert budget.share_of_month(10_081) > 2  # twice a standard org's monthly budget


def test_a_budgeted_trigger_stops_when_its_calls_are_spent(dtcal_emulator):
    from airflow_dtcal.triggers.attendees import AttendeeResponseTrigger
    from tests.helpers import first_event, seed_event

    event_id = seed_event(dtcal_emulator, ["a"])
    trigger = AttendeeResponseTrigger(
        organizer_id="org-1", event_id=event_id, call_budget=3, budget_ceiling=0.05
    )
    event = first_event(trigger)
    assert (
        event.payload["status"] == "error" and "call budget of 3 calls is spent" in event.payload["message"]
    )
    assert dtcal_emulator.stats()["calls"]["ListAttendees"] == 3


def test_the_sensor_says_what_the_wait_may_cost(dtcal_emulator, caplog, capfd):
    from airflow_dtcal.sensors.attendees import AttendeeResponseSensor
    from tests.helpers import seed_event

    event_id = seed_event(dtcal_emulator, {"a": "accepted"})
    sensor = AttendeeResponseSensor(
        task_id="wait", organizer_id="org-1", event_id=event_id, timeout=7 * 86400, poke_interval=60
    )
    sensor.execute(task_context("wait"))
    logs = caplog.text + "".join(capfd.readouterr())  # Airflow logs to stdout until its logging is set up
    assert "may spend up to 10,081 DingTalk calls (202% of a standard-edition org's 5,000" in logs
    budgeted = AttendeeResponseSensor(
        task_id="wait", organizer_id="org-1", event_id=event_id, timeout=7 * 86400, call_budget=200
    )
    budgeted.execute(task_context("wait"))
    assert budgeted.poke_interval == pytest.approx(budget.poll_ceiling(7 * 86400.0, 200))


@pytest.mark.dtcal_emulator(qps_limit=20)
def test_many_triggers_in_one_triggerer_share_one_token_and_one_pacer(dtcal_emulator, monkeypatch):
    """200 deferred sensors used to mean 200 token fetches and most reads throttled."""
    import asyncio
    import time

    from airflow_dtcal.core import pacing
    from airflow_dtcal.triggers.attendees import AttendeeResponseTrigger
    from tests.helpers import seed_event

    event_ids = [seed_event(dtcal_emulator, {"a": "accepted"}) for _ in range(60)]
    starts: list[float] = []
    areserve = pacing.PACERS.host.areserve

    async def recording(key, rate, window):
        delay = await areserve(key, rate, window)
        if delay >= 0:  # a negative answer books nothing: the caller asks again
            starts.append(time.monotonic() + delay)
        return delay

    monkeypatch.setattr(pacing.PACERS.host, "areserve", recording)

    async def first(trigger):
        async for event in trigger.run():
            return event

    async def all_triggers():
        triggers = [AttendeeResponseTrigger(organizer_id="org-1", event_id=e) for e in event_ids]
        return await asyncio.gather(*(first(t) for t in triggers))

    events = asyncio.run(asyncio.wait_for(all_triggers(), 60))
    assert [e.payload["status"] for e in events] == ["met"] * 60
    assert dtcal_emulator.stats()["token_fetches"] == 1
    starts.sort()
    assert max(sum(1 for u in starts if t <= u < t + 1.0) for t in starts) <= 20
    assert len(starts) >= 60


# ------------------------------------------------------------------------------------------- the month's ledger


@pytest.mark.dtcal_emulator(qps_limit=5)
def test_the_machines_ledger_counts_what_dingtalk_counts_per_dag(dtcal_emulator, monkeypatch):
    """Throttled attempts, token fetches and contacts lookups are not counted; every other answered calendar
    call is, sync and async alike, attributed to the task's DAG (AIRFLOW_CTX_DAG_ID, set by Airflow)."""
    import asyncio

    from airflow_dtcal.hooks.limiter import month_usage

    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "invites")
    hook = DingTalkCalendarHook(pacing="process", rate_limit=20, max_attempts=10, backoff_initial=0.05)
    hook.run_many(lambda _: hook.create_event("org", EVENT), range(12), max_in_flight=6)
    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "reminders")
    other = DingTalkCalendarHook()

    async def listing():
        await other.alist_events("org")
        await other.aclose()

    asyncio.run(listing())
    usage, store = month_usage(other, other.settings)
    stats = dtcal_emulator.stats()
    assert stats["throttled"]["CreateEvent"] > 0  # some attempts were throttled (and retried)
    assert store == "host" and usage.total == 13 == stats["counted_total"]
    assert usage.by_dag == {"invites": 12, "reminders": 1}


def test_a_monthly_budget_refuses_the_task_before_any_request(dtcal_emulator, caplog, capfd):
    from airflow_dtcal.exceptions import DingTalkMonthlyBudgetError

    DingTalkCalendarHook().create_event("org", EVENT)
    DingTalkCalendarHook().create_event("org", EVENT)
    calls = dict(dtcal_emulator.stats()["calls"])
    budgeted = DingTalkCalendarHook(monthly_budget=2)
    with pytest.raises(
        DingTalkMonthlyBudgetError, match="expects 1 DingTalk call but only 0 of this app's 2"
    ):
        budgeted.create_event("org", EVENT)
    assert dtcal_emulator.stats()["calls"] == calls  # not even the token was fetched
    assert budgeted.calls_spent == {}
    logs = caplog.text + "".join(capfd.readouterr())
    assert "this month (" in logs and "2 of 2 DingTalk calls" in logs


def test_the_ledger_file_stays_small_whatever_the_number_of_dags(tmp_path, monkeypatch):
    from airflow_dtcal.core.pacing import HostLedger, files, month

    monkeypatch.setenv(files.DIRECTORY_ENV, str(tmp_path / "pacer"))
    monkeypatch.setattr(month, "MAX_DAGS", 50)  # 1,000 in production; the rule is the same
    ledger = HostLedger()
    for i in range(month.MAX_DAGS * 10):  # ten times the DAGs a month's entry names
        ledger.add("app", f"dag_{i:05d}")
    usage = ledger.read("app")
    assert usage.total == month.MAX_DAGS * 10
    assert len(usage.by_dag) == month.MAX_DAGS + 1 and usage.by_dag[month.OTHER_DAGS] == 9 * month.MAX_DAGS
    size = (tmp_path / "pacer" / f"{month.PREFIX}app").stat().st_size
    assert size < 40 * (month.MAX_DAGS + 2)  # about 30 bytes a DAG: well under the read cap
    assert size < files.MAX_STATE_BYTES
