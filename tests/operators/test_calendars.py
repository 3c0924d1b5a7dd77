"""DingTalkCalendarApiOperator and SyncCalendarAclOperator against the emulator over real HTTP (execute()
called with a task context); bad input refused when the DAG is parsed or before any request."""

from __future__ import annotations

import pytest

from airflow_dtcal.exceptions import DingTalkInvalidArgumentError, DingTalkPeopleNotFoundError
from airflow_dtcal.operators.calendars import DingTalkCalendarApiOperator, SyncCalendarAclOperator
from tests.helpers import ORGANIZER, seed_event, task_context

OWNER = "union-owner"


def sent(emulator, since: int = 0) -> list[str]:
    return [r["operation"] for r in emulator.requests()[since:] if r["operation"] != "GetAccessToken"]


def sync(sharing, **kwargs) -> SyncCalendarAclOperator:
    kwargs.setdefault("owner_id", OWNER)
    return SyncCalendarAclOperator(task_id="share", sharing=sharing, **kwargs)


def acls(hook, calendar_id: str = "primary") -> dict[str, str]:
    return {a["scope"]["userId"]: a["privilege"] for a in hook.list_acls(OWNER, calendar_id=calendar_id)}


# ------------------------------------------------------------------------------------------ the escape hatch


def test_api_operator_sends_a_row_with_a_derived_idempotency_key(dtcal_emulator):
    event_id = seed_event(dtcal_emulator, ["a"])
    op = DingTalkCalendarApiOperator(
        task_id="cancel",
        operation="CancelEvent",
        user_id=ORGANIZER,
        path_params={"eventId": event_id},
        query={"scope": "all"},
    )
    assert op.execute(task_context("cancel")) == {"result": True}
    [cancel] = [r for r in dtcal_emulator.requests() if r["operation"] == "CancelEvent"]
    assert cancel["path"].endswith(f"/calendars/primary/events/{event_id}/cancel")
    assert cancel["client_token"] and len(cancel["client_token"]) == 32
    assert dtcal_emulator.event(event_id)["status"] == "cancelled"


def test_api_operator_resolves_the_path_user_by_id_type(dtcal_emulator):
    dtcal_emulator.seed_users([{"userId": "emp-1", "unionId": OWNER, "name": "Owner"}])
    op = DingTalkCalendarApiOperator(
        task_id="list", operation="ListCalendars", user_id="emp-1", id_type="userId"
    )
    answer = op.execute(task_context("list"))
    assert [c["id"] for c in answer["response"]["calendars"]] == ["primary"]
    [listing] = [r for r in dtcal_emulator.requests() if r["operation"] == "ListCalendars"]
    assert listing["path"] == f"/v1.0/calendar/users/{OWNER}/calendars"


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"operation": "Nope"}, "operation"),
        ({"operation": "ListAcls", "user_id": "u", "path_params": {"aclId": "x"}}, "aclId"),
        ({"operation": "ListCategories", "user_id": "u"}, "user_id"),
        ({"operation": "ListCategories", "calendar_id": "team"}, "calendar_id"),
        ({"operation": "ListAcls", "user_id": "u", "path_params": {"userId": "v"}}, "user_id"),
        ({"operation": "ListAcls", "user_id": "u", "client_token": "k"}, "client_token"),
        ({"operation": "ListAcls", "user_id": "u", "body": {"a": 1}}, "body"),
        (
            {"operation": "ListAcls", "path_params": {"userId": "e1"}, "id_type": "userId"},
            "give the person as user_id",
        ),
    ],
)
def test_api_operator_refuses_bad_input_before_any_request(dtcal_emulator, kwargs, named):
    with pytest.raises(DingTalkInvalidArgumentError) as caught:
        DingTalkCalendarApiOperator(task_id="t", **kwargs).execute(task_context())
    assert named in str(caught.value)
    assert sent(dtcal_emulator) == []


def test_api_operator_unknown_operation_fails_the_dag_import():
    with pytest.raises(DingTalkInvalidArgumentError, match="operation"):
        DingTalkCalendarApiOperator(task_id="t", operation="DeleteEverything")


# ------------------------------------------------------------------------------------------ sharing


def test_grants_changes_and_a_second_run_sends_nothing(dtcal_emulator, hook):
    hook.add_acl(OWNER, "keep", "reader")
    hook.add_acl(OWNER, "promote", "reader")
    hook.add_acl(OWNER, "someone-else", "writer")  # not in the table: left alone by default
    table = {"keep": "reader", "promote": "writer", "new": "free_busy_reader"}
    assert sync(table).execute(task_context()) == {
        "added": ["new"],
        "changed": ["promote"],
        "removed": [],
        "unchanged": 1,
    }
    assert acls(hook) == {
        "keep": "reader",
        "someone-else": "writer",
        "promote": "writer",
        "new": "free_busy_reader",
    }
    seen = len(dtcal_emulator.requests())
    again = sync(table).execute(task_context(try_number=2))
    assert again == {"added": [], "changed": [], "removed": [], "unchanged": 3}
    assert sent(dtcal_emulator, seen) == ["ListAcls"]


