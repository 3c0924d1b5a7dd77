"""DingTalkCalendarHook: the DingTalk Calendar API, sync (requests) and async (httpx), each operation written once.

The class is assembled here from the per-domain modules of this package: each operation there is one flow
(:mod:`.operation`), which :func:`~.operation.operation` turns into a sync method and an ``a``-prefixed
async one (``get_event`` / ``aget_event``, ``iter_events`` / ``aiter_events``...), both with the flow's
signature and docstring. The request machinery they run on (settings, tokens, pacing, retries, the two
executors) is :class:`~.client.CalendarClient`.
"""

from __future__ import annotations

from typing import Any

from airflow_dtcal.core import connection_form
from airflow_dtcal.core.paging import EventPage
from airflow_dtcal.core.settings import DEFAULTS, resolve_base_url
from airflow_dtcal.hooks import api, attendees, calendars, checkins, events, people, rooms, stream
from airflow_dtcal.hooks.client import CalendarClient, clear_token_cache
from airflow_dtcal.hooks.operation import collected, listing, operation
from airflow_dtcal.planning.markers import Markers

__all__ = ["DEFAULTS", "DingTalkCalendarHook", "clear_token_cache", "resolve_base_url"]


class DingTalkCalendarHook(CalendarClient):
    """Talk to the DingTalk Calendar server API with an internal app's credentials.

    The Airflow connection gives the App Key (login), App Secret (password) and optionally the API host
    (default ``api.dingtalk.com`` over https; ``http://127.0.0.1:PORT`` for the emulator). Settings come from
    the arguments here, then the connection's extras (plain or ``extra__dingtalk_calendar__`` keys), then
    :data:`~airflow_dtcal.core.settings.DEFAULTS`.

    :param dingtalk_conn_id: the Airflow connection id.
    :param timeout: seconds one attempt may take in all (connect, send, whole answer).
    :param connect_timeout: seconds to open a connection.
    :param max_attempts: tries per request (1 = no retry).
    :param max_throttled_attempts: tries per request while DingTalk throttles it (403 ``Qps*``, 429), never
        fewer than ``max_attempts`` (default 8: throttles are how pacing learns that the quota is shared).
    :param backoff_initial: first backoff in seconds; doubled per retry, with jitter.
    :param backoff_max: cap of one wait, a server's ``Retry-After`` included.
    :param retry_deadline: seconds after which no retry starts.
    :param rate_limit: calls per second per app and API this process allows itself (DingTalk's quota is 20);
        fractions are honoured; 0 turns pacing off.
    :param max_answer_bytes: cap of one answer after decompression (default 4 MiB).
    :param max_pages: cap of one ``nextToken`` loop (default 1,000 pages).
    :param max_in_flight: requests kept in flight for bulk work (attendee chunks, :meth:`run_many`); default 8.
    :param pacing: ``"host"`` (default): every process of this machine paces together through a small locked
        file per app and API; ``"redis"``: every process of every machine paces together through the Redis of
        the connection extra ``pacing_redis_conn_id`` (default ``redis_default``); ``"process"``: this process
        paces alone and adapts to throttling.
    :param verify: TLS verification, or a CA bundle path.
    :param monthly_budget: DingTalk calls this app may spend per calendar month (China time) across the
        deployment (counted in the pacing store); the hook refuses, before any request, a task whose expected
        calls (:meth:`check_monthly_budget`) would exceed what is left. 0 or ``None``: no budget.

    :attr:`calls_spent` counts the requests this hook sent, by operation (retries and token fetches included).
    """

    # events
    create_event, acreate_event = operation(events.create_event)
    get_event, aget_event = operation(events.get_event)
    patch_event, apatch_event = operation(events.patch_event)
    delete_event, adelete_event = operation(events.delete_event)
    cancel_event, acancel_event = operation(events.cancel_event)
    transfer_event, atransfer_event = operation(events.transfer_event)
    find_event_by_key, afind_event_by_key = operation(events.find_event_by_key)
    mark_event, amark_event = operation(events.mark_event)
    iter_events, aiter_events = listing(events.iter_events, dict)
    list_events, alist_events = operation(collected(events.iter_events))
    iter_events_view, aiter_events_view = listing(events.iter_events_view, dict)
    list_events_view, alist_events_view = operation(collected(events.iter_events_view))
    iter_instances, aiter_instances = listing(events.iter_instances, dict)
    convert_legacy_event_ids, aconvert_legacy_event_ids = operation(events.convert_legacy_event_ids)
    list_instances, alist_instances = operation(collected(events.iter_instances))
    iter_event_changes, aiter_event_changes = listing(events.iter_event_changes, EventPage)

    # attendees
    add_attendees, aadd_attendees = operation(attendees.add_attendees)
    remove_attendees, aremove_attendees = operation(attendees.remove_attendees)
    iter_attendees, aiter_attendees = listing(attendees.iter_attendees, dict)
    list_attendees, alist_attendees = operation(collected(attendees.iter_attendees))
    respond_event, arespond_event = operation(attendees.respond_event)

    # free/busy and meeting rooms
    get_schedule, aget_schedule = operation(rooms.get_schedule)
    get_meeting_rooms_schedule, aget_meeting_rooms_schedule = operation(rooms.get_meeting_rooms_schedule)
    add_meeting_rooms, aadd_meeting_rooms = operation(rooms.add_meeting_rooms)
    remove_meeting_rooms, aremove_meeting_rooms = operation(rooms.remove_meeting_rooms)
    meeting_room_respond, ameeting_room_respond = operation(rooms.meeting_room_respond)
    iter_meeting_rooms, aiter_meeting_rooms = listing(rooms.iter_meeting_rooms, dict)

    # people
    get_user, aget_user = operation(people.get_user)
    get_user_id_by_mobile, aget_user_id_by_mobile = operation(people.get_user_id_by_mobile)
    get_user_id_by_union_id, aget_user_id_by_union_id = operation(people.get_user_id_by_union_id)
    resolve_people, aresolve_people = operation(people.resolve_people)
    resolve_user_ids, aresolve_user_ids = operation(people.resolve_user_ids)
    resolve_mobiles, aresolve_mobiles = operation(people.resolve_mobiles)
    resolve_union_ids_to_user_ids, aresolve_union_ids_to_user_ids = operation(
        people.resolve_union_ids_to_user_ids
    )

    # check-in, Stream mode
    iter_sign_ins, aiter_sign_ins = listing(checkins.iter_sign_ins, dict)
    get_sign_in_link, aget_sign_in_link = operation(checkins.get_sign_in_link)
    get_sign_out_link, aget_sign_out_link = operation(checkins.get_sign_out_link)
    sign_in, asign_in = operation(checkins.sign_in)
    sign_out, asign_out = operation(checkins.sign_out)
    check_in, acheck_in = operation(checkins.check_in)
    open_stream_connection, aopen_stream_connection = operation(stream.open_stream_connection)

    # calendars, subscribed calendars and sharing
    list_calendars, alist_calendars = operation(calendars.list_calendars)
    create_subscribed_calendar, acreate_subscribed_calendar = operation(calendars.create_subscribed_calendar)
    get_subscribed_calendar, aget_subscribed_calendar = operation(calendars.get_subscribed_calendar)
    update_subscribed_calendar, aupdate_subscribed_calendar = operation(calendars.update_subscribed_calendar)
    delete_subscribed_calendar, adelete_subscribed_calendar = operation(calendars.delete_subscribed_calendar)
    subscribe_calendar, asubscribe_calendar = operation(calendars.subscribe_calendar)
    unsubscribe_calendar, aunsubscribe_calendar = operation(calendars.unsubscribe_calendar)
    list_acls, alist_acls = operation(calendars.list_acls)
    add_acl, aadd_acl = operation(calendars.add_acl)
    delete_acl, adelete_acl = operation(calendars.delete_acl)

    # any documented operation by name (the escape hatch)
    call_api, acall_api = operation(api.call_api)

    def markers(self) -> Markers:
        """The event markers of this connection's app (:mod:`airflow_dtcal.planning.markers`): keyed by the
        app secret, so only this app can make markers its operators accept. No request is sent; never log,
        return or push the object (it refuses to be printed or serialised)."""
        return Markers(self.settings.app_secret)

    # ---------------------------------------------------------------- connection form (Airflow 3.0 - 3.1)

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Airflow 3.0-3.1: the extra fields, from the one table the provider info's conn-fields use too."""
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import StringField

        return {
            name: StringField(lazy_gettext(label), description=text, widget=BS3TextFieldWidget())
            for name, (label, text) in connection_form.fields().items()
        }

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["schema", "port"],
            "relabeling": {
                "login": "App Key (Client ID)",
                "password": "App Secret (Client Secret)",
                "host": "API host",
            },
            "placeholders": {
                "login": "dingxxxxxxxxxxxxxxxx",
                "password": "the app's Client Secret",
                "host": "api.dingtalk.com (or http://127.0.0.1:PORT for the emulator)",
                **connection_form.placeholders(),
            },
        }
