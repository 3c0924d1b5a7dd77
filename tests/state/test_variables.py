"""JSON state in an Airflow Variable (the export watermark, a watcher's cursor), against a real metadata DB.

Inside a task or a triggerer the same functions go through the Task SDK; that path is exercised by the
export DAG runs and the deployment test's triggerer.
"""

from __future__ import annotations

import asyncio

import pytest

from airflow_dtcal.exceptions import DingTalkConfigurationError, DingTalkInvalidArgumentError
from airflow_dtcal.state.variables import MAX_STATE_BYTES, aload_state, asave_state, load_state, save_state


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
