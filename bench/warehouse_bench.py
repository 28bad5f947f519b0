"""Warehouse speed bench: load rate and named-query latency at scale.

    python bench/warehouse_bench.py                 # 1M-row load, then 10M rows over many runs
    python bench/warehouse_bench.py --total-rows 2000000 --runs 4   # a quicker look

Generates request records with numpy (list columns included), writes them to Parquet once per
scenario shape (snappy, 65,536-row groups, as the load generator writes them), loads them through
Warehouse.load_run (the read_parquet fast path), then times every named query over the whole
warehouse. Targets: >= 1M rows/s load, < 0.5 s per query.
Everything lives in a temporary directory that is removed at the end (unless --keep).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmatrix.pipeline.load import RECORD_BATCH_ROWS  # noqa: E402
from benchmatrix.loadgen.records import RECORD_COMPRESSION  # noqa: E402
from benchmatrix.warehouse import ReplicaStat, RunRecord, ScenarioLoad, Warehouse  # noqa: E402

HARDWARE = ("h100x2", "a100x4", "l40sx4", "mi300x1")
CONCURRENCIES = (1, 4, 16, 64, 128)
EVENTS_PER_REQUEST = 8


def make_requests(rows: int, seed: int, ttft_ms: float, tpot_ms: float) -> pa.Table:
    """``rows`` request records of one closed-loop scenario; 1 in 100 is an error."""
    rng = np.random.default_rng(seed)
    index = np.arange(rows, dtype=np.int64)
    intended = np.sort(rng.uniform(0, rows / 50, rows))
    sent = intended + rng.exponential(0.0005, rows)
    ttft = rng.lognormal(np.log(ttft_ms / 1000), 0.3, rows)
    gaps = rng.lognormal(np.log(tpot_ms * 4 / 1000), 0.2, (rows, EVENTS_PER_REQUEST - 1))
    times = sent[:, None] + np.concatenate([ttft[:, None], ttft[:, None] + gaps.cumsum(1)], 1)
    ok = rng.random(rows) > 0.01
    tokens = np.full((rows, EVENTS_PER_REQUEST), 4, dtype=np.int32)
    tokens[:, 0] = 1
    completion = tokens.sum(1).astype(np.int32)
    offsets = np.arange(0, rows * EVENTS_PER_REQUEST + 1, EVENTS_PER_REQUEST, dtype=np.int32)
    first, last = times[:, 0], times[:, -1]
    columns = {
        "request_index": index, "is_warmup": index < 8,
        "worker_id": (index % 4).astype(np.int32), "intended_send_s": intended, "sent_s": sent,
        "first_byte_s": first - 0.001, "first_token_s": np.where(ok, first, np.nan),
        "last_event_s": np.where(ok, last, np.nan), "done_s": last + 0.0005,
        "event_count": np.full(rows, EVENTS_PER_REQUEST, dtype=np.int32),
        "event_times_s": pa.ListArray.from_arrays(offsets, times.ravel()),
        "event_tokens": pa.ListArray.from_arrays(offsets, tokens.ravel()),
        "prompt_tokens_target": np.full(rows, 512, dtype=np.int32),
        "output_tokens_target": completion, "prompt_tokens": np.full(rows, 512, dtype=np.int32),
        "completion_tokens": completion, "token_source": np.full(rows, "server"),
        "replica_id": np.where(index % 2 == 0, "replica-0", "replica-1"),
        "http_status": np.where(ok, 200, 503).astype(np.int32),
        "status": np.where(ok, "ok", "error"),
        "error_kind": np.where(ok, None, "http"), "modality": np.full(rows, "text"),
    }
    table = pa.table({k: v for k, v in columns.items()})
    mask = pa.array(~ok)
    return table.set_column(table.schema.get_field_index("first_token_s"), "first_token_s",
                            pa.compute.if_else(mask, None, table["first_token_s"]))


def scenario(path: Path, hardware: str, concurrency: int, rows: int) -> ScenarioLoad:
    name = f"{hardware}/llama-3.1-8b/chat@c{concurrency}"
    return ScenarioLoad(
        scenario_id=f"{abs(hash(name)) % 16**12:012x}", name=name, hardware_name=hardware,
        gpu_name=hardware[:-2], gpu_count=int(hardware[-1]), price_per_gpu_hour=2.5,
        model_name="llama-3.1-8b", dtype="bf16", engine="sim", load_profile="chat",
        concurrency=concurrency, tp_degree=1, replicas=2, status="passed",
        plan={"reason": "tp=1 fits"}, spec={"slo": {"ttft_ms": 300, "tpot_ms": 40}},
        duration_s=rows / 50, requests_path=path,
        replica_stats=[ReplicaStat(replica_id=f"replica-{i}", requests=rows // 2)
                       for i in range(2)])


def write_parquet(table: pa.Table, path: Path) -> None:
    """As the load generator writes them: RECORD_COMPRESSION, RECORD_BATCH_ROWS rows per group."""
    pq.write_table(table, path, row_group_size=RECORD_BATCH_ROWS, compression=RECORD_COMPRESSION)


def write_shapes(root: Path, rows_per_scenario: int) -> dict[tuple[str, int], Path]:
    shapes = {}
    for h, hardware in enumerate(HARDWARE):
        for c in CONCURRENCIES:
            path = root / f"{hardware}-c{c}.parquet"
            table = make_requests(rows_per_scenario, seed=h * 1000 + c, ttft_ms=20 + c * (1 + h),
                                  tpot_ms=4 + c / 16 * (1 + h))
            write_parquet(table, path)
            shapes[(hardware, c)] = path
    return shapes


def run_record(night: int) -> RunRecord:
    start = datetime(2026, 11, 1, tzinfo=timezone.utc) + timedelta(days=night)
    return RunRecord(run_id=f"night-{night:03d}", matrix_name="bench", started_at=start,
                     ended_at=start + timedelta(hours=1), status="completed")


def cpu_s() -> float:
    """CPU seconds of this process, DuckDB's threads included (wall time lies on a busy box)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bench_load(root: Path, rows: int) -> tuple:
    path = root / "load-1m.parquet"
    write_parquet(make_requests(rows, seed=1, ttft_ms=30, tpot_ms=5), path)
    with Warehouse.open(root / "load.duckdb") as wh:
        started, cpu = time.perf_counter(), cpu_s()
        wh.load_run(run_record(0), [scenario(path, "h100x2", 16, rows)])
        seconds = time.perf_counter() - started
    return (f"load_run {rows:,} rows (parquet)", rows, seconds, cpu_s() - cpu, rows / seconds)


