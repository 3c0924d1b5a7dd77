"""What each example DAG in dags/ is run with, and what it must leave behind (emulator state, XComs).

Logical dates are fixed so every expected value is known in advance; they are the dates the test suite uses
(tests/scheduled/test_example_dags.py). All ids are the DAGs' default params.
"""

from __future__ import annotations

from dataclasses import dataclass

ORGANIZER = "union-organizer-001"
MONDAY = "2026-03-09T01:10:00+00:00"  # Monday 2026-03-09 09:10 Asia/Shanghai, ISO week 11
FIRST_OF_APRIL = "2026-04-01T02:10:00+00:00"  # 2026-04-01 10:10 Asia/Shanghai
POOL, POOL_SLOTS = "dingtalk_calendar", 4
FOLLOWUP = "dingtalk_response_followup"
# The follow-up DAG waits for 3 acceptances; these attendees answer once its sensor has checked once.
RETRO_ANSWERS = {
    "union-eng-101": "accepted",
    "union-eng-102": "declined",
    "union-eng-103": "accepted",
    "union-eng-104": "accepted",
}
WEEK_11_ROTA = ["union-lead-010", "union-eng-103", "union-eng-104"]  # (11 * 2) % 5 = 2: engineers 3 and 4


# The event-driven example (watch.py): three watches of the CEO's calendar on one DingTalk app (the all-hands
# watch of dags/ and two of scripts/deployment/dags/), run by two triggerers. The CEO's assistant (another
# app than Airflow's) changes the CEO's calendar in three rounds; only the all-hands' reschedules make runs
# of the all-hands watch, each booking a prep meeting in the CEO's calendar (which the calendar watch sees).
WATCH = "dingtalk_all_hands_watch"
WATCH_ASSET = "dingtalk_all_hands"
CALENDAR_WATCH, CALENDAR_ASSET = "dtcal_deploy_ceo_calendar", "dingtalk_ceo_calendar"
RENAMES_WATCH, RENAMES_ASSET = "dtcal_deploy_ceo_renames", "dingtalk_ceo_renames"
WATCHES = (WATCH, CALENDAR_WATCH, RENAMES_WATCH)
CEO = "union-ceo-001"
ALL_HANDS = "All-hands"
BOARD = "Board meeting"
# (what, event, new summary, day, hour): the assistant's changes, round by round. Round 1 with both
# triggerers up; round 2 while one triggerer is stopped (SIGTERM) and started again; round 3's reschedule
# is followed by SIGKILL of both triggerers right after Airflow stored its asset event.
WATCH_ROUNDS = (
    [
        ("create", BOARD, BOARD, "2026-12-10", 15),
        ("rename", ALL_HANDS, "All-hands (agenda attached)", None, None),
        ("move", ALL_HANDS, None, "2026-12-08", 10),
    ],
    [
        ("rename", BOARD, "Board meeting (new room)", None, None),
        ("move", ALL_HANDS, None, "2026-12-15", 14),
    ],
    [("move", ALL_HANDS, None, "2026-12-22", 9)],
)
# all-hands date -> prep date (the working day before)
PREP_DATES = {"2026-12-08": "2026-12-07", "2026-12-15": "2026-12-14", "2026-12-22": "2026-12-21"}

# The people the onboarding and team-calendar examples name by userId (their default params), seeded into
# the emulator.
DIRECTORY = [
    {"userId": "hr-partner-01", "unionId": "union-hr-01", "name": "Hana (HR)"},
    {"userId": "emp-2041", "unionId": "union-2041", "name": "Li Wei"},
    {"userId": "emp-2042", "unionId": "union-2042", "name": "Zhang Min"},
    {"userId": "emp-2043", "unionId": "union-2043", "name": "Chen Jie"},
    {"userId": "emp-lead-1", "unionId": "union-lead-1", "name": "Wang Fang (lead)"},
    {"userId": "emp-101", "unionId": "union-101", "name": "Liu Yang"},
    {"userId": "emp-102", "unionId": "union-102", "name": "Zhao Lei"},
    {"userId": "emp-103", "unionId": "union-103", "name": "Sun Li"},
]
# The team calendar's sharing its DAG makes from those params: leads write, the rest of the team reads.
TEAM_SHARING = {"union-lead-1": "writer", "union-101": "reader", "union-102": "reader", "union-103": "reader"}


@dataclass(frozen=True)
class Run:
    """One DAG run to trigger: the DAG, its logical date, and the task instances it must finish."""

    dag_id: str
    logical_date: str | None
    tasks: frozenset[str]  # task ids; mapped ones as "task[i]"
    conf: tuple[tuple[str, str], ...] = ()  # run conf; "{workdir}" becomes the deployment's directory


