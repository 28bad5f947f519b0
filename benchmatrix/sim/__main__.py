"""``python -m benchmatrix.sim``: serve one simulated replica (argparse, no heavy imports).

    python -m benchmatrix.sim --config FILE.json --host 127.0.0.1 --port 8000
    python -m benchmatrix.sim --preset h100-llama8b --port 8000 [--time-scale 0.1]
    python -m benchmatrix.sim --preset h100-llama8b --no-delay --port 8000

Exit codes: 0 after SIGTERM/SIGINT, 2 bad arguments or config, 3 port in use.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from benchmatrix.sim.config import SimEngineConfig
from benchmatrix.sim.presets import preset_config

NO_DELAY_TOKENS_PER_EVENT = 16


def build_parser() -> argparse.ArgumentParser:
    """The command-line options (shared with ``benchmatrix sim serve``)."""
    p = argparse.ArgumentParser(prog="python -m benchmatrix.sim", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", type=Path, help="SimEngineConfig JSON file")
    src.add_argument("--preset", help="<gpu>[x<tp>]-<model>[-fp8], e.g. h100-llama8b")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    p.add_argument("--time-scale", type=float, help="override time_scale (0 = no delay)")
    p.add_argument("--no-delay", action="store_true",
                   help="time_scale 0 and 16 tokens per event: a fast server for load generators")
    p.add_argument("--tokens-per-event", type=int)
    p.add_argument("--replica-id")
    p.add_argument("--seed", type=int)
    p.add_argument("--reasoning-fraction", type=float,
                   help="chat: share of output streamed as delta.reasoning_content first")
    return p


def load_config(args: argparse.Namespace) -> SimEngineConfig:
    """Config from --config or --preset with the flag overrides applied."""
    overrides: dict[str, Any] = {}
    if args.no_delay:
        overrides.update(time_scale=0.0, tokens_per_event=NO_DELAY_TOKENS_PER_EVENT)
    for name in ("time_scale", "tokens_per_event", "replica_id", "seed", "reasoning_fraction"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    if args.config is not None:
        base = SimEngineConfig.model_validate_json(args.config.read_text())
        return SimEngineConfig(**{**base.model_dump(), **overrides})
    return preset_config(args.preset, **overrides)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, load the config, serve; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        cfg = load_config(args)
    except (OSError, ValueError, ValidationError) as exc:
        print(f"error: bad sim config: {exc}", file=sys.stderr)
        return 2
    from benchmatrix.sim.server import run

    return run(cfg, args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
