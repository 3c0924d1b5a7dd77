"""Streaming writers of one table into one binary file object: a batch of rows at a time.

:class:`JsonLinesWriter` writes one JSON object per line (UTF-8). :class:`ParquetTableWriter` writes a row
group per batch through ``pyarrow.parquet.ParquetWriter`` with the table's fixed schema, so a file holds
any number of rows while memory holds one batch. Neither closes the file object: its owner does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO

from airflow_dtcal.export.rows import COLUMNS

FORMATS = ("jsonl", "parquet")
PYARROW_HINT = "pip install 'airflow-dtcal[parquet]' (pyarrow>=15)"


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
        self._file.write(text.encode("utf-8"))
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

        self._writer.write_table(pa.Table.from_pylist(list(rows), schema=self._schema))
        self.rows += len(rows)

    def close(self) -> None:
        self._writer.close()


def open_writer(file_format: str, file: BinaryIO, table: str) -> JsonLinesWriter | ParquetTableWriter:
    if file_format == "jsonl":
        return JsonLinesWriter(file, table)
    if file_format == "parquet":
        return ParquetTableWriter(file, table)
    raise ValueError(f"unknown format {file_format!r}; expected one of {', '.join(FORMATS)}")
