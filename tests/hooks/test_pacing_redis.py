"""``pacing="redis"`` against a real ``redis-server`` (Debian's package; ``make test`` installs it) and the
emulator over real HTTP: one quota shared by processes that share nothing else, the fallback to host pacing
when Redis is stopped mid-run or does not answer, and the deployment-wide monthly budget."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from airflow_dtcal.core.pacing import PACERS, RedisPacer, RedisStore, shared
from airflow_dtcal.core.pacing.base import WARN_ONCE
from airflow_dtcal.exceptions import DingTalkConfigurationError, DingTalkMonthlyBudgetError
from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from airflow_dtcal.testing.redis_server import RedisServer, redis_server_binary

redis = pytest.importorskip("redis", reason="the redis client is in the test extra: make venv installs it")

EVENT = {"summary": "s", "start": {"date": "2026-12-07"}, "end": {"date": "2026-12-08"}, "isAllDay": True}


@pytest.fixture(scope="module")
def redis_server():
    if redis_server_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing; `make test` installs it (apt-get install redis-server)")
        pytest.skip("redis-server is not installed: run `make test` (it installs Debian's redis-server)")
    with RedisServer() as server:
        yield server


@pytest.fixture
def fresh_redis(redis_server, monkeypatch):
    """A running, empty Redis named by the ``redis_default`` connection; Redis pacers made afresh."""
    redis_server.start()
    client = redis.Redis(port=redis_server.port)
    client.flushall()
    client.close()
    monkeypatch.setenv("AIRFLOW_CONN_REDIS_DEFAULT", redis_server.connection_json())
    PACERS.forget_redis()
    WARN_ONCE.forget()
    yield redis_server
    PACERS.forget_redis()
    WARN_ONCE.forget()


def _client(server: RedisServer):
    return redis.Redis(port=server.port)


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "airflow_dtcal.pacing"]


# ------------------------------------------------------------------------------------------- one quota


def test_two_machines_share_one_window_on_the_stores_clock(fresh_redis):
    """Two pacers with nothing in common but Redis (as on two machines): 20 calls/s between them."""

    def machine() -> RedisPacer:
        store = RedisStore("test", lambda: _client(fresh_redis), lambda: None)
        return RedisPacer(store, fallback=PACERS.process)

    one, other = machine(), machine()
    key = ("app", "CreateEvent")
    began = time.monotonic()
    waits = [p.reserve(key, 20, 1.05) for p in (one, other) * 11]
    took = time.monotonic() - began  # a wait is its due time less what elapsed since the first start
    assert waits[:20] == [0.0] * 20
    # the 21st and 22nd: a window after the first, beyond the horizon of half a window: not booked, ask again
    # (less the time the reservations took)
    assert all(-0.525 - 0.01 <= w <= -0.525 + took + 0.01 for w in waits[20:22]), (waits, took)
    time.sleep(-waits[20])
    assert 0.45 < one.reserve(key, 20, 1.05) <= 0.525


def test_a_task_that_gathers_hundreds_of_calls_reserves_them_all_on_redis(fresh_redis, caplog):
    """200 gathered reservations wait their turn for a few connections instead of opening 200 (which the
    client refused: every reservation past its limit fell back to the host files, unpaced against Redis)."""
    store = RedisStore(
        "test",
        lambda: _client(fresh_redis),
        lambda: redis.asyncio.Redis(port=fresh_redis.port, socket_timeout=0.5, socket_connect_timeout=0.5),
    )
    pacer = RedisPacer(store, fallback=PACERS.process)

    async def main() -> list[float]:
        return await asyncio.gather(*(pacer.areserve(("app", "CreateEvent"), 20, 1.1) for _ in range(200)))

    with caplog.at_level(logging.WARNING, "airflow_dtcal.pacing"):
        waits = sorted(asyncio.run(main()), reverse=True)
    assert not _warnings(caplog) and store.available()
    # 20 booked now; the other 180 told to ask again within half a window (Redis's clock), none fell back
    assert waits[:20] == [0.0] * 20 and all(-0.56 < w < 0 for w in waits[20:])


WORKER = textwrap.dedent(
    """
    import json, sys, time
    from airflow_dtcal.hooks.calendar import DingTalkCalendarHook

    from airflow_dtcal.hooks import limiter

    starts = []
    hook = DingTalkCalendarHook(pacing="redis", rate_limit=10, max_attempts=10, backoff_initial=0.2)
    chosen = limiter.pacer(hook, hook.settings)
    reserve = chosen.reserve

    def recording(key, rate, window):  # when the pacer lets each create start (one machine's clock here)
        delay = reserve(key, rate, window)
        if key[-1] == "CreateEvent" and delay >= 0:  # negative: not booked, ask again later
            starts.append(time.monotonic() + delay)
        return delay

    chosen.reserve = recording
    hook.run_many(lambda _: hook.create_event("org", {event}), range(int(sys.argv[1])), max_in_flight=4)
    print(json.dumps({{"spent": hook.calls_spent, "starts": starts, "dir": sys.argv[2]}}))
    """
).format(event=json.dumps(EVENT).replace("true", "True"))


@pytest.mark.dtcal_emulator(qps_limit=10)
def test_processes_on_separate_machines_share_the_quota_through_redis(dtcal_emulator, fresh_redis, tmp_path):
    """Four worker processes, each with a temp and pacing directory of its own (no host file shared), 15
    creates each at 10 calls/s: the starts Redis hands out keep any second at 10 at most."""
    procs = []
    for i in range(4):
        machine = tmp_path / f"machine-{i}"
        machine.mkdir()
        env = {**os.environ, "TMPDIR": str(machine), "AIRFLOW_DTCAL_PACER_DIR": str(machine / "pacer")}
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", WORKER, "15", str(machine)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert dtcal_emulator.stats()["applied"]["CreateEvent"] == 60
    starts = sorted(t for r in results for t in r["starts"])
    assert max(sum(1 for u in starts if t <= u < t + 1.0) for t in starts) <= 10
    for i in range(4):  # no process used its machine's host files: nothing was written there
        assert not (tmp_path / f"machine-{i}" / "pacer").exists() or not any(
            n.startswith("pace-") for n in os.listdir(tmp_path / f"machine-{i}" / "pacer")
        )
    keys = _client(fresh_redis).keys("airflow-dtcal:*")
    assert keys and all(_client(fresh_redis).ttl(k) > 0 for k in keys)  # every key expires: bounded


# ------------------------------------------------------------------------------------------- Redis fails


@pytest.mark.dtcal_emulator(qps_limit=20)
def test_redis_stopped_mid_run_falls_back_to_host_pacing_with_one_warning(
    dtcal_emulator, fresh_redis, dtcal_pacer_dir, caplog, monkeypatch
):
    monkeypatch.setattr(shared, "RETRY_AFTER", 0.3)
    hook = DingTalkCalendarHook(pacing="redis")

    def create(i: int) -> str:
        if i == 10:
            fresh_redis.stop()  # Redis goes away in the middle of the task
        return hook.create_event("org", EVENT)["id"]

    with caplog.at_level(logging.WARNING, "airflow_dtcal.pacing"):
        ids = [create(i) for i in range(30)]
    # every create applied once, no error surfaced (the host files start without Redis's recent starts, so
    # the switch may cost a throttle, which the hook retries)
    assert len(set(ids)) == 30 and dtcal_emulator.stats()["applied"]["CreateEvent"] == 30
    messages = _warnings(caplog)
    assert len(messages) == 1 and "did not answer" in messages[0] and "host files" in messages[0]
    assert any(n.startswith("pace-") for n in os.listdir(dtcal_pacer_dir))  # the host files took over

    fresh_redis.start()  # back (empty): after RETRY_AFTER the pacer uses it again
    time.sleep(0.4)
    hook.create_event("org", EVENT)
    assert _client(fresh_redis).keys("airflow-dtcal:pace:*")


@pytest.fixture
def silent_port():
    """A loopback port that accepts connections into its backlog and never answers (a hung Redis)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.mark.parametrize("server", ["silent_port", "closed_port"])
