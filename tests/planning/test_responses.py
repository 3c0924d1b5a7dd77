"""The one condition function shared by the sensor and the trigger (pure, no I/O)."""

from __future__ import annotations

import pytest

from airflow_dtcal.core.errors import InvalidArgumentError
from airflow_dtcal.planning.responses import evaluate_responses, validate_condition

ORG = "org"


def listing(**statuses: str) -> list[dict]:
    """A DingTalk attendee list, organizer first (as DingTalk lists them: accepted)."""
    return [{"id": ORG, "responseStatus": "accepted", "self": True}] + [
        {"id": i, "responseStatus": s, "self": False} for i, s in statuses.items()
    ]


def check(attendees, condition, **kwargs):
    return evaluate_responses(attendees, organizer_id=ORG, condition=condition, **kwargs)


def test_all_responded_ignores_the_organizer_and_counts_every_answer():
    assert check(listing(a="accepted", b="tentative", c="declined"), "all_responded").outcome == "met"
    waiting = check(listing(a="accepted", b="needsAction"), "all_responded")
    assert waiting.outcome == "waiting" and "1 of 2" in waiting.reason
    # An event with only its organizer has nobody left to answer.
    assert check(listing(), "all_responded").outcome == "met"
    # A listing without a status counts as not answered.
    assert check([{"id": ORG}, {"id": "a"}], "all_responded").outcome == "waiting"


def test_min_accepted_does_not_count_the_organizer():
    assert check(listing(a="accepted", b="needsAction"), "min_accepted", min_accepted=2).outcome == "waiting"
    assert check(listing(a="accepted", b="accepted"), "min_accepted", min_accepted=2).outcome == "met"
    # A template rendered as text still works.
    assert check(listing(a="accepted"), "min_accepted", min_accepted="1").outcome == "met"
    assert check(listing(a="tentative"), "min_accepted", min_accepted=1).outcome == "waiting"


def test_accepted_by_waits_for_the_named_attendees_only():
    people = listing(a="accepted", b="needsAction", c="declined")
    assert check(people, "accepted_by", attendee_ids=["a"]).outcome == "met"
    assert check(people, "accepted_by", attendee_ids=["a", "b"]).outcome == "waiting"
    missing = check(people, "accepted_by", attendee_ids=["a", "zed"])
    assert missing.outcome == "waiting" and missing.missing == ["zed"] and "not invited" in missing.reason
    # The organizer may be named; they have accepted their own event.
    assert check(people, "accepted_by", attendee_ids=[ORG, "a"]).outcome == "met"


@pytest.mark.parametrize(
    ("condition", "kwargs"),
    [("all_responded", {}), ("min_accepted", {"min_accepted": 1}), ("accepted_by", {"attendee_ids": ["b"]})],
)
def test_a_relevant_decline_wins_only_with_fail_on_decline(condition, kwargs):
    people = listing(a="accepted", b="declined")
    result = check(people, condition, fail_on_decline=True, **kwargs)
    assert result.outcome == "declined" and result.declined == ["b"] and "b" in result.reason
    assert check(people, condition, **kwargs).outcome in ("met", "waiting")


def test_a_decline_outside_accepted_by_is_not_relevant():
    people = listing(a="accepted", b="declined")
    assert check(people, "accepted_by", attendee_ids=["a"], fail_on_decline=True).outcome == "met"


def test_statuses_cover_everyone_listed_and_a_mapping_is_accepted():
    result = check(listing(a="accepted", b="needsAction"), "all_responded")
    assert result.statuses == {ORG: "accepted", "a": "accepted", "b": "needsAction"}
    assert check(result.statuses, "all_responded").outcome == "waiting"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("soon",), "condition"),
        (("min_accepted",), "min_accepted"),
        (("min_accepted", 0), "min_accepted"),
        (("min_accepted", True), "min_accepted"),
        (("min_accepted", "two"), "min_accepted"),
        (("all_responded", 2), "min_accepted"),
        (("accepted_by",), "attendee_ids"),
        (("accepted_by", None, []), "attendee_ids"),
        (("accepted_by", None, "a,b"), "attendee_ids"),
        (("all_responded", None, ["a"]), "attendee_ids"),
    ],
)
def test_bad_conditions_name_the_argument(args, field):
    with pytest.raises(InvalidArgumentError) as err:
        validate_condition(*args)
    assert err.value.field == field
