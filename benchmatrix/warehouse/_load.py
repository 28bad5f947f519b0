"""Write one run into the raw tables inside the caller's transaction.

Request records are inserted with ``INSERT ... SELECT`` straight from ``read_parquet`` (or from
a registered DataFrame), naming the columns the file and the ``requests`` table share; columns
the file lacks load as NULL, columns the table lacks are ignored.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb

from benchmatrix.errors import WarehouseError
from benchmatrix.warehouse.records import RunRecord, ScenarioLoad

# Delete order for replacing a run: children first. Constant identifiers, never user input.
RUN_TABLES = (
    "scenario_replica_counts", "scenario_metrics", "checks", "replica_stats", "requests",
    "scenarios", "runs",
)
# Incremental models: table <- the int_ view it materializes (constant identifiers).
MATERIALIZED = {"scenario_metrics": "int_scenario_metrics",
                "scenario_replica_counts": "int_replica_counts"}
REQUIRED_REQUEST_COLUMNS = frozenset({"request_index", "is_warmup", "status"})
_INCOMING_VIEW = "_benchmatrix_incoming_requests"


def delete_run(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    for table in RUN_TABLES:
        con.execute(f"delete from {table} where run_id = $run_id", {"run_id": run_id})


def delete_scenario(con: duckdb.DuckDBPyConnection, run_id: str, scenario_id: str) -> None:
    """Remove one scenario of one run from every table that holds it (children first)."""
    for table in RUN_TABLES[:-1]:
        con.execute(
            f"delete from {table} where run_id = $run_id and scenario_id = $scenario_id",
            {"run_id": run_id, "scenario_id": scenario_id},
        )


def upsert_run(con: duckdb.DuckDBPyConnection, run: RunRecord) -> None:
    """Insert the run row, or replace it in place (its scenarios stay)."""
    con.execute("delete from runs where run_id = $run_id", {"run_id": run.run_id})
    insert_run(con, run)


def insert_run(con: duckdb.DuckDBPyConnection, run: RunRecord) -> None:
    con.execute(
        """
        insert into runs (run_id, matrix_name, matrix_path, git_revision, host, versions_json,
                          started_at, ended_at, status)
        values ($run_id, $matrix_name, $matrix_path, $git_revision, $host, $versions_json,
                $started_at, $ended_at, $status)
        """,
        {
            **run.model_dump(include={"run_id", "matrix_name", "matrix_path", "git_revision",
                                      "host", "started_at", "ended_at", "status"}),
            "versions_json": _json(run.versions),
        },
    )


def insert_scenario(con: duckdb.DuckDBPyConnection, run_id: str, load: ScenarioLoad) -> None:
    """The scenario row, its request records, replica stats and check results."""
    _insert_scenario_row(con, run_id, load)
    if load.requests_path is not None or load.requests is not None:
        _insert_requests(con, run_id, load)
    for stat in load.replica_stats:
        con.execute(
            """
            insert into replica_stats (run_id, scenario_id, replica_id, requests, share,
                upstream_mean_ms, upstream_p99_ms, errors, source)
            values ($run_id, $scenario_id, $replica_id, $requests, $share, $upstream_mean_ms,
                $upstream_p99_ms, $errors, $source)
            """,
            {"run_id": run_id, "scenario_id": load.scenario_id, **stat.model_dump()},
        )
    for check in load.checks:
        con.execute(
            """
            insert into checks (run_id, scenario_id, check_name, level, passed, observed,
                expected, message, skipped)
            values ($run_id, $scenario_id, $check_name, $level, $passed, $observed, $expected,
                $message, $skipped)
            """,
            {
                "run_id": run_id,
                "scenario_id": load.scenario_id,
                **check.model_dump(),
                "observed": _text(check.observed),
                "expected": _text(check.expected),
            },
        )


def materialize(
    con: duckdb.DuckDBPyConnection, run_id: str | None = None, scenario_id: str | None = None
) -> None:
    """Fill each materialized table from its int_ view: for one scenario, one run, or all.

    Callers delete the rows being replaced first (delete_run / delete_scenario).
    """
    where, params = "true", {}
    if run_id is not None:  # plain equalities, so the filter reaches the requests scan
        where, params = "run_id = $run_id", {"run_id": run_id}
    if scenario_id is not None:
        where, params = f"{where} and scenario_id = $scenario_id", {**params,
                                                                    "scenario_id": scenario_id}
    for table, view in MATERIALIZED.items():
        con.execute(f"insert into {table} by name select * from {view} where {where}", params)


def _insert_scenario_row(con: duckdb.DuckDBPyConnection, run_id: str, load: ScenarioLoad) -> None:
    fields = load.model_dump(
        exclude={"requests_path", "requests", "replica_stats", "checks", "plan", "spec", "name"}
    )
    con.execute(
        """
        insert into scenarios (run_id, scenario_id, scenario_name, hardware_name, gpu_name,
            gpu_count, price_per_gpu_hour, model_name, dtype, engine, load_profile, modality,
            concurrency, rate_rps, tp_degree, replicas, plan_json, spec_json, status,
            error_message, started_at, ended_at, t0, duration_s, gpus_used)
        values ($run_id, $scenario_id, $scenario_name, $hardware_name, $gpu_name,
            $gpu_count, $price_per_gpu_hour, $model_name, $dtype, $engine, $load_profile,
            $modality, $concurrency, $rate_rps, $tp_degree, $replicas, $plan_json, $spec_json,
            $status, $error_message, $started_at, $ended_at, $t0, $duration_s, $gpus_used)
        """,
        {
            **fields,
            "run_id": run_id,
            "scenario_name": load.name,
            "plan_json": _json(load.plan),
            "spec_json": _json(load.spec),
            "gpus_used": load.gpus_used,
        },
    )


def _insert_requests(con: duckdb.DuckDBPyConnection, run_id: str, load: ScenarioLoad) -> None:
    table_columns = _columns(con, "select * from requests")
    if load.requests_path is not None:
        if not load.requests_path.is_file():
            raise WarehouseError(
                f"scenario {load.name}: request file {load.requests_path} does not exist"
            )
        source, params = "read_parquet($path)", {"path": str(load.requests_path)}
        where = str(load.requests_path)
    else:
        con.register(_INCOMING_VIEW, load.requests)
        source, params, where = _INCOMING_VIEW, {}, "the requests DataFrame"
    try:
        source_columns = _columns(con, f"select * from {source}", params)
        missing = REQUIRED_REQUEST_COLUMNS - set(source_columns)
        if missing:
            raise WarehouseError(
                f"scenario {load.name}: {where} lacks request column(s) {sorted(missing)}"
            )
        shared = [c for c in table_columns if c in source_columns]
        names = ", ".join(f'"{c}"' for c in shared)  # identifiers from the table's own schema
        con.execute(
            f"insert into requests (run_id, scenario_id, {names}) "
            f"select $run_id, $scenario_id, {names} from {source}",
            {**params, "run_id": run_id, "scenario_id": load.scenario_id},
        )
    except duckdb.Error as exc:
        raise WarehouseError(f"scenario {load.name}: cannot load {where}: {exc}") from exc
    finally:
        if load.requests is not None:
            con.unregister(_INCOMING_VIEW)


def _columns(
    con: duckdb.DuckDBPyConnection, query: str, params: dict[str, Any] | None = None
) -> list[str]:
    return [row[0] for row in con.execute(f"describe {query}", params or {}).fetchall()]


def _json(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, default=str)
