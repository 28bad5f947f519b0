"""Run inside the loopback server's environment: start a long scenario on a pool, cancel it as
the UI does once its replicas and NGINX run, wait for the final state; print JSON facts.

    python -m tests.support.flow_cancel MATRIX DATA_DIR
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.states import Cancelling

from benchmatrix import pipeline
from flows import dispatch, limits


def _wait(predicate, timeout_s: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout_s:g} s")
        time.sleep(0.5)


def main(matrix_path: str, data_dir: str) -> None:
    matrix = pipeline.load_matrix(matrix_path)
    ctx = pipeline.new_run_context(matrix, matrix_path, data_dir=data_dir)
    (scenario,) = pipeline.expand(matrix)
    limits.ensure_hardware_limits(ctx, [scenario])
    flow_run = run_deployment(dispatch.deployment_name(scenario.hardware.work_pool), timeout=0,
                              parameters={"ctx": ctx.model_dump(mode="json"),
                                          "scenario": scenario.model_dump(mode="json")},
                              as_subflow=False)
    runs = Path(data_dir) / "runs"
    registry = pipeline.registry_dir(Path(data_dir))
    _wait(lambda: any(p.read_text().strip() for p in runs.glob("*/*/nginx/logs/nginx.pid")), 90, "NGINX")
    time.sleep(1.0)  # the load is running now
    replica_pids = [json.loads(p.read_text())["pid"] for p in registry.glob("*.json")]
    nginx_pid = int(next(runs.glob("*/*/nginx/logs/nginx.pid")).read_text().strip())
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run.id, Cancelling(), force=True)
        _wait(lambda: client.read_flow_run(flow_run.id).state.is_final(), 90, "final state")
        state = client.read_flow_run(flow_run.id).state
    print(json.dumps({"state": state.name, "replica_pids": replica_pids, "nginx_pid": nginx_pid}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
