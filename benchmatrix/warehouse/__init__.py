"""The DuckDB warehouse: raw tables, dbt-style views, named queries.

    with Warehouse.open(default_warehouse_path()) as wh:
        wh.load_run(run, scenarios)          # one transaction per run, idempotent
        wh.run_query("hardware_comparison", {"model": "llama-3.1-8b"})

SQL lives in ``warehouse/``: ``migrations/NNN_*.sql`` (recorded in ``schema_migrations``),
``views/NN_*.sql`` (staging ``stg_*`` -> ``int_*`` -> marts) and ``queries/*.sql``.
"""

from __future__ import annotations

from benchmatrix.warehouse._sql import NamedQuery
from benchmatrix.warehouse._warehouse import Warehouse, default_warehouse_path
from benchmatrix.warehouse.records import (
    CheckRow,
    ReplicaStat,
    RunRecord,
    RunStatus,
    ScenarioLoad,
    ScenarioStatus,
)

__all__ = [
    "CheckRow",
    "NamedQuery",
    "ReplicaStat",
    "RunRecord",
    "RunStatus",
    "ScenarioLoad",
    "ScenarioStatus",
    "Warehouse",
    "default_warehouse_path",
]
