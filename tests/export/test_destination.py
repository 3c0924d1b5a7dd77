"""An export's destination, checked as text (airflow_dtcal.export.destination)."""

from __future__ import annotations

import pytest

from airflow_dtcal.core.errors import InvalidArgumentError
from airflow_dtcal.export.destination import check_destination, check_storage_path


@pytest.mark.parametrize(
    "value",
    [
        "/data/dingtalk",
        "file:///data/dingtalk",
        "  file:///data/dingtalk\n",
        "s3://bucket/dingtalk",
        "gs://bucket/a.b/..c/d..",
        "/data/./dingtalk",
    ],
)
def test_absolute_places_are_accepted(value):
    assert check_destination(value) == value.strip()


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("relative/dir", "relative path"),
        ("./lake", "relative path"),
        ("file://relative/x", r"file:// must be followed by an absolute path"),
        ("FILE://relative/x", r"file:// must be followed by an absolute path"),
        ("local://x", r"local:// must be followed by an absolute path"),
        ("/data/../etc", r"'\.\.' component"),
        ("file:///data/lake/..", r"'\.\.' component"),
        ("s3://bucket/a/../b", r"'\.\.' component"),
        ("/data/lake\x00/x", r"control character '\\x00'"),
        ("file:///data/\nx", r"control character '\\n'"),
        ("", "must be an ObjectStoragePath"),
        (None, "must be an ObjectStoragePath"),
        (42, "must be an ObjectStoragePath"),
    ],
)
def test_places_that_would_not_be_where_they_seem_are_refused(value, words):
    with pytest.raises(InvalidArgumentError, match=words) as caught:
        check_destination(value)
    assert caught.value.field == "destination"


def test_an_object_storage_path_is_held_to_the_same_rules():
    check_storage_path("file", "/data/lake")
    check_storage_path(("s3", "s3a"), "bucket/lake")
    with pytest.raises(InvalidArgumentError, match="relative path"):
        check_storage_path("", "relative/dir")
    with pytest.raises(InvalidArgumentError, match="'..' component"):
        check_storage_path("file", "/data/../x")
    with pytest.raises(InvalidArgumentError, match="control character"):
        check_storage_path("file", "/data/a\x00b")
