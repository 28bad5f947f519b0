"""The load generator: schedules (``arrivals``), prompts and media, a lean streaming HTTP
client, worker processes, and the per-request record written to Parquet.

Public API::

    from benchmatrix.loadgen import LoadRunConfig, run_load
    result = run_load(LoadRunConfig(base_url="http://127.0.0.1:8080", model="m", concurrency=16))
    result.records_path   # Parquet, one row per request (docs/CONTRACTS.md)

Per-request failures are data (``status='error'`` plus ``error_kind``); only a run that cannot
happen at all raises :class:`benchmatrix.errors.LoadGenError`.
"""

from benchmatrix.loadgen.arrivals import Schedule, build_schedule
from benchmatrix.loadgen.config import (
    AudioOptions,
    ImageOptions,
    LoadRunConfig,
    RampUp,
    default_workers,
)
from benchmatrix.loadgen.records import ERROR_KINDS, RECORD_SCHEMA, RequestRecord
from benchmatrix.loadgen.runner import LoadResult, run_load

__all__ = [
    "AudioOptions",
    "ERROR_KINDS",
    "ImageOptions",
    "LoadResult",
    "LoadRunConfig",
    "RECORD_SCHEMA",
    "RampUp",
    "RequestRecord",
    "Schedule",
    "build_schedule",
    "default_workers",
    "run_load",
]
