"""The sprint retro's attendees answer their invitation, as people would in the DingTalk app.

``dingtalk_response_followup`` waits (deferred) until 3 attendees accept. Its sensor checks once on a
worker, then defers; the trigger polls ListAttendees at once and then every 15 minutes. For the trigger
to be the one that sees the answers, they must arrive after the worker's check and be seen by the
trigger's first poll. A further constraint comes from Airflow itself (3.3.2, apache/airflow#72716, #71580):
if a trigger fires before the scheduler has processed the executor's report of the deferring process,
the scheduler can take that stale report for the resumed try and fail the task ("state mismatch"). We
saw this in about one run in seven when the answers came right after the worker's check: the LocalExecutor
reports the deferring process 1 to 6 seconds after it deferred, and the trigger fired after 2. So, in order:

1. once the worker's check has been answered (the emulator logs it with its status), the emulator is told
   to hold the next ListAttendees ``HOLD`` seconds before reading the attendees (``delay_next``: DingTalk
   answering slowly) -- that is the trigger's first poll, since the follow-up DAG runs alone until then;
2. when that poll has arrived and the scheduler's log shows it processed the deferral (the task
   instance finished with state ``deferred``), the attendees answer;
3. the held poll then reads the answers and the trigger fires.

Every step is bounded; one that cannot hold fails at once, naming the cause.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import requests
from scenarios import RETRO_ANSWERS
from services import DeploymentError

from airflow_dtcal.testing import EmulatorAdmin

RETRO_PREFIX = "Sprint retro"
HOLD = 20.0  # seconds the trigger's first poll is held (its read timeout is 30 s)
# Another app than the deployment's: the answers come from outside Airflow.
ATTENDEES_APP = {"appKey": "attendees-app", "appSecret": "attendees-app-secret"}
# The scheduler's log once it has taken in the executor's report of the deferring process (any line holding
# every part of one of these). It logs the task instance finished as deferred; or, when another process held
# the task instance's row locked at that moment (seen with the CeleryExecutor on PostgreSQL: the scheduler
# skips locked rows), only that it received the report, which it has then consumed all the same.
DEFERRAL_PROCESSED = (
    (
        "TaskInstance Finished: dag_id=dingtalk_response_followup, task_id=wait_for_acceptances",
        "state=deferred",
    ),
    (
        "Received executor event with state success for task instance",
        "dag_id='dingtalk_response_followup', task_id='wait_for_acceptances'",
    ),
)


class RetroAttendees(threading.Thread):
    """Watches the emulator (every 50 ms) and the scheduler's log in a thread of its own; answers once."""

    def __init__(self, emulator_url: str, scheduler_log: Path, timeout: float) -> None:
        super().__init__(name="retro-attendees", daemon=True)
        self.base_url = emulator_url
        self.admin = EmulatorAdmin(emulator_url)
        self.scheduler_log = scheduler_log
        self.timeout = timeout
        self.event_id: str | None = None
        self.held_since: float | None = None  # when the trigger's held poll was first seen
        self.answered = False
        self.error: Exception | None = None
        self._done = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        try:
            while not self.answered and not self._done.is_set():
                if time.monotonic() > deadline:
                    raise DeploymentError(
                        f"nothing to answer after {self.timeout:.0f}s (event {self.event_id})"
                    )
                self.step()
                self._done.wait(0.05)
        except Exception as err:  # handed to the main thread by check()
            self.error = err

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=10)

    def check(self) -> None:
        """Raise in the caller's thread what went wrong in this one."""
        if self.error is not None:
            raise DeploymentError(f"the retro's attendees could not answer: {self.error}")

    def step(self) -> None:
        if self.event_id is None:
            retro = [e for e in self.admin.events() if e["summary"].startswith(RETRO_PREFIX)]
            if retro:
                self.event_id = retro[0]["id"]
            return
        polls = self.list_calls()
        if self.held_since is None:
            if len(polls) == 1 and polls[0]["status"] == 200 and not self.admin.faults():
                self.admin.delay_next(1, seconds=HOLD, operation="ListAttendees")  # step 1
            elif len(polls) == 2:
                faulted = self.admin.stats()["faulted"].get("ListAttendees", 0)
                if polls[1]["status"] is not None or faulted != 1:
                    raise DeploymentError(
                        f"the trigger's first poll was not held (status {polls[1]['status']}, {faulted} held)"
                    )
                self.held_since = time.monotonic()
            elif len(polls) > 2 or (polls and polls[0]["status"] not in (None, 200)):
                raise DeploymentError(f"unexpected ListAttendees calls on the retro: {polls}")
            return
        if time.monotonic() - self.held_since > HOLD - 3:
            raise DeploymentError(
                f"the scheduler did not process the deferral within {HOLD - 3:.0f}s of the trigger's first "
                "poll; the held poll would finish before the attendees answer"
            )
        log = self.scheduler_log.read_text(errors="replace")
        lines = log.splitlines()
        if any(all(part in line for part in parts) for parts in DEFERRAL_PROCESSED for line in lines):
            self.answer()  # step 2
            if self.list_calls()[1]["status"] is not None:
                raise DeploymentError("the trigger's held poll finished before the attendees had answered")
            self.answered = True

    def list_calls(self) -> list[dict]:
        """ListAttendees requests for the retro event, oldest first."""
        return [
            r
            for r in self.admin.requests()
            if r["operation"] == "ListAttendees" and r["path"].split("/")[-2] == self.event_id
        ]

    def answer(self) -> None:
        with requests.Session() as http:
            http.trust_env = False
            token = http.post(f"{self.base_url}/v1.0/oauth2/accessToken", json=ATTENDEES_APP, timeout=10)
            token.raise_for_status()
            headers = {"x-acs-dingtalk-access-token": token.json()["accessToken"]}
            for attendee, status in RETRO_ANSWERS.items():
                path = f"/v1.0/calendar/users/{attendee}/calendars/primary/events/{self.event_id}/respond"
                answer = http.post(
                    self.base_url + path, json={"responseStatus": status}, headers=headers, timeout=10
                )
                if answer.status_code != 200:
                    raise DeploymentError(
                        f"{attendee} could not answer the retro: {answer.status_code} {answer.text}"
                    )
        print(f"  the retro's attendees answered while the trigger's first poll was held: {RETRO_ANSWERS}")
