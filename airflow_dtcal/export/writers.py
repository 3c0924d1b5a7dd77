"""Streaming writers of one table into one binary file object: a batch of rows at a time.

:class:`JsonLinesWriter` writes one JSON object per line (UTF-8). :class:`ParquetTableWriter` writes a row
group per batch through ``pyarrow.parquet.ParquetWriter`` with the table's fixed schema, so a file holds
any number of rows while memory holds one batch. Neither closes the file object: its owner does.

Both write valid UTF-8 whatever text DingTalk sent: JSON may carry a lone UTF-16 surrogate (``"\\ud800"``),
which Python keeps in a ``str`` but UTF-8 cannot hold; :func:`valid_text` replaces each one with U+FFFD
(the replacement character), the same in JSON Lines and Parquet.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO

from airflow_dtcal.export.rows import COLUMNS

FORMATS = ("jsonl", "parquet")
PYARROW_HINT = "pip install 'airflow-dtcal[parquet]' (pyarrow>=15)"


def valid_text(text: str) -> str:
    """``text`` as valid Unicode: each lone surrogate (U+D800 to U+DFFF) becomes U+FFFD; two that form a pair
    become the character they encode. Valid text is returned as it is."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def _valid_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{k: valid_text(v) if isinstance(v, str) else v for k, v in row.items()} for row in rows]


def pyarrow_missing() -> bool:
    """True when ``pyarrow`` cannot be imported (Parquet is then unavailable)."""
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return True
    return False


class JsonLinesWriter:
    """One JSON object per line; keys in column order, non-ASCII text kept as it is."""

    def __init__(self, file: BinaryIO, table: str) -> None:
        self._file = file
        self.table = table
        self.rows = 0

    def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        text = "".join(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n" for row in rows)
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate in some string: the rare path
            data = valid_text(text).encode("utf-8")
        self._file.write(data)
        self.rows += len(rows)

    def close(self) -> None:
        self._file.flush()


def parquet_schema(table: str) -> Any:
    """The Arrow schema of a table (every column nullable)."""
    import pyarrow as pa

    types = {"string": pa.string(), "bool": pa.bool_(), "int64": pa.int64()}
    return pa.schema([pa.field(name, types[kind]) for name, kind in COLUMNS[table]])


class ParquetTableWriter:
    """A Parquet file of one table: a row group per non-empty batch; a file with no rows still has the schema."""

    def __init__(self, file: BinaryIO, table: str) -> None:
        import pyarrow.parquet as pq

        self.table = table
        self.rows = 0
        self._schema = parquet_schema(table)
        self._writer = pq.ParquetWriter(file, self._schema, compression="snappy")

    def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        import pyarrow as pa

        try:
            table = pa.Table.from_pylist(list(rows), schema=self._schema)
        except UnicodeEncodeError:  # a lone surrogate in some string: the rare path
            table = pa.Table.from_pylist(_valid_rows(rows), schema=self._schema)
        self._writer.write_table(table)
        self.rows += len(rows)

    def close(self) -> None:
        self._writer.close()


def open_writer(file_format: str, file: BinaryIO, table: str) -> JsonLinesWriter | ParquetTableWriter:
    if file_format == "jsonl":
        return JsonLinesWriter(file, table)
    if file_format == "parquet":
        return ParquetTableWriter(file, table)
    raise ValueError(f"unknown format {file_format!r}; expected one of {', '.join(FORMATS)}")
