"""Container entry point for the simulated engine: config from an environment variable.

    BENCHMATRIX_SIM_CONFIG='{...}' python3 -m benchmatrix.replicas.sim_entry --host 0.0.0.0 --port 8000

Passing the config in the environment (not a bind-mounted file) works the same on a local and a
remote Docker engine (``DOCKER_HOST=ssh://...``). The process replaces itself with
``python -m benchmatrix.sim --config FILE`` so signals reach the engine directly.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from benchmatrix.replicas.docker_args import SIM_CONFIG_ENV


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="run benchmatrix.sim with its config from $" + SIM_CONFIG_ENV)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    config = os.environ.get(SIM_CONFIG_ENV)
    if not config:
        print(f"error: ${SIM_CONFIG_ENV} is empty: pass the SimEngineConfig JSON", file=sys.stderr)
        return 2
    fd, path = tempfile.mkstemp(prefix="sim-", suffix=".json")
    with os.fdopen(fd, "w") as handle:
        handle.write(config)
    argv_sim = [sys.executable, "-m", "benchmatrix.sim", "--config", path, "--host", args.host,
                "--port", str(args.port)]
    os.execv(sys.executable, argv_sim)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