def test_revoke_unlisted_makes_the_table_the_whole_sharing(dtcal_emulator, hook):
    cid = hook.create_subscribed_calendar(OWNER, "Team")
    hook.add_acl(OWNER, "leaver", "writer", calendar_id=cid)
    hook.add_acl(OWNER, "stays", "reader", calendar_id=cid)
    rows = [{"id": "stays", "privilege": "reader"}, ["lead", "writer"], {"id": OWNER, "privilege": "writer"}]
    result = sync(rows, calendar_id=cid, revoke_unlisted=True).execute(task_context())
    assert result == {"added": ["lead"], "changed": [], "removed": ["leaver"], "unchanged": 1}
    assert acls(hook, cid) == {"stays": "reader", "lead": "writer"}  # the owner needs no ACL


def test_duplicate_acls_of_one_person_are_reduced_to_one():
    """The emulator replaces a second grant; DingTalk may keep two: the plan of what ListAcls could answer."""
    from airflow_dtcal.planning.sharing import plan_acls

    current = [
        {"aclId": "1", "privilege": "reader", "scope": {"scopeType": "user", "userId": "p"}},
        {"aclId": "2", "privilege": "writer", "scope": {"scopeType": "user", "userId": "p"}},
        {"aclId": "3", "privilege": "reader", "scope": {"scopeType": "group", "userId": "g"}},
    ]
    plan = plan_acls(current, {"p": "writer"}, revoke_unlisted=True)
    assert plan.revoke == ["1"] and plan.grant == {} and plan.unchanged == 1


def test_people_resolve_by_id_type_and_unknown_ones_fail_or_are_skipped(dtcal_emulator, hook):
    dtcal_emulator.seed_users(
        [
            {"userId": "boss", "unionId": OWNER, "name": "Boss"},
            {"userId": "emp-1", "unionId": "union-1", "name": "One"},
        ]
    )
    with pytest.raises(DingTalkPeopleNotFoundError):
        sync({"emp-1": "reader", "ghost": "reader"}, owner_id="boss", id_type="userId").execute(
            task_context()
        )
    assert [op for op in sent(dtcal_emulator) if op in ("CreateAcls", "ListAcls")] == []
    op = SyncCalendarAclOperator(
        task_id="share",
        owner_id="boss",
        sharing={"emp-1": "reader", "ghost": "reader"},
        id_type="userId",
        on_unknown="skip",
    )
    assert op.execute(task_context())["added"] == ["union-1"]
    assert acls(hook) == {"union-1": "reader"}


def test_more_than_500_sharers_is_refused_before_any_write(dtcal_emulator):
    from airflow_dtcal.hooks.calendar import DingTalkCalendarHook

    fast = DingTalkCalendarHook(rate_limit=0)
    fast.run_many(lambda i: fast.add_acl(OWNER, f"old-{i}", "reader"), range(400))
    seen = len(dtcal_emulator.requests())
    table = {f"new-{i}": "reader" for i in range(200)}
    with pytest.raises(DingTalkInvalidArgumentError, match="more than DingTalk's 500"):
        sync(table).execute(task_context())
    assert sent(dtcal_emulator, seen) == ["ListAcls"]


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"sharing": {"a": "owner"}}, "sharing[0].privilege"),
        ({"sharing": [["a", "reader"], ["a", "writer"]]}, "sharing[1]"),
        ({"sharing": "a"}, "sharing"),
        ({"sharing": {}, "revoke_unlisted": "yes"}, "revoke_unlisted"),
        ({"sharing": {}, "client_token": "k"}, "client_token"),
        ({"sharing": {}, "send_msg": 1}, "send_msg"),
    ],
)
def test_sync_refuses_bad_input_before_any_request(dtcal_emulator, kwargs, named):
    with pytest.raises(DingTalkInvalidArgumentError) as caught:
        sync(**kwargs).execute(task_context())
    assert named in str(caught.value)
    assert sent(dtcal_emulator) == []


# ------------------------------------------------------------------------------------------ subscribed calendars


def ensure(**kwargs):
    from airflow_dtcal.operators.calendars import EnsureSubscribedCalendarOperator

    kwargs.setdefault("owner_id", OWNER)
    kwargs.setdefault("key", "data-team")
    kwargs.setdefault("name", "Data team")
    return EnsureSubscribedCalendarOperator(task_id="ensure", **kwargs)


