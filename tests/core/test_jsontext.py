"""JSON from strangers (airflow_dtcal.core.jsontext): linear time whatever the input, bounded nesting.

The work bound is measured against valid JSON of the same size in a child process (tests/bounded_work.py);
the old pre-scan took 5 s on 32 KB of ``"\\"\\"\\"...`` and grew with the square of the size.
"""

from __future__ import annotations

import json
import threading

import pytest

from airflow_dtcal.core import jsontext
from tests.bounded_work import HOSTILE, MiB, assert_bounded


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ("[]", 1),
        ('{"a": [1]}', 2),
        ('{"a": "[[[[{{{{"}', 1),
        ('["\\"[[[", ["\\\\"]]', 2),
        ('"]]]"', 0),
        ("[" * 40 + "]" * 40, 40),
    ],
)
def test_the_nesting_of_valid_json_is_exact_and_ignores_strings(text, depth):
    assert jsontext.nesting(text.encode()) == depth
    if depth <= 32:
        assert jsontext.loads(text, 32) == json.loads(text)


def test_deeper_than_the_limit_is_refused_before_the_parser_sees_it():
    with pytest.raises(jsontext.TooDeep, match="deeper than 32"):
        jsontext.loads("[" * 33 + "]" * 33, 32)
    assert jsontext.loads("[" * 32 + "]" * 32, 32) is not None
    with pytest.raises(jsontext.TooDeep):
        jsontext.loads(b"[" * 4 * MiB, 32)  # unterminated: the parser would recurse until the stack ran out


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", "{'a': 1}", '{"a": 1', b"\xff\xfe\x00", b'"\xc3('])
def test_what_is_not_json_is_not_json(text):
    with pytest.raises(jsontext.NotJSON):
        jsontext.loads(text, 32)


def test_a_quote_hidden_in_a_multibyte_character_cannot_hide_brackets():
    # In UTF-16, U+2200 is the bytes 22 00: a scan of raw bytes would take it for a quote and skip the
    # brackets after it. The text is decoded first and scanned as UTF-8, where that cannot happen.
    deep = ("\u2200" + "[" * 100 + "]" * 100).encode("utf-16")
    with pytest.raises(jsontext.TooDeep):
        jsontext.loads(deep, 32)
    assert jsontext.loads(json.dumps(["\u2200", [1]]).encode("utf-16"), 32) == ["\u2200", [1]]


def test_threads_can_parse_at_once():
    text = json.dumps({"a": [{"b": list(range(100))}] * 200}).encode()
    results: list[object] = []

    def work() -> None:
        for _ in range(20):
            results.append(jsontext.loads(text, 32))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 80 and all(r == json.loads(text) for r in results)


def test_every_hostile_input_of_4_mib_costs_about_what_valid_json_does():
    assert_bounded("text", 4 * MiB, list(HOSTILE))
