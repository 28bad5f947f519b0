"""The per-request record (:class:`RequestRecord`), its Arrow schema and a batching Parquet writer.

Columns follow docs/CONTRACTS.md ("Request record") plus the additions documented there under
"Load generator additions". Times are seconds on CLOCK_MONOTONIC relative to the run's ``t0``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ERROR_KINDS = (
    "http", "connect", "timeout", "truncated", "bad_json", "no_choices",
    "max_tokens_ignored", "cancelled",
)


@dataclass(slots=True)
class RequestRecord:
    """Raw facts about one request; every metric is derived from these (benchmatrix.metrics)."""

    request_index: int
    is_warmup: bool
    worker_id: int
    intended_send_s: float
    prompt_tokens_target: int
    output_tokens_target: int
    modality: str
    sent_s: float = float("nan")
    first_byte_s: float | None = None
    first_token_s: float | None = None
    first_reasoning_s: float | None = None
    last_event_s: float | None = None
    done_s: float | None = None
    event_count: int = 0
    event_times_s: list[float] = field(default_factory=list)
    event_tokens: list[int] = field(default_factory=list)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    token_source: str = "client"
    replica_id: str | None = None
    http_status: int | None = None
    status: str = "ok"
    error_kind: str | None = None
    error_message: str | None = None
    audio_seconds: float | None = None
    server_arrival_s: float | None = None
    server_first_token_s: float | None = None
    server_last_token_s: float | None = None
    # additions (documented in docs/CONTRACTS.md, "Load generator additions")
    request_id: str | None = None
    reasoning_event_count: int = 0
    image_count: int = 0
    input_bytes: int = 0


RECORD_SCHEMA = pa.schema([
    ("request_index", pa.int64()),
    ("is_warmup", pa.bool_()),
    ("worker_id", pa.int32()),
    ("intended_send_s", pa.float64()),
    ("prompt_tokens_target", pa.int32()),
    ("output_tokens_target", pa.int32()),
    ("modality", pa.string()),
    ("sent_s", pa.float64()),
    ("first_byte_s", pa.float64()),
    ("first_token_s", pa.float64()),
    ("first_reasoning_s", pa.float64()),
    ("last_event_s", pa.float64()),
    ("done_s", pa.float64()),
    ("event_count", pa.int32()),
    ("event_times_s", pa.list_(pa.float64())),
    ("event_tokens", pa.list_(pa.int32())),
    ("prompt_tokens", pa.int32()),
    ("completion_tokens", pa.int32()),
    ("token_source", pa.string()),
    ("replica_id", pa.string()),
    ("http_status", pa.int32()),
    ("status", pa.string()),
    ("error_kind", pa.string()),
    ("error_message", pa.string()),
    ("audio_seconds", pa.float64()),
    ("server_arrival_s", pa.float64()),
    ("server_first_token_s", pa.float64()),
    ("server_last_token_s", pa.float64()),
    ("request_id", pa.string()),
    ("reasoning_event_count", pa.int32()),
    ("image_count", pa.int32()),
    ("input_bytes", pa.int64()),
])

_FIELD_NAMES = tuple(f.name for f in fields(RequestRecord))
assert _FIELD_NAMES == tuple(RECORD_SCHEMA.names), "record dataclass and Arrow schema drifted"


def records_to_table(records: list[RequestRecord]) -> pa.Table:
    """Column-wise conversion of records to an Arrow table with :data:`RECORD_SCHEMA`."""
    columns = [[getattr(r, name) for r in records] for name in _FIELD_NAMES]
    arrays = [pa.array(col, type=RECORD_SCHEMA.field(i).type, from_pandas=True)
              for i, col in enumerate(columns)]
    return pa.Table.from_arrays(arrays, schema=RECORD_SCHEMA)


#: Parquet codec of the request records. Snappy: the warehouse loads 1M rows ~8% faster than
#: from zstd (decoding is part of every load), for files about a third larger.
RECORD_COMPRESSION = "snappy"


class RecordWriter:
    """Streams records to one Parquet file in batches of ``batch_rows`` (memory stays flat)."""

    def __init__(self, path: Path, batch_rows: int = 4096) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(self.path, RECORD_SCHEMA, compression=RECORD_COMPRESSION)
        self._pending: list[RequestRecord] = []
        self._batch_rows = batch_rows
        self.rows_written = 0

    def add(self, record: RequestRecord) -> None:
        """Queue one record; writes a row group when the batch is full."""
        self._pending.append(record)
        if len(self._pending) >= self._batch_rows:
            self.flush()

    def flush(self) -> None:
        """Write the pending records as one row group."""
        if self._pending:
            self._writer.write_table(records_to_table(self._pending))
            self.rows_written += len(self._pending)
            self._pending = []

    def close(self) -> None:
        """Flush and close the file (idempotent)."""
        if self._writer is not None:
            self.flush()
            self._writer.close()
            self._writer = None  # type: ignore[assignment]


def merge_parts(parts: list[Path], output: Path) -> int:
    """Concatenate worker part files row group by row group into ``output``; returns rows."""
    output.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with pq.ParquetWriter(output, RECORD_SCHEMA, compression=RECORD_COMPRESSION) as writer:
        for part in parts:
            if not part.exists():
                continue
            reader = pq.ParquetFile(part)
            for i in range(reader.num_row_groups):
                table = reader.read_row_group(i)
                writer.write_table(table)
                rows += table.num_rows
    return rows