def test_a_redis_that_does_not_answer_costs_a_bounded_wait_and_fails_no_task(
    dtcal_emulator, server, request, caplog, monkeypatch
):
    port = request.getfixturevalue(server)
    monkeypatch.setenv("AIRFLOW_CONN_REDIS_DEFAULT", f"redis://127.0.0.1:{port}/0")
    PACERS.forget_redis()
    WARN_ONCE.forget()
    hook = DingTalkCalendarHook(pacing="redis")
    with caplog.at_level(logging.WARNING, "airflow_dtcal.pacing"):
        started = time.monotonic()
        hook.create_event("org", EVENT)
        first = time.monotonic() - started
        for _ in range(5):
            hook.create_event("org", EVENT)
    PACERS.forget_redis()
    assert dtcal_emulator.stats()["applied"]["CreateEvent"] == 6
    # the client gives up after its timeouts (0.5 s each for the month's ledger and the pacer) and no retry;
    # the Redis client's defaults (3 retries with backoff, no socket timeout) would wait much longer or forever
    assert first < 5.0
    assert len(_warnings(caplog)) == 1


def test_the_async_path_falls_back_without_blocking_the_event_loop(dtcal_emulator, silent_port, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_REDIS_DEFAULT", f"redis://127.0.0.1:{silent_port}/0")
    PACERS.forget_redis()
    hook = DingTalkCalendarHook(pacing="redis")

    async def main() -> tuple[int, list]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        created = await asyncio.gather(*(hook.acreate_event("org", EVENT) for _ in range(5)))
        task.cancel()
        await hook.aclose()
        return ticks, created

    ticks, created = asyncio.run(main())
    PACERS.forget_redis()
    assert len({c["id"] for c in created}) == 5
    assert ticks >= 10  # the loop kept running while Redis did not answer (about 0.5 s)


def test_missing_redis_library_or_a_wrong_connection_is_a_clear_error(dtcal_emulator, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_REDIS_DEFAULT", json.dumps({"conn_type": "http", "host": "x"}))
    PACERS.forget_redis()
    hook = DingTalkCalendarHook(pacing="redis")
    with pytest.raises(
        DingTalkConfigurationError, match="connection 'redis_default' is of type 'http', not redis"
    ):
        hook.create_event("org", EVENT)
    monkeypatch.setitem(sys.modules, "redis", None)  # as if airflow-dtcal[redis] were not installed
    with pytest.raises(DingTalkConfigurationError, match=r"install airflow-dtcal\[redis\]"):
        DingTalkCalendarHook(pacing="redis").create_event("org", EVENT)
    assert dtcal_emulator.stats()["applied"].get("CreateEvent", 0) == 0  # refused before any request
    PACERS.forget_redis()


# ------------------------------------------------------------------------------------------- the month


def test_the_month_is_counted_across_machines_per_dag_and_the_budget_refuses_before_any_request(
    dtcal_emulator, fresh_redis, monkeypatch, caplog, capfd
):
    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "invites")
    hook = DingTalkCalendarHook(pacing="redis")
    for _ in range(3):
        hook.create_event("org", EVENT)
    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "reminders")
    other = DingTalkCalendarHook(pacing="redis")
    other.create_event("org", EVENT)
    other.list_events("org")
    from airflow_dtcal.hooks.limiter import month_usage

    usage, store = month_usage(other, other.settings)
    assert store == "redis"
    assert usage.total == 5 == dtcal_emulator.stats()["counted_total"]  # token fetches are not counted
    assert usage.by_dag == {"invites": 3, "reminders": 2}

    budgeted = DingTalkCalendarHook(pacing="redis", monthly_budget=7)
    sent = dtcal_emulator.stats()["calls"].copy()
    with caplog.at_level(logging.INFO):
        with pytest.raises(DingTalkMonthlyBudgetError) as caught:
            budgeted.check_monthly_budget(expected_calls=3)
    assert "expects 3 DingTalk calls but only 2 of this app's 7" in str(caught.value)
    logs = caplog.text + "".join(capfd.readouterr())  # Airflow logs to stdout until its logging is set up
    assert "this month (" in logs and "5 of 7 DingTalk calls, 2 by this DAG (reminders)" in logs
    assert dtcal_emulator.stats()["calls"] == sent  # refused before any request, the token fetch included
    budgeted.create_event("org", EVENT)  # one more fits
    budgeted.create_event("org", EVENT)
    with pytest.raises(DingTalkMonthlyBudgetError):
        DingTalkCalendarHook(pacing="redis", monthly_budget=7).create_event("org", EVENT)
    keys = _client(fresh_redis).keys("airflow-dtcal:month:*")
    assert len(keys) == 1 and 0 < _client(fresh_redis).ttl(keys[0]) <= 62 * 86400


def test_the_cli_prints_the_months_count(dtcal_emulator, fresh_redis, monkeypatch):
    conn = json.loads(dtcal_emulator.connection_json())
    conn["extra"] = {"pacing": "redis", "monthly_budget": 5000}
    monkeypatch.setenv("AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "invites")
    DingTalkCalendarHook().create_event("org", EVENT)
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW_CTX_DAG_ID"}
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "airflow-dtcal"), "month"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "the deployment (Redis): 1 DingTalk calls of 5,000 (monthly_budget)" in result.stdout
    assert "1  invites" in result.stdout
    # --json prints only the JSON on stdout: Airflow's own log lines (here: a secret too short to mask,
    # logged when the connection is read) go to stderr.
    conn["password"] = "s"
    env["AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT"] = json.dumps(conn)
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "airflow-dtcal"), "month", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    document = json.loads(result.stdout)
    assert document["calls"] == 1 and document["by_dag"] == {"invites": 1} and document["store"] == "redis"
    assert "too short" in result.stderr
