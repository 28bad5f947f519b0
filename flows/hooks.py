"""Flow-run hooks and run marking: teardown on cancel/crash, regression tag, notification.

Hooks may run in the flow's own process (a crash, an in-process cancel) or in the worker that
cancelled it, so they do both: stop the live resources this process registered, then remove
whatever the pid registry, the Docker labels and the NGINX pid files of the data dir still name.
"""

from __future__ import annotations

from typing import Any

from prefect.blocks.core import Block
from prefect.client.orchestration import get_client
from prefect.context import get_run_context
from prefect.logging.loggers import flow_run_logger

from benchmatrix import pipeline
from benchmatrix.runs import default_data_dir

REGRESSION_TAG = "regression"


def _data_dir_of(flow_run: Any) -> str:
    """The data dir a matrix or scenario flow run works in, from its parameters."""
    params = flow_run.parameters or {}
    ctx = params.get("ctx")
    if isinstance(ctx, dict) and ctx.get("data_dir"):
        return str(ctx["data_dir"])
    if hasattr(ctx, "data_dir"):
        return str(ctx.data_dir)
    return str(params.get("data_dir") or default_data_dir())


def teardown_hook(flow: Any, flow_run: Any, state: Any) -> None:
    """on_cancellation / on_crashed: stop replicas, containers and NGINX this run left running."""
    stopped = pipeline.emergency_teardown()
    found = pipeline.clean_data_dir(_data_dir_of(flow_run))
    flow_run_logger(flow_run).warning("flow run %s ended %s: stopped %d live resource(s); %s", flow_run.name,
                             state.name, stopped, "; ".join(found) or "no leftovers")


def mark_regressed(names: list[str]) -> None:
    """Tag the current flow run ``regression`` (the run list in the UI then shows it)."""
    if not names:
        return
    flow_run = get_run_context().flow_run
    with get_client(sync_client=True) as client:
        client.update_flow_run(flow_run.id, tags=sorted({*flow_run.tags, REGRESSION_TAG}))


def notify(policy: pipeline.RegressionPolicy, subject: str, body: str) -> bool:
    """Send ``body`` through the notification block the policy names, as ``<type-slug>/<name>``
    (e.g. ``custom-webhook/bench-alerts``); no block named: do nothing."""
    if not policy.notify_block:
        return False
    block = Block.load(policy.notify_block)
    block.notify(body=body, subject=subject)
    return True
