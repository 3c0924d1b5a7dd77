"""The pacing backends without Redis: the rule, the adaptive in-process pacer (in a model of several processes
sharing the quota, in simulated time), and the machine-wide files on a machine shared with other users."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import statistics
import subprocess
import sys
import textwrap
import time

import pytest

from airflow_dtcal.core.pacing import PACER_WINDOW, HostPacer, ProcessPacer, files, host
from airflow_dtcal.core.pacing.base import WARN_ONCE
from airflow_dtcal.core.pacing.host import State
from airflow_dtcal.core.pacing.rule import HORIZON, book, cut_share, moved_start, next_start
from tests.core import pacing_model

KEY = ("https://api.example", "app", "digest", "CreateEvent")


@pytest.fixture
def pacer_dir(tmp_path, monkeypatch):
    path = tmp_path / "pacer"
    monkeypatch.setenv(files.DIRECTORY_ENV, str(path))
    WARN_ONCE.forget()
    yield path
    WARN_ONCE.forget()


# ------------------------------------------------------------------------------------------- the rule


def _starts(rate: float, calls: int, factor: float = 1.0, window: float = PACER_WINDOW) -> list[float]:
    """The starts the rule gives ``calls`` callers that all want to go at 100.0."""
    starts: list[float] = []
    given = []
    for _ in range(calls):
        start, starts = next_start(starts, 100.0, rate, factor, window)
        given.append(round(start - 100.0, 6))
    return given


def test_the_rule_honours_fractional_rates(pacer_dir):
    w = PACER_WINDOW  # a little over DingTalk's one second, for network jitter
    waits = _starts(2.5, 5)
    assert waits[0] == waits[1] == 0
    assert waits[2] == pytest.approx(w * 0.8)  # 2 starts in any 0.8 window = 2.5/s
    assert waits[4] == pytest.approx(w * 1.6)
    assert _starts(0.5, 2)[1] == pytest.approx(w * 2)
    assert [HostPacer().reserve(("app", "off"), 0) for _ in range(50)] == [0.0] * 50
    burst = _starts(20, 21)
    assert burst[:20] == [0.0] * 20 and burst[20] == pytest.approx(w)


def test_a_slowed_pacer_spreads_its_calls_instead_of_bursting():
    """At a quarter of 20/s a process makes 5 calls per window, not 20 at once every four windows: bursts
    from processes that share the quota blind would collide."""
    waits = _starts(20, 10, factor=0.25)
    assert waits[:5] == [0.0] * 5 and waits[5] == pytest.approx(PACER_WINDOW)


@pytest.mark.parametrize("factor", [0.5, 0.57, 0.66, 0.74, 0.83, 0.895, 0.93, 0.97, 1.0])
def test_no_share_puts_more_than_the_quota_in_one_server_second(factor):
    """With Redis's 1.05 s window a share of 0.895 gave bursts of 17 starts 0.997 s apart: 34 starts in
    one of DingTalk's seconds. Whatever the share, any second holds at most 20."""
    starts = sorted(100.0 + s for s in _starts(20, 200, factor=factor, window=1.05))
    assert max(sum(1 for u in starts if t <= u < t + 1.0) for t in starts) <= 20


def test_a_start_beyond_the_horizon_is_not_booked():
    """Only starts within half a window are booked; a caller further back is told when to ask again, so the
    starts a booking counts from are ones already sent (and moved if they went out late)."""
    starts: list[float] = []
    for _ in range(20):
        delay, starts = book(starts, 100.0, 20)
        assert delay == 0
    delay, kept = book(starts, 100.0, 20)
    assert delay == pytest.approx(-(PACER_WINDOW - HORIZON * PACER_WINDOW)) and kept == starts
    delay, kept = book(starts, 100.0 - delay, 20)
    assert (
        delay == pytest.approx(HORIZON * PACER_WINDOW) and len(kept) == 20 and kept[-1] == 100 + PACER_WINDOW
    )