def test_ensure_creates_once_then_finds_and_updates_only_what_differs(dtcal_emulator, hook):
    cid = ensure(description="Rota", members=["m1"]).execute(task_context("ensure"))
    assert sent(dtcal_emulator) == [
        "ListCalendars",
        "CreateSubscribedCalendar",
        "UpdateSubscribedCalendars",
        "SubscribeCalendar",
    ]
    got = hook.get_subscribed_calendar(OWNER, cid)
    assert got["name"] == "Data team" and got["subscribeScope"] == {"unionIds": ["m1"]}
    assert got["description"].startswith("Rota\n\n[airflow-dtcal:")
    seen = len(dtcal_emulator.requests())

    assert ensure(description="Rota", members=["m1"]).execute(task_context("ensure", try_number=2)) == cid
    assert sent(dtcal_emulator, seen) == ["ListCalendars", "GetSubscribedCalendar"]
    seen = len(dtcal_emulator.requests())

    assert ensure(description="Rota", members=["m1", "m2"]).execute(task_context("ensure")) == cid
    assert sent(dtcal_emulator, seen) == [
        "ListCalendars",
        "GetSubscribedCalendar",
        "UpdateSubscribedCalendars",
    ]
    [update] = [r for r in dtcal_emulator.requests()[seen:] if r["operation"] == "UpdateSubscribedCalendars"]
    assert update["body"] == {"subscribeScope": {"unionIds": ["m1", "m2"]}}
    assert len([c for c in hook.list_calendars(OWNER) if c["id"] != "primary"]) == 1
    # another key is another calendar
    assert ensure(key="other").execute(task_context("ensure")) != cid


def test_ensure_ignores_a_copied_marker(dtcal_emulator, hook):
    cid = ensure().execute(task_context("ensure"))
    marker = hook.get_subscribed_calendar(OWNER, cid)["description"]
    copy = hook.create_subscribed_calendar(OWNER, "Copy", description=marker)  # the marker of another id
    hook.delete_subscribed_calendar(OWNER, cid)
    again = ensure().execute(task_context("ensure"))
    assert again not in (cid, copy)


def test_update_keeps_the_marker_and_delete_is_idempotent(dtcal_emulator, hook):
    from airflow_dtcal.operators.calendars import (
        DeleteSubscribedCalendarOperator,
        UpdateSubscribedCalendarOperator,
    )

    cid = ensure(description="Old").execute(task_context("ensure"))
    UpdateSubscribedCalendarOperator(task_id="u", owner_id=OWNER, calendar_id=cid, description="New").execute(
        task_context()
    )
    description = hook.get_subscribed_calendar(OWNER, cid)["description"]
    assert description.startswith("New\n\n[airflow-dtcal:")
    assert ensure(description="New").execute(task_context("ensure")) == cid  # still found by its key
    delete = DeleteSubscribedCalendarOperator(task_id="d", owner_id=OWNER, calendar_id=cid)
    assert delete.execute(task_context()) is True
    assert delete.execute(task_context()) is False


def test_subscribe_and_unsubscribe_people_by_id_type(dtcal_emulator, hook):
    from airflow_dtcal.operators.calendars import SubscribeCalendarOperator, UnsubscribeCalendarOperator

    dtcal_emulator.seed_users([{"userId": "e1", "unionId": "u1"}, {"userId": "e2", "unionId": "u2"}])
    cid = hook.create_subscribed_calendar(OWNER, "Team", subscribe_scope={"unionIds": ["u1", "u2"]})
    op = SubscribeCalendarOperator(task_id="s", calendar_id=cid, subscribers=["e1", "e2"], id_type="userId")
    assert op.execute(task_context()) == ["u1", "u2"]
    assert cid in {c["id"] for c in hook.list_calendars("u2")}
    UnsubscribeCalendarOperator(task_id="u", calendar_id=cid, subscribers=["u2"]).execute(task_context())
    assert cid not in {c["id"] for c in hook.list_calendars("u2")}


@pytest.mark.parametrize(
    ("make", "named"),
    [
        (lambda: ensure(key=""), "key"),
        (lambda: ensure(name="x" * 129), "name"),
        (lambda: ensure(description="d" * 1000), "description"),
        (lambda: ensure(members=["a"], subscribe_scope={"unionIds": ["b"]}), "members"),
        (lambda: ensure(subscribe_scope={"chats": []}), "subscribe_scope"),
        (lambda: ensure(client_token="k"), "client_token"),
    ],
)
def test_subscribed_calendar_operators_refuse_bad_input_before_any_request(dtcal_emulator, make, named):
    with pytest.raises(DingTalkInvalidArgumentError) as caught:
        make().execute(task_context())
    assert named in str(caught.value)
    assert sent(dtcal_emulator) == []


def test_operators_on_a_subscribed_calendar_refuse_primary_when_the_dag_is_parsed():
    from airflow_dtcal.operators.calendars import (
        DeleteSubscribedCalendarOperator,
        SubscribeCalendarOperator,
        UpdateSubscribedCalendarOperator,
    )

    for make in (
        lambda: UpdateSubscribedCalendarOperator(task_id="u", owner_id=OWNER, name="x"),
        lambda: DeleteSubscribedCalendarOperator(task_id="d", owner_id=OWNER),
        lambda: SubscribeCalendarOperator(task_id="s", subscribers=["a"]),
    ):
        with pytest.raises(
            DingTalkInvalidArgumentError, match="calendar_id: must name a subscribed calendar"
        ):
            make()
