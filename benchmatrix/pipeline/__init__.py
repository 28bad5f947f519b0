"""One scenario's life, stage by stage, as plain functions the Prefect tasks call.

plan -> deploy replicas -> start NGINX -> run load -> stop NGINX -> collect replica stats ->
tear down -> validate -> store. Each stage takes typed inputs and returns typed results; the
outcome of a scenario is accumulated in an immutable :class:`ScenarioOutcome` so a failure at
any stage still leaves a record of everything before it (stored as ``failed``, never as good).

What lives where (everything is re-exported here; import from ``benchmatrix.pipeline``):

- :mod:`.outcome`: ``ScenarioOutcome``, ``PlannedScenario``, ``RunSummary`` and the ``with_*`` steps.
- :mod:`.run`: the run context and paths, scenario selection, lanes, tags, planning.
- :mod:`.launch`: replica specs and the simulated engine's config.
- :mod:`.deployment`: deploy/teardown, balancer start/stop, live resources and
  :func:`emergency_teardown` (Ctrl-C).
- :mod:`.load`: the load generator's config, the load run, its summary.
- :mod:`.store`: validation, the warehouse rows, open/close run (one warehouse writer lock).
- :mod:`.orphans`: stopping what a killed run left behind.
- :mod:`.transient`: :func:`is_transient`, the retry condition.
- :mod:`.reporting`: regressions, the HTML report, the final message.
- :mod:`.remote`: outcomes and contexts as JSON between hosts (work pools).
"""

from __future__ import annotations

from benchmatrix.expand import expand
from benchmatrix.pipeline.deployment import (
    Deployment, collect_engine_counts, collect_replica_stats, deploy, deployment_line, emergency_teardown, start_balancer,
    stop_balancer, teardown,
)
from benchmatrix.pipeline.launch import replica_specs, served_name, sim_engine_config
from benchmatrix.pipeline.load import RECORD_BATCH_ROWS, load_config, load_line, run_load, summarize_load
from benchmatrix.pipeline.orphans import (
    clean_data_dir, clean_orphans, clean_scenario, docker_hosts, stop_orphan_nginx,
)
from benchmatrix.pipeline.outcome import (
    PlannedScenario, RunStatus, RunSummary, ScenarioOutcome, Status, begin_outcome, with_checks,
    with_error, with_load, with_metrics, with_plan, with_planned, with_engine_counts, with_replica_stats,
)
from benchmatrix.pipeline.remote import (
    context_from_json, outcome_from_json, outcome_to_json, received_outcome, scenario_from_json,
)
from benchmatrix.pipeline.reporting import (
    NOTIFY_BLOCK_ENV, REGRESSION_THRESHOLD_ENV, RegressionPolicy, final_message, regressed_scenarios,
    regression_policy, regressions, write_html_report,
)
from benchmatrix.pipeline.run import (
    lanes, new_run_context, plan, plan_all, plan_one, registry_dir, scenario_dir, scenario_tags,
    select, selection_line,
)
from benchmatrix.pipeline.store import (
    close_run, mark_interrupted, open_run, run_record, scenario_load, store_scenario, validate,
)
from benchmatrix.pipeline.transient import is_transient
from benchmatrix.runs import RunContext
from benchmatrix.spec import load_matrix

__all__ = [
    "mark_interrupted",
    # records
    "Deployment", "PlannedScenario", "RunContext", "RunStatus", "RunSummary", "ScenarioOutcome",
    "Status",
    # run level
    "load_matrix", "expand", "new_run_context", "open_run", "close_run", "run_record",
    "select", "lanes", "scenario_tags", "selection_line", "scenario_dir", "registry_dir",
    # planning
    "plan", "plan_one", "plan_all",
    # outcome steps
    "begin_outcome", "with_plan", "with_planned", "with_load", "with_metrics",
    "with_replica_stats", "with_engine_counts", "with_checks", "with_error",
    # deploy + load
    "sim_engine_config", "served_name", "replica_specs", "deploy", "teardown", "start_balancer",
    "stop_balancer", "deployment_line", "collect_replica_stats", "collect_engine_counts", "emergency_teardown",
    "RECORD_BATCH_ROWS", "load_config", "run_load", "summarize_load", "load_line",
    # validate + store
    "validate", "scenario_load", "store_scenario",
    # orphans
    "clean_orphans", "clean_data_dir", "clean_scenario", "docker_hosts", "stop_orphan_nginx",
    # retries
    "is_transient",
    # reporting
    "RegressionPolicy", "regression_policy", "regressions", "regressed_scenarios",
    "write_html_report", "final_message", "REGRESSION_THRESHOLD_ENV", "NOTIFY_BLOCK_ENV",
    # between hosts
    "outcome_to_json", "outcome_from_json", "context_from_json", "scenario_from_json",
    "received_outcome",
]