def test_a_call_that_went_out_late_moves_its_start_on_record():
    """The first calls of a task open their connections (and share a busy event loop): they reach DingTalk
    later than booked, and the next second's calls, counted from the booked starts, were throttled."""
    starts = [100.0, 100.01, 100.02]
    assert moved_start(starts, 100.011, 0.3) == [100.0, 100.02, 100.31]  # the nearest start, in order
    assert moved_start([], 100.0, 0.3) == []
    later, _ = next_start(moved_start([100.0] * 20, 100.0, 0.3), 100.0, 20, window=1.05)
    assert later == pytest.approx(100.0 + 1.05)  # 19 starts at 100.0 still: the 21st one window after them
    late = [100.0 + 0.3] * 20
    assert next_start(late, 100.0, 20, window=1.05)[0] == pytest.approx(101.35)


def test_a_process_pacer_moves_a_late_start_at_the_full_share_only():
    """Alone (full share), a late call moves its start on record as with every backend; sharing the quota
    blind, calls are spaced evenly and a late one must not space the next further (that lowered the rate)."""
    now = [100.0]
    pacer = ProcessPacer(random.Random(1), clock=lambda: now[0])
    key = ("app", "CreateEvent")
    assert [pacer.reserve(key, 20, PACER_WINDOW) for _ in range(20)] == [0.0] * 20
    for _ in range(20):
        pacer.late(key, 0.0, 0.3)  # the whole burst went out 0.3 s late
    now[0] += 1.0
    assert pacer.reserve(key, 20, PACER_WINDOW) == pytest.approx(PACER_WINDOW + 0.3 - 1.0)

    now[0] = 100.0
    sharing = ProcessPacer(random.Random(1), clock=lambda: now[0])
    sharing.reserve(key, 20, PACER_WINDOW)
    sharing.succeeded(key)
    now[0] += 0.01
    for _ in range(4):
        sharing.throttled(key, 20, PACER_WINDOW)  # a storm: the share is cut at once
    assert sharing.factor(key) < 1.0
    gap = PACER_WINDOW / (20 * sharing.factor(key))
    first = sharing.reserve(key, 20, PACER_WINDOW)
    sharing.late(key, 0.0, 0.3)
    assert sharing.reserve(key, 20, PACER_WINDOW) == pytest.approx(first + gap)


def test_isolated_throttles_are_jitter_and_leave_the_shared_share_alone():
    """Every call of the app is paced through a shared store, so one or two throttles among a window's 20
    calls are jitter (retried); a larger share means a client outside the store, and the share comes down
    to what got through, once per window."""
    assert cut_share(1.0, 1.0, throttles=1, booked=20) == 1.0
    assert cut_share(1.0, 1.0, throttles=2, booked=20) == 1.0
    assert cut_share(1.0, 1.0, throttles=8, booked=20) == pytest.approx(0.6 / 0.95)
    assert cut_share(0.7, 1.0, throttles=3, booked=20) == 0.7  # never raised by a throttle
    assert cut_share(1.0, 1.0, throttles=20, booked=20) == 0.25  # at most to a quarter in one window
    assert cut_share(1.0, 1.0, throttles=1, booked=0) == 0.25  # nothing of ours on record: all outside


# ------------------------------------------------------------------------------------------- process


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_storm_scales_the_share_down_to_what_fits_in_one_step():
    """Four processes start at 20/s each: three quarters of the answers are throttled, and each process
    scales down to what fits at once (a quarter, the most one step may cut), instead of halving per window."""
    clock = Clock()
    pacer = ProcessPacer(random.Random(1), clock=clock)
    assert [pacer.reserve(KEY, 20) for _ in range(16)] == [0.0] * 16  # alone so far: the full rate, at once
    for _ in range(3):
        pacer.succeeded(KEY)
    pacer.throttled(KEY, 20)
    assert pacer.factor(KEY) == 1.0  # 1 of 4 throttled: not a storm
    pacer.throttled(KEY, 20)
    pacer.throttled(KEY, 20)  # 3 of 6
    assert pacer.factor(KEY) == pytest.approx(0.5 / 0.95, rel=0.04)  # (1 - t) / (1 - TARGET)
    cut = pacer.factor(KEY)
    for _ in range(10):
        pacer.throttled(KEY, 20)  # answers to the other calls booked before the cut: not cut again
    assert pacer.factor(KEY) == cut


