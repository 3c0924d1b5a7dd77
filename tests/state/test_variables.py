"""JSON state in an Airflow Variable (the export watermark, a watcher's cursor), against a real metadata DB.

Inside a task or a triggerer the same functions go through the Task SDK; that path is exercised by the
export DAG runs and the deployment test's triggerer.
"""

from __future__ import annotations

import asyncio

import pytest

from airflow_dtcal.exceptions import DingTalkConfigurationError, DingTalkInvalidArgumentError
from airflow_dtcal.state.variables import (
    MAX_STATE_BYTES,
    aload_state,
    asave_state,
    check_key,
    load_state,
    save_state,
    sensitive_word_in,
)
from tests.bounded_work import HOSTILE, assert_bounded


def test_round_trip_and_replace(airflow_db):
    assert load_state("dtcal_test.round_trip") is None
    save_state("dtcal_test.round_trip", {"cursor": "abc", "n": 1}, description="a test")
    assert load_state("dtcal_test.round_trip") == {"cursor": "abc", "n": 1}
    asyncio.run(asave_state("dtcal_test.round_trip", {"cursor": "def"}))
    assert asyncio.run(aload_state("dtcal_test.round_trip")) == {"cursor": "def"}

    from airflow.models.variable import Variable

    assert (
        Variable.get("dtcal_test.round_trip") == '{"cursor":"def"}'
    )  # readable with `airflow variables get`


def test_refuses_what_is_not_its_state(airflow_db):
    from airflow.models.variable import Variable

    Variable.set("dtcal_test.foreign", "plain text")
    with pytest.raises(DingTalkConfigurationError, match="airflow variables delete dtcal_test.foreign"):
        load_state("dtcal_test.foreign")
    with pytest.raises(DingTalkInvalidArgumentError, match="^state_key"):
        load_state("has spaces")
    with pytest.raises(DingTalkInvalidArgumentError, match="^state:"):
        save_state("dtcal_test.list", ["not", "a", "dict"])
    with pytest.raises(DingTalkConfigurationError, match="bytes"):
        save_state("dtcal_test.big", {"x": "y" * MAX_STATE_BYTES})
    with pytest.raises(ValueError):
        save_state("dtcal_test.nan", {"x": float("nan")})
    assert load_state("dtcal_test.big") is None


@pytest.mark.parametrize(
    ("stored", "words"),
    [
        ("[" * 100_000, "nests deeper than 32 levels"),  # was a raw RecursionError
        ('{"a": ' * 40 + "1" + "}" * 40, "nests deeper than 32 levels"),
        ('{"pad": "' + "x" * MAX_STATE_BYTES + '"}', "more than this provider ever stores"),  # was read whole
    ],
    ids=["deep-list", "deep-object", "oversized"],
)
def test_what_someone_else_wrote_into_the_variable_is_refused_by_a_bound(airflow_db, stored, words):
    from airflow.models.variable import Variable

    Variable.set("dtcal_test.hostile", stored)
    with pytest.raises(DingTalkConfigurationError, match=words):
        load_state("dtcal_test.hostile")


@pytest.mark.scale
def test_hostile_state_up_to_its_cap_costs_about_what_valid_json_does():
    assert_bounded("state", MAX_STATE_BYTES, list(HOSTILE))


@pytest.mark.parametrize(
    "key", ["my_token_state", "dtcal.secret.x", "Export-Password", "ci-api-key-watermark", "x_Bearer"]
)
def test_a_key_airflow_would_mask_is_refused_naming_the_word(key):
    with pytest.raises(ValueError, match=r"^state_key: contains '.*', so Airflow would mask"):
        check_key(key)
    assert sensitive_word_in(key) is not None


def test_a_deployments_own_sensitive_words_count_too(monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES", "ledger, payroll")
    assert sensitive_word_in("dtcal.payroll.sync") == "payroll"
