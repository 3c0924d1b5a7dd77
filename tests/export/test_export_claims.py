"""The claim of one run on one interval (the last run to start holds it), over a real directory."""

from __future__ import annotations

import pytest

from airflow_dtcal.core.errors import DingTalkConcurrentRunError
from airflow_dtcal.export.claims import MAX_CLAIM_BYTES, Claim

PARTITION = "interval_start=2026-03-09T00-00-00+00-00"


def test_the_last_run_to_claim_holds_the_interval(tmp_path):
    first, second = (
        Claim(tmp_path, PARTITION, "aaa111", "d.t run1 try 1"),
        Claim(tmp_path, PARTITION, "bbb222", "d.t run2 try 1"),
    )
    first.take()
    first.check()
    second.take()
    second.check()
    with pytest.raises(
        DingTalkConcurrentRunError, match=r"started after this one and owns it now \(d.t run2 try 1, at 20"
    ):
        first.check()
    assert (tmp_path / "_claims" / PARTITION).stat().st_size < 1024


@pytest.mark.parametrize("stored", [b"", b"not json", b"[1]", b'{"run": "x"}' + b" " * MAX_CLAIM_BYTES])
def test_a_missing_or_unreadable_claim_is_not_this_runs(tmp_path, stored):
    claim = Claim(tmp_path, PARTITION, "aaa111", "me")
    claim.take()
    claim.path.write_bytes(stored)
    with pytest.raises(DingTalkConcurrentRunError, match="no claim is left"):
        claim.check()
    claim.path.unlink()
    with pytest.raises(DingTalkConcurrentRunError):
        claim.check()


def test_a_run_tag_is_letters_and_digits(tmp_path):
    with pytest.raises(ValueError, match="run_tag"):
        Claim(tmp_path, PARTITION, "../x", "me")