def test_a_window_without_throttles_grows_a_small_share_more_than_a_big_one():
    """Growth by calls plus a part of what the share lacks: a small share grows more than a big one, so
    they even out; and a window with few throttles (under twice the target) holds the share."""
    clock = Clock()
    pacers = {share: ProcessPacer(random.Random(7), clock=clock) for share in (0.25, 0.75)}
    for share, pacer in pacers.items():
        pacer.reserve(KEY, 20)
        pacer._state[KEY].factor = share
    for _ in range(3):
        clock.now += PACER_WINDOW * 1.01
        for pacer in pacers.values():
            for _ in range(10):
                pacer.succeeded(KEY)
            pacer.reserve(KEY, 20)
    small, big = (pacers[s].factor(KEY) - s for s in (0.25, 0.75))
    assert small > 1.5 * big and big > 0.1  # 2 (+ 1.5 and 0.5 for what they lack) calls/s per window
    before = pacers[0.25].factor(KEY)
    clock.now += PACER_WINDOW * 1.01
    for _ in range(19):
        pacers[0.25].succeeded(KEY)
    pacers[0.25].throttled(KEY, 20)
    pacers[0.25].reserve(KEY, 20)
    assert pacers[0.25].factor(KEY) == before  # 1 in 20 throttled: near the target, hold


def test_a_slowed_process_books_only_a_little_ahead():
    """Calls waiting far back in line are told to ask again (a negative answer) rather than booked at the
    slow rate: when the share grows back, they start at the new rate."""
    clock = Clock()
    pacer = ProcessPacer(random.Random(3), clock=clock)
    pacer.reserve(KEY, 20)
    pacer._state[KEY].factor = 0.1  # 2 calls per window
    answers = [pacer.reserve(KEY, 20) for _ in range(8)]
    booked = [a for a in answers if a >= 0]
    assert len(booked) < 8 and all(a <= 0.5 * PACER_WINDOW for a in booked)
    assert all(a < 0 for a in answers[len(booked) :])


@pytest.mark.parametrize("processes", [4, 8])
def test_processes_that_share_the_quota_blind_converge_on_it(processes):
    """The bench's worker batch in a model (simulated time, no machine noise): ``processes`` processes × 50
    creates through run_many at 150 ms, each pacing alone. The earlier rule (halve once per window, grow a
    step per success, all in step) reached about half the quota in this model (median 0.52 with 4
    processes, 0.49 with 8) and let 5 and 43 errors through in 10 runs, as it did in `make bench`; growth
    by the current rate with 5 tries per throttled request: medians 0.80 and 0.85, 0 and 2 errors."""
    outcomes = [pacing_model.run(processes, 50, seed=seed) for seed in range(1, 11)]
    assert sum(o.ok + o.errors for o in outcomes) == processes * 50 * 10
    assert sum(o.errors for o in outcomes) == 0
    assert statistics.median(o.aggregate_over_quota for o in outcomes) >= 0.80
    assert min(o.aggregate_over_quota for o in outcomes) >= 0.65


def test_a_lone_process_keeps_the_full_rate():
    outcome = pacing_model.run(1, 200, seed=1)
    assert outcome.throttled == 0 and outcome.aggregate_over_quota > 0.9


# ------------------------------------------------------------------------------------------- host state


