"""Write one run into the raw tables inside the caller's transaction.

Request records are inserted with ``INSERT ... SELECT`` straight from ``read_parquet`` (or from
a registered DataFrame), naming the columns the file and the ``requests`` table share in the
table's column order; columns the file lacks load as NULL, columns the table lacks are ignored.
Loads run under :func:`bulk_load` (``preserve_insertion_order = false``), so DuckDB reads and
compresses the Parquet row groups on every thread instead of one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
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
_GLOB = re.compile(r"[*?\[\]{}]")


@contextmanager
def bulk_load(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Let DuckDB insert out of order (``preserve_insertion_order = false``) while loading.

    With insertion order kept, an ``INSERT ... SELECT`` from a multi-row-group Parquet file is
    written by one thread in file order; without it every thread reads, compresses and writes
    its own row groups (about 1.8x faster on two cores). Nothing reads ``requests`` in storage
    order: views aggregate, the plots sample by ``request_index`` and exports sort. The previous
    setting is restored afterwards. Settings are not transactional and a failed transaction
    refuses SET, so enter this outside the load's transaction: a failed load rolls back first.
    """
    before = con.execute("select current_setting('preserve_insertion_order')").fetchall()[0][0]
    con.execute("set preserve_insertion_order = false")
    try:
        yield
    finally:
        con.execute(f"set preserve_insertion_order = {'true' if before else 'false'}")


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
    """Insert the run row, or replace it in place (its scenarios stay). A resumed run keeps its
    first start time: ``started_at`` is the earlier of the stored and the new one."""
    row = con.execute("select started_at from runs where run_id = $run_id",
                      {"run_id": run.run_id}).fetchone()
    if row is not None and row[0] is not None and row[0] < run.started_at:
        run = run.model_copy(update={"started_at": row[0]})
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


def insert_scenarios(
    con: duckdb.DuckDBPyConnection, run_id: str, loads: list[ScenarioLoad]
) -> None:
    """Several scenarios: their rows, request records, replica stats and check results.

    The request files (``requests_path``) are read first, by one ``INSERT ... SELECT`` over all
    of them (:func:`_insert_request_files`), so DuckDB's threads share the files even when each
    is a single row group, and the per-statement cost is paid once; then each scenario's own
    rows (:func:`insert_scenario`). The caller deletes the rows being replaced first.
    """
    if len({load.scenario_id for load in loads}) < len(loads):
        raise WarehouseError(f"run {run_id}: a scenario id appears more than once in one load")
    _insert_request_files(con, run_id, [load for load in loads if load.requests_path is not None])
    for load in loads:
        if load.requests_path is not None:  # its records are in already
            load = load.model_copy(update={"requests_path": None, "requests": None})
        insert_scenario(con, run_id, load)


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


def _insert_request_files(
    con: duckdb.DuckDBPyConnection, run_id: str, loads: list[ScenarioLoad]
) -> None:
    """The request files of several scenarios in ONE ``INSERT ... SELECT``.

    ``read_parquet`` gets the list of files (``union_by_name``: a column some file lacks loads
    as NULL for that file); each row's scenario id is picked by its ``file_index``, the file's
    position in that list. Every file is checked (exists, required columns) before the insert,
    so those errors still name the scenario.
    """
    paths = [str(load.requests_path) for load in loads]
    # One file, a file shared, or a name read_parquet would expand as a glob (file_index would
    # then no longer be the position in the list): one INSERT per file.
    if len(loads) < 2 or len(set(paths)) < len(paths) or any(_GLOB.search(p) for p in paths):
        for load in loads:
            _insert_requests(con, run_id, load)
        return
    present: set[str] = set()
    for load in loads:
        present.update(_request_source_columns(con, load, "read_parquet($path)",
                                               {"path": str(load.requests_path)}))
    names = _shared_request_columns(con, present)
    try:
        con.execute(
            f"insert into requests (run_id, scenario_id, {names}) "
            f"select $run_id, ($scenario_ids)[file_index::bigint + 1], {names} "
            f"from read_parquet($paths, union_by_name = true)",
            {"run_id": run_id, "paths": paths,
             "scenario_ids": [load.scenario_id for load in loads]},
        )
    except duckdb.Error as exc:
        scenarios = ", ".join(load.name for load in loads)
        raise WarehouseError(
            f"run {run_id}: cannot load the request files of scenarios {scenarios}: {exc}"
        ) from exc


def _request_source_columns(
    con: duckdb.DuckDBPyConnection, load: ScenarioLoad, source: str, params: dict[str, Any]
) -> list[str]:
    """The columns of one scenario's request source, refused without the required ones."""
    where = str(load.requests_path) if load.requests_path is not None else \
        "the requests DataFrame"
    if load.requests_path is not None and not load.requests_path.is_file():
        raise WarehouseError(
            f"scenario {load.name}: request file {load.requests_path} does not exist"
        )
    try:
        source_columns = _columns(con, f"select * from {source}", params)
    except duckdb.Error as exc:
        raise WarehouseError(f"scenario {load.name}: cannot load {where}: {exc}") from exc
    missing = REQUIRED_REQUEST_COLUMNS - set(source_columns)
    if missing:
        raise WarehouseError(
            f"scenario {load.name}: {where} lacks request column(s) {sorted(missing)}"
        )
    return source_columns


def _shared_request_columns(con: duckdb.DuckDBPyConnection, source_columns: set[str]) -> str:
    """Quoted, in the table's column order: the request columns the source also has.

    The keys (run_id, scenario_id) always come from the load, never from the source.
    """
    shared = [c for c in _columns(con, "select * from requests")
              if c in source_columns and c not in ("run_id", "scenario_id")]
    return ", ".join(f'"{c}"' for c in shared)  # identifiers from the table's own schema


def _insert_requests(con: duckdb.DuckDBPyConnection, run_id: str, load: ScenarioLoad) -> None:
    if load.requests_path is not None:
        source, params = "read_parquet($path)", {"path": str(load.requests_path)}
        where = str(load.requests_path)
    else:
        con.register(_INCOMING_VIEW, load.requests)
        source, params, where = _INCOMING_VIEW, {}, "the requests DataFrame"
    try:
        names = _shared_request_columns(
            con, set(_request_source_columns(con, load, source, params))
        )
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
