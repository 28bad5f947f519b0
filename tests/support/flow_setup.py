"""Run inside the loopback server's environment: create process work pools and deploy the host
scenario flow to the given pools (deployment name = pool name, as flows.dispatch expects).

    python -m tests.support.flow_setup POOL [POOL ...] --deploy-to POOL [POOL ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.exceptions import ObjectAlreadyExists

REPO_ROOT = Path(__file__).resolve().parents[2]


def create_pools(names: list[str]) -> None:
    with get_client(sync_client=True) as client:
        for name in names:
            try:
                client.create_work_pool(WorkPoolCreate(name=name, type="process"))
            except ObjectAlreadyExists:
                continue


def deploy_host_scenario(pools: list[str]) -> None:
    from prefect import flow

    source = flow.from_source(source=str(REPO_ROOT), entrypoint="flows/scenario.py:host_scenario_flow")
    for pool in pools:
        source.deploy(name=pool, work_pool_name=pool, tags=["benchmatrix"], print_next_steps=False)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("pools", nargs="+")
    parser.add_argument("--deploy-to", nargs="*", default=[])
    args = parser.parse_args()
    create_pools(args.pools)
    deploy_host_scenario(args.deploy_to)