def test_a_windows_throttles_cut_the_shared_share_once_by_their_share_and_successes_grow_it_back():
    state = State()
    for _ in range(20):
        state.reserve(10.0, 20, PACER_WINDOW)
    state.throttled(10.2, PACER_WINDOW)
    assert state.factor == 1.0  # one of 20: jitter
    for _ in range(7):
        state.throttled(10.3, PACER_WINDOW)  # the same burst: 8 of 20 came back throttled
    assert state.factor == pytest.approx(0.6 / 0.95, abs=1e-9)
    state = State.parse(state.dump(), 20, 10.3)  # the window being judged is in the file
    state.throttled(10.4, PACER_WINDOW)  # 9 of 20, judged from the window's base: cut once, deeper
    assert state.factor == pytest.approx(0.55 / 0.95, abs=1e-9)
    for _ in range(10):
        state.succeeded()
    assert 0.6 < state.factor < 1.0
    for _ in range(100):
        state.succeeded()
    assert state.factor == 1.0


def test_a_state_file_of_an_earlier_release_is_read():
    assert State.parse(b"0.5 12.0\n100.0\n", 20, 100.0).factor == 0.5


def test_a_shared_rate_that_grows_back_releases_no_burst():
    state = State(factor=0.5)  # 20/s -> 10/s
    first = [state.reserve(100.0, 20, PACER_WINDOW) for _ in range(10)]
    assert first == [0.0] * 10
    for _ in range(30):
        state.succeeded()  # back to 20/s: the window must still remember the 10 starts just made
    later = [state.reserve(100.0, 20, PACER_WINDOW) for _ in range(11)]
    assert later[:10] == [0.0] * 10 and later[10] < 0  # 20 in the window, not 10 more on top: ask again


def test_the_host_pacer_shares_one_window_between_pacers(pacer_dir):
    one, other = HostPacer(), HostPacer()  # as two processes: nothing shared but the file
    waits = [p.reserve(KEY, 10) for p in (one, other) * 6]
    assert waits[:10] == [0.0] * 10 and waits[10] < 0  # the 11th: not before a window, ask again


# ------------------------------------------------------------------------------------------- a shared machine


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "airflow_dtcal.pacing"]


def test_a_directory_open_to_others_is_refused(pacer_dir, caplog):
    pacer_dir.mkdir(mode=0o777)
    os.chmod(pacer_dir, 0o777)  # pre-created by someone else's umask: world-writable
    pacer = HostPacer()
    with caplog.at_level(logging.WARNING, "airflow_dtcal.pacing"):
        waits = [pacer.reserve(KEY, 20) for _ in range(25)]
    assert waits[:20] == [0.0] * 20 and waits[20] != 0.0  # paced all the same, by this process alone
    assert os.listdir(pacer_dir) == []  # nothing written into it
    messages = _warnings(caplog)
    assert len(messages) == 1 and "mode 777" in messages[0]  # one warning, not one per call


def test_a_symlinked_directory_is_refused(pacer_dir, tmp_path, caplog):
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    pacer_dir.symlink_to(target)
    with caplog.at_level(logging.WARNING, "airflow_dtcal.pacing"):
        assert HostPacer().reserve(KEY, 20) == 0.0
    assert os.listdir(target) == []
    assert "not a directory of this user's own" in _warnings(caplog)[0]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the directory to another OS user")
def test_a_directory_of_another_user_is_refused(pacer_dir, caplog):
    pacer_dir.mkdir(mode=0o700)
    os.chown(pacer_dir, 65534, 65534)  # nobody
    with caplog.at_level(logging.WARNING, "airflow_dtcal.pacing"):
        HostPacer().reserve(KEY, 20)
    assert "owned by uid 65534" in _warnings(caplog)[0]


def test_a_symlink_planted_at_a_pacer_file_is_not_followed(pacer_dir, tmp_path, caplog):
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me\n")
    pacer_dir.mkdir(mode=0o700)
    os.symlink(precious, pacer_dir / HostPacer._name(KEY))
    pacer = HostPacer()
    with caplog.at_level(logging.WARNING, "airflow_dtcal.pacing"):
        for _ in range(5):
            pacer.reserve(KEY, 20)
            pacer.throttled(KEY, 20)
    assert precious.read_text() == "keep me\n"
    assert "cannot open pacing file" in _warnings(caplog)[0]


