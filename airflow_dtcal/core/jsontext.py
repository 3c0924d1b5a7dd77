"""JSON from strangers: parsed in time linear in its size, with a bound on how deep it nests.

Pure: no I/O, no Airflow. What the provider reads and did not write itself (HTTP answers, Stream frames,
the JSON state kept in Airflow Variables) goes through :func:`loads`:

* the nesting is measured *before* parsing, by one pass that leaves out strings (a regular expression that
  cannot backtrack: every piece is possessive and an unterminated string simply runs to the end) and then
  one pass over the brackets that remain (C-level iteration, no Python loop per byte); so the parser never
  recurses deeper than ``max_depth`` on any input;
* the parser is the standard library's (linear, C); ``NaN`` and ``Infinity`` are refused (not JSON).

For valid JSON the depth measured is exact: ``[]`` nests 1 level, ``{"a": [1]}`` 2. For text that is not
JSON it is an upper bound of what the parser would reach before failing. Both passes are O(n); nothing here
keeps state between calls, so it is safe to call from several threads at once (the watch parses large
frames off its event loop).
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

#: A JSON string, or the unterminated rest of the text from a quote: no backtracking, whatever follows.
_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"?', re.DOTALL)
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_STEP = [0] * 256
for _byte in b"[{":
    _STEP[_byte] = 1
for _byte in b"]}":
    _STEP[_byte] = -1


class NotJSON(ValueError):
    """The text is not JSON."""


class TooDeep(ValueError):
    """The text nests deeper than allowed (refused before the parser saw it)."""

    def __init__(self, depth: int, max_depth: int) -> None:
        super().__init__(f"nests deeper than {max_depth} levels")
        self.depth = depth
        self.max_depth = max_depth


def nesting(content: bytes) -> int:
    """How deep the brackets of a JSON text nest, strings left out; two linear passes at C speed."""
    brackets = _STRING.sub(b"", content).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(content: bytes | str, max_depth: int) -> Any:
    """The JSON value of ``content``; :class:`TooDeep` or :class:`NotJSON` (both ``ValueError``) otherwise.

    The caller bounds the size (an answer's, a frame's, a Variable's cap); the work is linear in it.
    """
    if isinstance(content, str):
        data = content.encode("utf-8", "surrogatepass")
    else:
        encoding = json.detect_encoding(content)
        try:  # scanned as UTF-8, where no byte of a multi-byte character looks like a quote or a bracket
            data = (
                content
                if encoding == "utf-8"
                else content.decode(encoding, "surrogatepass").encode("utf-8", "surrogatepass")
            )
        except UnicodeError:
            raise NotJSON(f"not valid {encoding}") from None
    depth = nesting(data)
    if depth > max_depth:
        raise TooDeep(depth, max_depth)
    try:
        return json.loads(data, parse_constant=_no_constants)
    except (ValueError, RecursionError) as err:  # RecursionError: unreachable after the check; kept typed
        raise NotJSON(str(err)[:200]) from None
