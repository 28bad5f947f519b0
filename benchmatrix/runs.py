"""Run identity and on-disk layout: where a run's artifacts and the warehouse live.

A *run* is one execution of a matrix. Its id is ``<matrix>-<UTC timestamp>-<6 hex>`` unless the
caller passes one (re-running with the same id resumes that run). Layout under the data dir::

    <data_dir>/benchmatrix.duckdb              the warehouse (single writer)
    <data_dir>/runs/<run_id>/<scenario>/        per-scenario artifacts: records Parquet,
                                                replica logs, NGINX prefix and access log
"""

from __future__ import annotations

import os
import platform
import re
import secrets
import socket
from functools import lru_cache
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

DATA_DIR_ENV = "BENCHMATRIX_DATA_DIR"
DEFAULT_DATA_DIR = Path(".data")


def default_data_dir() -> Path:
    """``$BENCHMATRIX_DATA_DIR`` if set, else ``./.data``."""
    return Path(os.environ.get(DATA_DIR_ENV, DEFAULT_DATA_DIR))


class RunContext(BaseModel):
    """Identity and paths of one matrix run; passed to every stage."""

    model_config = ConfigDict(frozen=True)

    run_id: str = Field(description="Stable id of this run; reusing it resumes the run.")
    matrix_name: str = Field(description="The matrix's `name`.")
    matrix_path: str = Field(description="Path of the matrix file as given.")
    data_dir: Path = Field(description="Root of artifacts and the warehouse.")
    warehouse_path: Path = Field(description="DuckDB file.")
    started_at: datetime = Field(description="UTC start of the run.")
    git_revision: str | None = Field(default=None, description="HEAD of the checkout, if any.")
    host: str = Field(description="Host name that ran the matrix.")

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "runs" / self.run_id

    def scenario_dir(self, scenario_name: str, scenario_id: str) -> Path:
        """Artifact folder of one scenario (name made filesystem-safe, id keeps it unique)."""
        safe = re.sub(r"[^A-Za-z0-9_.@-]+", "_", scenario_name).strip("_")
        return self.run_dir / f"{safe}-{scenario_id}"


def make_run_id(matrix_name: str, now: datetime) -> str:
    """``<matrix>-<YYYYmmddTHHMMSSZ>-<6 hex>``: sortable by time, unique per call."""
    return f"{matrix_name}-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def git_revision(cwd: Path | None = None) -> str | None:
    """Short HEAD revision (with ``-dirty`` when the tree has changes), or None outside git."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=cwd, capture_output=True,
            text=True, timeout=5, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
            capture_output=True, text=True, timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{rev}-dirty" if dirty else rev


def versions() -> dict[str, str]:
    """Versions of the parts that shape the numbers (for the runs table): a fresh copy of what
    was read once per process (every scenario's store writes the run row)."""
    return dict(_read_versions())


@lru_cache(maxsize=1)
def _read_versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("benchmatrix", "prefect", "duckdb", "great-expectations", "httpx", "pydantic"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    try:
        nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True, timeout=5)
        out["nginx"] = nginx.stderr.strip().rsplit("/", 1)[-1]
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def new_run_context(
    matrix_name: str, matrix_path: str | Path, data_dir: Path | None = None,
    run_id: str | None = None, warehouse_path: Path | None = None,
) -> RunContext:
    """Create the context of a new (or resumed, when ``run_id`` is given) run."""
    now = datetime.now(timezone.utc)
    root = (Path(data_dir) if data_dir is not None else default_data_dir()).resolve()
    return RunContext(
        run_id=run_id or make_run_id(matrix_name, now),
        matrix_name=matrix_name,
        matrix_path=str(matrix_path),
        data_dir=root,
        warehouse_path=warehouse_path or root / "benchmatrix.duckdb",
        started_at=now,
        git_revision=git_revision(Path(matrix_path).resolve().parent),
        host=socket.gethostname(),
    )