RUNS = (
    Run(
        "dingtalk_event_attendees",
        None,  # unscheduled, and its dates are fixed in the DAG
        frozenset(
            {
                "create_event",
                "add_attendees",
                "list_attendees",
                "respond_accept",
                "remove_attendee",
                "final_attendees",
            }
        ),
    ),
    Run(
        "dingtalk_weekly_review",
        MONDAY,
        frozenset({"on_call_rota", "create_review_event", "sync_attendees"}),
    ),
    Run(
        "dingtalk_team_events",
        FIRST_OF_APRIL,
        frozenset(
            {"team_invitations", "create_team_event[0]", "create_team_event[1]", "create_team_event[2]"}
        ),
    ),
    Run(
        "dingtalk_response_followup",
        MONDAY,
        frozenset({"create_retro", "wait_for_acceptances", "report"}),
    ),
    Run(
        "dingtalk_onboarding_session",
        MONDAY,  # invites the hires by userId: the emulator's directory is seeded with DIRECTORY first
        frozenset({"new_hires", "create_onboarding_session", "invited"}),
    ),
    Run(
        "dingtalk_daily_export",
        FIRST_OF_APRIL,  # reads the team's calendars (incremental export, first run: a full listing)
        frozenset({"export_team_calendars", "summarize"}),  # to DTCAL_EXPORT_DESTINATION (deploy.md)
    ),
    Run(
        "dingtalk_team_calendar",
        MONDAY,  # provisions a subscribed calendar from the roster (userIds: DIRECTORY) and shares it
        frozenset(
            {
                "team_roster",
                "team_leads",
                "sharing_table",
                "ensure_team_calendar",
                "share_team_calendar",
                "subscribe_team",
            }
        ),
    ),
    Run(
        "dingtalk_design_review",
        MONDAY,  # books the reviewers' first free hour of the next week: nobody is busy, so Monday 10:00
        frozenset({"find_slot", "book_review", "reschedule_review"}),
    ),
)

# Scheduled on the daily export's asset: one run, made by the scheduler when the export's run finished.
ROW_COUNTS = "dingtalk_export_row_counts"


def _timed(day: str, hour: int) -> tuple[dict, dict]:
    start = {"dateTime": f"{day}T{hour:02d}:00:00+08:00", "timeZone": "Asia/Shanghai"}
    end = {"dateTime": f"{day}T{hour + 1:02d}:00:00+08:00", "timeZone": "Asia/Shanghai"}
    return start, end


def _invited(*ids: str) -> dict[str, str]:
    return {ORGANIZER: "accepted", **dict.fromkeys(ids, "needsAction")}


# summary -> (start, end, {attendee id: responseStatus}[, organizer]); exactly these events, each once.
EXPECTED_EVENTS = {
    "Quarterly data platform review": (
        *_timed("2026-12-01", 10),
        {**_invited("union-bob-003"), "union-alice-002": "accepted"},  # carol was removed
    ),
    "Data platform weekly review (2026-03-09)": (*_timed("2026-03-09", 16), _invited(*WEEK_11_ROTA)),
    "Ingestion monthly planning": (*_timed("2026-04-03", 14), _invited("union-ana-201", "union-bo-202")),
    "Modelling monthly planning": (
        *_timed("2026-04-03", 14),
        _invited("union-chen-301", "union-dee-302", "union-eli-303"),
    ),
    "Reporting monthly planning": (*_timed("2026-04-03", 14), _invited("union-fay-401")),
    "Sprint retro (2026-03-13)": (*_timed("2026-03-13", 16), {ORGANIZER: "accepted", **RETRO_ANSWERS}),
    "Welcome to the team: onboarding session": (
        {"dateTime": "2026-03-11T14:00:00+08:00", "timeZone": "Asia/Shanghai"},
        {"dateTime": "2026-03-11T16:00:00+08:00", "timeZone": "Asia/Shanghai"},
        {
            "union-hr-01": "accepted",
            **dict.fromkeys(["union-2041", "union-2042", "union-2043"], "needsAction"),
        },
        "union-hr-01",
    ),
    "Design review: storage-tiering-rfc": (
        *_timed("2026-03-16", 10),
        {
            "union-author-001": "accepted",
            **dict.fromkeys(
                ["union-rev-101", "union-rev-102", "union-rev-103", "union-rev-104"], "needsAction"
            ),
        },
        "union-author-001",  # its organizer (the others': ORGANIZER)
    ),
    # Renamed once and moved three times by the assistant; the watch DAG booked one prep meeting per new
    # date (also for the change it was handed twice: its booking is keyed by the date).
    "All-hands (agenda attached)": (*_timed("2026-12-22", 9), {CEO: "accepted"}, CEO),
    "All-hands prep (2026-12-08)": (*_timed("2026-12-07", 10), {CEO: "accepted"}, CEO),
    "All-hands prep (2026-12-15)": (*_timed("2026-12-14", 14), {CEO: "accepted"}, CEO),
    "All-hands prep (2026-12-22)": (*_timed("2026-12-21", 9), {CEO: "accepted"}, CEO),
    "Board meeting (new room)": (*_timed("2026-12-10", 15), {CEO: "accepted"}, CEO),
}
