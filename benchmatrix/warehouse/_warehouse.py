"""The DuckDB warehouse: migrations, views, loads by run, named queries.

One process writes at a time (DuckDB locks the file); a second writer gets a WarehouseError
that names the file, the holder's PID when DuckDB reports it, and what to do.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import pandas as pd

from benchmatrix.errors import WarehouseError
from benchmatrix.warehouse import _load
from benchmatrix.warehouse._sql import (
    NamedQuery,
    load_migrations,
    load_queries,
    load_views,
    materialized_inputs_sha256,
)
from benchmatrix.warehouse.records import RunRecord, ScenarioLoad

log = logging.getLogger(__name__)

DEFAULT_WAREHOUSE = Path(".data/benchmatrix.duckdb")
_LOCK_PID = re.compile(r"\(PID (\d+)\)")


def default_warehouse_path() -> Path:
    """``$BENCHMATRIX_WAREHOUSE`` if set, else ``./.data/benchmatrix.duckdb``."""
    return Path(os.environ.get("BENCHMATRIX_WAREHOUSE") or DEFAULT_WAREHOUSE)


class Warehouse:
    """A DuckDB file with the benchmatrix schema. Use :meth:`open`, as a context manager."""

    def __init__(self, path: Path, con: duckdb.DuckDBPyConnection, read_only: bool) -> None:
        self.path = path
        self.read_only = read_only
        self._con = con

    # -- lifecycle -------------------------------------------------------------------------
    @classmethod
    def open(
        cls, path: str | Path | None = None, *, read_only: bool = False, migrate: bool = True
    ) -> Warehouse:
        """Open (creating if needed), apply pending migrations and (re)create the views.

        ``migrate=False`` opens without touching the schema (tests of old versions use it).
        A read-only open needs an existing, fully migrated file.
        """
        path = Path(path) if path is not None else default_warehouse_path()
        if read_only and not path.exists():
            raise WarehouseError(f"{path} does not exist: load a run first (benchmatrix run ...)")
        path.parent.mkdir(parents=True, exist_ok=True)
        con = _connect(path, read_only)
        warehouse = cls(path, con, read_only)
        try:
            if migrate and not read_only:
                warehouse.migrate()
            elif read_only:
                warehouse._require_current()
        except BaseException:
            con.close()
            raise
        return warehouse

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- schema ----------------------------------------------------------------------------
    def schema_version(self) -> int:
        """Highest applied migration, 0 for a new file."""
        self._con.execute(
            "create table if not exists schema_migrations (version integer primary key, "
            "name varchar not null, applied_at timestamptz not null default current_timestamp)"
        )
        rows = self._con.execute("select coalesce(max(version), 0) from schema_migrations")
        return int(rows.fetchall()[0][0])

    def migrate(self, target: int | None = None) -> list[int]:
        """Apply pending migrations up to ``target`` (all by default), each in a transaction.

        Views are recreated only when the schema is fully migrated. Returns applied versions.
        """
        migrations = load_migrations()
        current = self.schema_version()
        known = migrations[-1].version if migrations else 0
        if current > known:
            raise WarehouseError(
                f"{self.path} is at schema version {current} but this benchmatrix knows "
                f"migrations up to {known}: upgrade benchmatrix or use another warehouse file"
            )
        applied = []
        for migration in migrations:
            if migration.version <= current or (target is not None and migration.version > target):
                continue
            self._apply(migration)
            applied.append(migration.version)
        if target is None or target >= known:
            self._create_views()
            self._refresh_materialized()
        return applied

    def _apply(self, migration: Any) -> None:
        log.info("warehouse %s: applying migration %03d_%s", self.path, migration.version,
                 migration.name)
        with self._transaction(f"migration {migration.version:03d}_{migration.name}"):
            self._con.execute(migration.sql)
            self._con.execute(
                "insert into schema_migrations (version, name) values ($version, $name)",
                {"version": migration.version, "name": migration.name},
            )

    def _create_views(self) -> None:
        with self._transaction("creating views"):
            for view in load_views():
                self._con.execute(view.create_statement())

    def _refresh_materialized(self) -> None:
        """Rebuild the materialized tables when the view SQL they derive from has changed."""
        wanted = materialized_inputs_sha256(load_views())
        built = self._con.execute("select views_sha256 from materialized_state").fetchall()
        if built == [(wanted,)]:
            return
        log.info("warehouse %s: view SQL changed, rebuilding materialized tables", self.path)
        with self._transaction("rebuilding materialized tables"):
            for table in _load.MATERIALIZED:  # constant identifiers
                self._con.execute(f"delete from {table}")
            _load.materialize(self._con)
            self._con.execute("delete from materialized_state")
            self._con.execute("insert into materialized_state (views_sha256) values ($sha)",
                              {"sha": wanted})

    def _require_current(self) -> None:
        known = max((m.version for m in load_migrations()), default=0)
        version = self._con.execute(
            "select coalesce(max(version), 0) from schema_migrations"
        ).fetchall()[0][0] if self._has_table("schema_migrations") else 0
        if version != known:
            raise WarehouseError(
                f"{self.path} is at schema version {version}, this benchmatrix expects {known}: "
                "open it once for writing (any load or `benchmatrix runs`) to migrate it"
            )

    def _has_table(self, name: str) -> bool:
        return bool(self._con.execute(
            "select count(*) from duckdb_tables() where table_name = $name", {"name": name}
        ).fetchall()[0][0])

    # -- loading ---------------------------------------------------------------------------
    def load_run(self, run: RunRecord, scenarios: list[ScenarioLoad]) -> None:
        """Replace everything stored for ``run.run_id`` with this run, in ONE transaction.

        Loading the same run again replaces its rows (idempotent). Any failure, including an
        interrupt, rolls back: the previous state of the run stays as it was.
        """
        self._require_writable()
        with _load.bulk_load(self._con), self._transaction(f"loading run {run.run_id}"):
            _load.delete_run(self._con, run.run_id)
            _load.insert_run(self._con, run)
            _load.insert_scenarios(self._con, run.run_id, scenarios)
            _load.materialize(self._con, run.run_id)

    def load_scenarios(self, run: RunRecord, scenarios: list[ScenarioLoad]) -> None:
        """Incremental load: upsert the run's row and replace only these scenarios' rows.

        One transaction; the run's other scenarios stay as stored. Used to store each scenario
        as soon as it finishes, so an interrupted run keeps what it completed.
        """
        self._require_writable()
        with _load.bulk_load(self._con), \
                self._transaction(f"loading {len(scenarios)} scenario(s) of run {run.run_id}"):
            _load.upsert_run(self._con, run)
            latest = list({scenario.scenario_id: scenario for scenario in scenarios}.values())
            for scenario in latest:  # a scenario given twice: the last one wins
                _load.delete_scenario(self._con, run.run_id, scenario.scenario_id)
            _load.insert_scenarios(self._con, run.run_id, latest)
            for scenario in latest:
                _load.materialize(self._con, run.run_id, scenario.scenario_id)

    def upsert_run(self, run: RunRecord) -> None:
        """Insert or replace the run's own row (status, ended_at...), leaving its scenarios."""
        self._require_writable()
        with self._transaction(f"recording run {run.run_id}"):
            _load.upsert_run(self._con, run)

    def passed_scenarios(self, run_id: str) -> set[str]:
        """Scenario ids stored as passed in this run (for resuming the same run)."""
        rows = self._con.execute(
            "select scenario_id from scenarios where run_id = $run_id and status = 'passed'",
            {"run_id": run_id},
        ).fetchall()
        return {row[0] for row in rows}

    def completed_scenarios(self, matrix_name: str) -> set[str]:
        """Scenario ids of ``matrix_name`` that some loaded run stored as passed (for resuming)."""
        rows = self._con.execute(
            "select distinct scenarios.scenario_id from scenarios join runs using (run_id) "
            "where runs.matrix_name = $matrix and scenarios.status = 'passed'",
            {"matrix": matrix_name},
        ).fetchall()
        return {row[0] for row in rows}

    # -- reading ---------------------------------------------------------------------------
    def list_queries(self) -> list[NamedQuery]:
        """The named queries in warehouse/queries, by name."""
        return [query for _, query in sorted(load_queries().items())]

    def run_query(self, name: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Run ``warehouse/queries/NAME.sql`` with named parameters bound (never spliced)."""
        queries = load_queries()
        if name not in queries:
            raise WarehouseError(
                f"no query named {name!r}; known queries: {', '.join(sorted(queries))}"
            )
        query = queries[name]
        return self._fetch_df(query.sql, query.bind(params), f"query {name}")

    def sql(self, text: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Run any SQL (views and tables are all queryable) and return a DataFrame."""
        return self._fetch_df(text, params or {}, "sql")

    def export_run(self, run_id: str, directory: str | Path) -> list[Path]:
        """Write the run's raw rows to ``directory/<table>.parquet``; returns the files."""
        directory = Path(directory)
        if not self._con.execute(
            "select count(*) from runs where run_id = $run_id", {"run_id": run_id}
        ).fetchall()[0][0]:
            raise WarehouseError(f"run {run_id!r} is not in {self.path} (see `benchmatrix runs`)")
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for table in reversed(_load.RUN_TABLES):  # constant identifiers
            target = directory / f"{table}.parquet"
            # loads do not keep insertion order (bulk_load): sort requests for a stable file
            order = " order by scenario_id, request_index" if table == "requests" else ""
            relation = self._con.sql(
                f"select * from {table} where run_id = $run_id{order}", params={"run_id": run_id}
            )
            relation.write_parquet(str(target))
            written.append(target)
        return written

    def latest_run_id(self) -> str | None:
        rows = self._con.execute(
            "select run_id from runs order by started_at desc, run_id desc limit 1"
        ).fetchall()
        return rows[0][0] if rows else None

    # -- helpers ---------------------------------------------------------------------------
    def _fetch_df(self, text: str, params: dict[str, Any], what: str) -> pd.DataFrame:
        try:
            return self._con.execute(text, params).df()
        except duckdb.Error as exc:
            raise WarehouseError(f"{what} failed on {self.path}: {exc}") from exc

    def _require_writable(self) -> None:
        if self.read_only:
            raise WarehouseError(f"{self.path} was opened read-only: open it without read_only")

    def _transaction(self, what: str) -> _Transaction:
        return _Transaction(self._con, what, self.path)


class _Transaction:
    """BEGIN/COMMIT, or ROLLBACK on any exception (KeyboardInterrupt included)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, what: str, path: Path) -> None:
        self._con, self._what, self._path = con, what, path

    def __enter__(self) -> None:
        self._con.execute("begin transaction")

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self._con.execute("commit")
            return
        self._con.execute("rollback")
        if isinstance(exc, duckdb.Error):
            raise WarehouseError(f"{self._path}: {self._what} failed and was rolled back: {exc}") \
                from exc


def _connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            raise WarehouseError(f"cannot open warehouse {path}: {exc}") from exc
        pid = _LOCK_PID.search(str(exc))
        holder = f"process {pid.group(1)}" if pid else "another process"
        raise WarehouseError(
            f"warehouse {path} is locked by {holder} (DuckDB allows one writer per file). "
            "Wait for that run or query to finish, or point --warehouse / "
            "BENCHMATRIX_WAREHOUSE at another file.", transient=True,
        ) from None
    except duckdb.Error as exc:
        raise WarehouseError(f"cannot open warehouse {path}: {exc}") from exc