@pytest.mark.parametrize(
    "content",
    [
        b"[" * 200_000,  # a deeply nested JSON document made every call raise RecursionError
        b"\x00\xff garbage\n1 2 3\n",
        b"0.5 0\n" + b"1e308\n" * 10,
        b"0.7 0\n" + b"1.0\n" * (files.MAX_STATE_BYTES // 4),  # over the size cap
    ],
)
def test_a_foreign_or_oversized_state_file_starts_afresh(pacer_dir, content):
    pacer_dir.mkdir(mode=0o700)
    (pacer_dir / HostPacer._name(KEY)).write_bytes(content)
    pacer = HostPacer()
    began = time.monotonic()
    waits = [pacer.reserve(KEY, 20) for _ in range(21)]
    took = time.monotonic() - began
    # A window after the first, past the booking horizon: ask again (less the time the reservations took).
    ask_again = -(PACER_WINDOW - HORIZON * PACER_WINDOW)
    assert waits[:20] == [0.0] * 20 and ask_again - 0.02 <= waits[20] <= ask_again + took + 0.02, (
        waits,
        took,
    )
    assert (pacer_dir / HostPacer._name(KEY)).stat().st_size < 2000  # rewritten, bounded


HOLDER = textwrap.dedent(
    """
    import fcntl, os, signal, sys
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("locked", flush=True)
    os.kill(os.getpid(), signal.SIGSTOP)  # stopped while holding the lock
    """
)


def _hold_stopped(path) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


@pytest.fixture
def stuck_lock(pacer_dir):
    """A process stopped (SIGSTOP) while it holds the lock of KEY's pacing file."""
    pacer_dir.mkdir(mode=0o700)
    holder = _hold_stopped(pacer_dir / HostPacer._name(KEY))
    yield holder
    holder.send_signal(signal.SIGKILL)
    holder.wait()


def test_a_stuck_ledger_lock_costs_one_bounded_wait_and_no_failure(pacer_dir, caplog):
    from airflow_dtcal.core.pacing import HostLedger, month

    pacer_dir.mkdir(mode=0o700)
    holder = _hold_stopped(pacer_dir / f"{month.PREFIX}app")
    try:
        ledger = HostLedger()
        with caplog.at_level(logging.WARNING, "airflow_dtcal.pacing"):
            started = time.monotonic()
            for _ in range(5):
                ledger.add("app", "dag")
            assert ledger.read("app").total == 0  # not counted meanwhile, and said so once
            elapsed = time.monotonic() - started
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert files.LOCK_TIMEOUT <= elapsed < files.LOCK_TIMEOUT + host.DEGRADED_SECONDS
    assert len(_warnings(caplog)) == 1 and "not counted" in _warnings(caplog)[0]


def test_a_lock_held_by_a_stopped_process_costs_one_bounded_wait(stuck_lock, caplog):
    pacer = HostPacer()
    with caplog.at_level(logging.WARNING, "airflow_dtcal.pacing"):
        started = time.monotonic()
        waits = [pacer.reserve(KEY, 20) for _ in range(25)]
        elapsed = time.monotonic() - started
    assert waits[:20] == [0.0] * 20 and waits[20] != 0.0  # paced by this process meanwhile
    # one lock timeout, then the key skips the file for a while instead of waiting on every call
    assert files.LOCK_TIMEOUT <= elapsed < files.LOCK_TIMEOUT + host.DEGRADED_SECONDS
    messages = _warnings(caplog)
    assert len(messages) == 1 and "stayed locked" in messages[0]


def test_a_stuck_lock_never_blocks_the_event_loop(stuck_lock):
    pacer = HostPacer()

    async def main() -> tuple[int, float]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        wait = await pacer.areserve(KEY, 20)
        task.cancel()
        return ticks, wait

    ticks, wait = asyncio.run(main())
    assert wait == 0.0  # paced in process after the timeout
    # the loop ran the ticker all along the one-second wait (a blocked loop would have run it once or twice)
    assert ticks >= 10
