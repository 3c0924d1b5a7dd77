"""The sprint retro's attendees answer their invitation, as people would in the DingTalk app.

``dingtalk_response_followup`` waits (deferred) until 3 attendees accept. Its sensor checks once on the
worker, then defers; the trigger polls ListAttendees at once and then every 15 minutes. The attendees
answer right after the worker's check has been answered (the emulator logs it with its status), so that
check sees nobody has answered (the sensor must defer) and the trigger's first poll sees the answers.
Between the two there are about two seconds (the deferral, then the triggerer picking the trigger up);
the request log is read every 50 ms. Should the trigger ever poll first, this fails at once, naming the
cause, rather than waiting 15 minutes for the next poll.
"""

from __future__ import annotations

import threading
import time

import requests
from scenarios import RETRO_ANSWERS
from services import DeploymentError

from airflow_dtcal.testing import EmulatorAdmin

RETRO_PREFIX = "Sprint retro"
# Another app than the deployment's: the answers come from outside Airflow.
ATTENDEES_APP = {"appKey": "attendees-app", "appSecret": "attendees-app-secret"}


class RetroResponder(threading.Thread):
    """Watches the emulator's request log in a thread of its own (every 50 ms), answers once, then ends."""

    def __init__(self, emulator_url: str, timeout: float) -> None:
        super().__init__(name="retro-attendees", daemon=True)
        self.base_url = emulator_url
        self.admin = EmulatorAdmin(emulator_url)
        self.timeout = timeout
        self.event_id: str | None = None
        self.answered = False
        self.error: Exception | None = None
        self._done = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        try:
            while not self.answered and not self._done.is_set() and time.monotonic() < deadline:
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
        """Answer once the sensor's first ListAttendees of the retro has been answered; else do nothing."""
        if self.event_id is None:
            retro = [e for e in self.admin.events() if e["summary"].startswith(RETRO_PREFIX)]
            if not retro:
                return
            self.event_id = retro[0]["id"]
        checked = [r for r in self.list_calls() if r["status"] is not None]
        if not checked:
            return
        if len(checked) > 1 or checked[0]["status"] != 200:
            raise DeploymentError(
                f"the retro's attendees were listed {len(checked)} times before they could answer "
                f"(statuses {[r['status'] for r in checked]}); expected one successful check by the sensor"
            )
        self.answer()
        self.answered = True
        log = [r for r in self.admin.requests() if f"/events/{self.event_id}/" in r["path"]]
        first_answer = next(i for i, r in enumerate(log) if r["operation"] == "RespondEvent")
        polls_before = sum(r["operation"] == "ListAttendees" for r in log[:first_answer])
        if polls_before > 1:
            raise DeploymentError(
                f"the trigger polled before the attendees answered ({polls_before} ListAttendees calls before "
                "the answers): it would poll again only in 15 minutes"
            )

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
        print(f"  the retro's attendees answered: {RETRO_ANSWERS}")
