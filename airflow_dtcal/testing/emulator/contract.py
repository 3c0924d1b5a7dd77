"""What DingTalk documents: operation names, header names, value sets and limits (see dingtalk-api.md)."""

from __future__ import annotations

import datetime as dt

#: Every operation the emulator serves, as named in the official SDK (the legacy ones after the docs).
OPERATIONS = (
    "GetAccessToken",
    "CreateEvent",
    "GetEvent",
    "ListEvents",
    "ListEventsView",
    "ListInstances",
    "PatchEvent",
    "DeleteEvent",
    "AddAttendee",
    "ListAttendees",
    "RemoveAttendee",
    "RespondEvent",
    "CancelEvent",
    "TransferEvent",
    "GetSchedule",
    "AddMeetingRooms",
    "RemoveMeetingRooms",
    "GetMeetingRoomsSchedule",
    "QueryMeetingRoomList",
    "MeetingRoomRespond",
    "ConvertLegacyEventId",
    "GetUser",
    "GetUserByMobile",
    "GetUserByUnionId",
    "SignIn",
    "CheckIn",
    "GetSignInList",
    "SignOut",
    "GetSignOutList",
    "GetSignInLink",
    "GetSignOutLink",
    "OpenStreamConnection",
    "ListCalendars",
    "CreateSubscribedCalendar",
    "GetSubscribedCalendar",
    "UpdateSubscribedCalendars",
    "DeleteSubscribedCalendar",
    "SubscribeCalendar",
    "UnsubscribeCalendar",
    "CreateAcls",
    "ListAcls",
    "DeleteAcl",
)
#: The legacy contacts operations (``oapi.dingtalk.com``): token in the query, errcode answers, no quota.
LEGACY_OPERATIONS = frozenset({"GetUser", "GetUserByMobile", "GetUserByUnionId"})
#: The calendar operations that change state; they honour ``x-client-token``.
WRITE_OPERATIONS = frozenset(
    {
        "CreateEvent",
        "PatchEvent",
        "DeleteEvent",
        "AddAttendee",
        "RemoveAttendee",
        "RespondEvent",
        "CancelEvent",
        "TransferEvent",
        "AddMeetingRooms",
        "RemoveMeetingRooms",
        "MeetingRoomRespond",
        "SignIn",
        "CheckIn",
        "SignOut",
    }
)
#: Operations that are not calendar calls: no access token, never counted against the monthly quota.
UNCOUNTED_OPERATIONS = frozenset({"GetAccessToken", "OpenStreamConnection"})

TOKEN_HEADER = "x-acs-dingtalk-access-token"
CLIENT_TOKEN_HEADER = "x-client-token"

TOKEN_TTL = 7200  # seconds, the documented access-token lifetime
IDEMPOTENCY_WINDOW = 86400.0  # seconds: an x-client-token is remembered for one day
THROTTLE_WINDOW = 1.0  # seconds
ORG_TIME_ZONE = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")  # the quota month is China's month
DEFAULT_QPS_LIMIT = 20  # calls per second per app and API on a standard-edition org

RESPONSE_STATUSES = ("needsAction", "accepted", "declined", "tentative")
PATTERN_TYPES = ("daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly")
RANGE_TYPES = ("noEnd", "endDate", "numbered")
DAY_NAMES = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
WEEK_INDEXES = ("first", "second", "third", "fourth", "last")
UI_NAMES = ("updateEventButton", "deleteEventButton", "transferEventButton", "attendee", "comment")
UI_STATUSES = ("hide", "disable", "enable")

MAX_SUMMARY = 2048
MAX_DESCRIPTION = 5000
MAX_ATTENDEES_PER_CALL = 500
MAX_ATTENDEES_PER_EVENT = 5000
MAX_LIST_SPAN = dt.timedelta(days=366)
MAX_SCHEDULE_USERS = 20  # GetSchedule userIds per call
MAX_ROOMS_PER_EVENT = 5
MAX_ROOM_SCHEDULE_SPAN = dt.timedelta(days=90)
MAX_SIGN_IN_PAGE = 500  # GetSignInList / GetSignOutList maxResults (required)

SYNC_TOKEN_TTL = 7 * 86400.0  # seconds a ListEvents syncToken stays valid (the emulator's choice)
#: Stream mode (the ``dingtalk-stream`` protocol): the event topic, ticket lifetime and redelivery delay.
STREAM_EVENT_TOPIC = "calendar_event_change"
STREAM_TICKET_TTL = 90.0  # seconds a connection ticket may wait before it is used (once)
STREAM_REDELIVERY_DELAY = 60.0  # seconds after which an unacked (or LATER) message is sent again
# Each push goes to ONE open connection of the app, chosen at random (DingTalk's load balancing; the
# developerpedia Stream protocol FAQ); the emulator's choice is a hash of this seed and the message.
STREAM_SEED = 0
# Share of acknowledged messages pushed once more ("even an acked push may arrive again"); 0 = never.
STREAM_DUPLICATE_RATE = 0.0
