"""Flow-run hooks and run marking: teardown on cancel/crash, regression tag, notification.

Hooks may run in the flow's own process (a crash, an in-process cancel) or in the worker that
cancelled it, so they find what to stop on disk: the pid registry, Docker labels and NGINX pid
files. The matrix hook cleans the whole data dir (one run per data dir); a scenario hook only
its own scenario, since other scenarios may share the host.
"""

from __future__ import annotations

from typing import Any

from prefect.blocks.core import Block
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect.logging.loggers import flow_run_logger

from benchmatrix import pipeline
from benchmatrix.runs import default_data_dir

REGRESSION_TAG = "regression"


def _data_dir_of(flow_run: Any) -> str:
    """The data dir a matrix flow run works in, from its parameters."""
    return str((flow_run.parameters or {}).get("data_dir") or default_data_dir())


def _as_model(value: Any, from_json: Any) -> Any:
    """A parameter as its model: runs started here hold the object, API copies hold JSON."""
    return from_json(value) if isinstance(value, dict) else value


def teardown_hook(flow: Any, flow_run: Any, state: Any) -> None:
    """Matrix flow on_cancellation / on_crashed: stop every live replica set and balancer of this
    process, then whatever the data dir's pid registry and NGINX pid files still name."""
    stopped = pipeline.emergency_teardown()
    found = pipeline.clean_data_dir(_data_dir_of(flow_run))
    flow_run_logger(flow_run).warning("flow run %s ended %s: stopped %d live resource(s); %s", flow_run.name,
                                      state.name, stopped, "; ".join(found) or "no leftovers")


def scenario_teardown_hook(flow: Any, flow_run: Any, state: Any) -> None:
    """Scenario flow on_cancellation / on_crashed: stop only this scenario's replicas and NGINX
    (other scenarios may be running on the same host)."""
    params = flow_run.parameters or {}
    ctx = _as_model(params.get("ctx"), pipeline.context_from_json)
    scenario = _as_model(params.get("scenario"), pipeline.scenario_from_json)
    found = pipeline.clean_scenario(ctx, scenario)
    flow_run_logger(flow_run).warning("flow run %s ended %s: %s", flow_run.name, state.name,
                                      "; ".join(found) or "nothing left running")


def mark_regressed(names: list[str]) -> None:
    """Tag the current flow run ``regression`` (the run list in the UI then shows it)."""
    if not names:
        return
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    flow_run = context.flow_run
    with get_client(sync_client=True) as client:
        client.update_flow_run(flow_run.id, tags=sorted({*flow_run.tags, REGRESSION_TAG}))


def notify(policy: pipeline.RegressionPolicy, subject: str, body: str) -> bool:
    """Send ``body`` through the notification block the policy names, as ``<type-slug>/<name>``
    (e.g. ``custom-webhook/bench-alerts``); no block named: do nothing."""
    if not policy.notify_block:
        return False
    block: Any = Block.load(policy.notify_block)
    block.notify(body=body, subject=subject)
    return True
