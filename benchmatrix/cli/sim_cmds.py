"""``benchmatrix sim ...``: serve a simulated replica, show presets, print the step model."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    """Add the ``sim`` command group to ``app``."""
    sim = typer.Typer(help="The simulated LLM engine (one replica's digital twin).",
                      no_args_is_help=True)

    @sim.command("serve")
    def serve(
        config: Optional[Path] = typer.Option(None, help="SimEngineConfig JSON file."),
        preset: Optional[str] = typer.Option(None, help="<gpu>\\[x<tp>]-<model>\\[-fp8], e.g. h100-llama8b or h100x4-llama70b-fp8."),
        host: str = typer.Option("127.0.0.1", help="Interface to bind."),
        port: int = typer.Option(8000, help="Port (0 picks a free one)."),
        time_scale: Optional[float] = typer.Option(None, help="0 = no delay, 0.1 = 10x faster."),
        no_delay: bool = typer.Option(False, help="time_scale 0 and 16 tokens per event."),
        tokens_per_event: Optional[int] = typer.Option(None, help="Tokens per SSE event."),
        replica_id: Optional[str] = typer.Option(None, help="x-benchmatrix-replica value."),
        seed: Optional[int] = typer.Option(None, help="Seed of natural output lengths."),
    ) -> None:
        """Serve one simulated replica until SIGTERM/SIGINT (exit 3 when the port is taken)."""
        from benchmatrix.sim.__main__ import main

        argv = ["--host", host, "--port", str(port)]
        argv += ["--config", str(config)] if config else ["--preset", preset or "h100-llama8b"]
        for flag, value in (("--time-scale", time_scale), ("--tokens-per-event", tokens_per_event),
                            ("--replica-id", replica_id), ("--seed", seed)):
            if value is not None:
                argv += [flag, str(value)]
        if no_delay:
            argv.append("--no-delay")
        raise typer.Exit(main(argv))

    @sim.command("step")
    def step(
        preset: str = typer.Argument(..., help="e.g. h100-llama8b"),
        batch: int = typer.Option(1, help="Decode batch size."),
        context: int = typer.Option(1024, help="Context tokens per sequence."),
        prompt: int = typer.Option(1024, help="Prompt tokens of a one-sequence prefill."),
    ) -> None:
        """Print modelled decode and prefill step times for a preset."""
        from benchmatrix.sim.model import decode_shape, prefill_shape, step_time
        from benchmatrix.sim.presets import preset_config

        cfg = preset_config(preset)
        dec = step_time(cfg, decode_shape(cfg, batch, context))
        pre = step_time(cfg, prefill_shape(cfg, prompt))
        typer.echo(f"decode  batch={batch} ctx={context}: {dec.total_s * 1e3:.3f} ms/step "
                   f"({batch / dec.total_s:.0f} tok/s)  {dec}")
        typer.echo(f"prefill {prompt} tokens: {pre.total_s * 1e3:.3f} ms  {pre}")

    app.add_typer(sim, name="sim")
