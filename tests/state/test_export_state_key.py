"""The default Variable key of an incremental export never holds a word that makes Airflow mask the value.

(The export's watermark is moving beside its data, issue 19; when it has, this file goes with ``state_key``.)
"""

from __future__ import annotations

import hashlib

import pytest

from airflow_dtcal.state.variables import check_key
from airflow_dtcal.state.watermarks import state_key


@pytest.mark.parametrize("conn_id", ["dingtalk_token_conn", "calendar-secret", "my_api_key", "TOKEN"])
def test_the_default_export_key_never_holds_a_word_airflow_masks(conn_id):
    key = state_key(conn_id, "primary", ["u1"], "file:///data/x")
    assert check_key(key) == key
    assert key.startswith("dtcal_export__")


def test_connections_that_differ_only_by_a_word_left_out_keep_watermarks_of_their_own():
    keys = {state_key(conn_id, "primary", ["u1"], "file:///x") for conn_id in ("a_token", "a_secret", "a_")}
    assert len(keys) == 3 and all(key.startswith("dtcal_export__a___") for key in keys)


def test_the_default_export_key_of_an_ordinary_connection_is_unchanged():
    # The key existing watermarks are stored under: an upgrade does not lose them.
    assert state_key("dingtalk_calendar_default", "primary", ["u1"], "file:///data/x") == (
        "dtcal_export__dingtalk_calendar_default__"
        + hashlib.sha256(b'["primary",["u1"],"file:///data/x"]').hexdigest()[:16]
    )
