"""A real NGINX load balancer in front of the replicas, and the accounting read from its access log.

    plan = BalancerPlan(upstreams=[Upstream(replica_id="r0", host="127.0.0.1", port=8001), ...])
    with Balancer(plan, workdir) as lb:
        ...                                      # send requests to lb.url
    shares = replica_shares(parse_access_log(lb.access_log_path), plan.upstreams)

What lives where:

- :mod:`.plan`: ``Upstream``, ``BalancerPlan``, ``plan_for_replicas``, ``render_config`` (pure;
  the template is ``nginx/nginx.conf.j2`` at the repository root, ``TEMPLATE_DIR``).
- :mod:`.process`: ``Balancer``, the NGINX process as a context manager.
- :mod:`.status`: ``StubStatus`` and the ``stub_status`` page.
- :mod:`.logs`: parsing the access log (``AccessLogEntry``) and the error log (``UpstreamError``).
- :mod:`.shares`: per-replica accounting (``ReplicaShare``, ``replica_shares``,
  ``share_within_tolerance``, ``percentile``).
"""

from __future__ import annotations

from benchmatrix.balancer.logs import (
    AccessLogEntry, UpstreamError, parse_access_line, parse_access_log, parse_error_log,
)
from benchmatrix.balancer.plan import (
    TEMPLATE_DIR, TEMPLATE_NAME, BalancerPlan, Method, Upstream, plan_for_replicas, render_config,
)
from benchmatrix.balancer.process import AUTO_PORT_ATTEMPTS, Balancer
from benchmatrix.balancer.shares import ReplicaShare, percentile, replica_shares, share_within_tolerance
from benchmatrix.balancer.status import StubStatus, parse_stub_status, read_stub_status

__all__ = [
    "AUTO_PORT_ATTEMPTS",
    "AccessLogEntry",
    "Balancer",
    "BalancerPlan",
    "Method",
    "ReplicaShare",
    "StubStatus",
    "TEMPLATE_DIR",
    "TEMPLATE_NAME",
    "Upstream",
    "UpstreamError",
    "parse_access_line",
    "parse_access_log",
    "parse_error_log",
    "parse_stub_status",
    "percentile",
    "plan_for_replicas",
    "read_stub_status",
    "render_config",
    "replica_shares",
    "share_within_tolerance",
]