def bench_queries(root: Path, total_rows: int, runs: int, repeats: int) -> list[tuple]:
    per_scenario = total_rows // (runs * len(HARDWARE) * len(CONCURRENCIES))
    shapes = write_shapes(root, per_scenario)
    results = []
    with Warehouse.open(root / "big.duckdb") as wh:
        started, cpu = time.perf_counter(), cpu_s()
        for night in range(runs):
            wh.load_run(run_record(night), [scenario(p, hw, c, per_scenario)
                                            for (hw, c), p in shapes.items()])
        load_s = time.perf_counter() - started
        loaded = int(wh.sql("select count(*) as n from requests").n[0])
        results.append((f"load {runs} runs", loaded, load_s, cpu_s() - cpu, loaded / load_s))
        for named in wh.list_queries():
            times, cpus = [], []
            for _ in range(repeats):
                t, cpu = time.perf_counter(), cpu_s()
                frame = wh.run_query(named.name)
                times.append(time.perf_counter() - t)
                cpus.append(cpu_s() - cpu)
            results.append((f"query {named.name}", len(frame), statistics.median(times),
                            statistics.median(cpus), None))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--load-rows", type=int, default=1_000_000)
    parser.add_argument("--total-rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="work dir (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="benchmatrix-bench-", dir=args.dir))
    try:
        rows = [bench_load(root, args.load_rows)]
        rows += bench_queries(root, args.total_rows, args.runs, args.repeats)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print_table(rows)


def print_table(rows: list[tuple]) -> None:
    """One line per step; the target column judges wall time (>= 1M rows/s, < 0.5 s/query)."""
    print(f"{'step':<34} {'rows':>12} {'wall_s':>8} {'cpu_s':>8} {'rows/s':>12}  target")
    for name, count, seconds, cpu, per_s in rows:
        if per_s is not None:
            target = "ok" if per_s >= 1e6 else "below 1M rows/s"
        else:
            target = "ok" if seconds < 0.5 else "over 0.5 s"
        rate_text = f"{per_s:>12,.0f}" if per_s is not None else f"{'':>12}"
        print(f"{name:<34} {count:>12,} {seconds:>8.3f} {cpu:>8.3f} {rate_text}  {target}")


if __name__ == "__main__":
    main()
