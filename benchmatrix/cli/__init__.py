"""The ``benchmatrix`` command line.

Each command group lives in its own module with a ``register(app)`` function; this module only
assembles them, so importing the CLI stays cheap (heavy libraries are imported inside commands).
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="benchmatrix",
    help=(
        "Benchmark LLM serving across a hardware x model x load matrix.\n\n"
        "Typical use:\n\n"
        "  benchmatrix validate matrices/smoke.yaml   # check a matrix file\n\n"
        "  benchmatrix plan matrices/nightly.yaml     # TP plan per scenario, nothing deployed\n\n"
        "  benchmatrix run matrices/smoke.yaml        # deploy, load, validate, warehouse\n\n"
        "  benchmatrix query hardware_comparison      # compare results with SQL"
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)

# Command modules, in the order their commands appear in --help.
_COMMAND_MODULES = (
    "benchmatrix.cli.spec_cmds",
    "benchmatrix.cli.load_cmds",
    "benchmatrix.cli.data_cmds",
    "benchmatrix.cli.sim_cmds",
)


# Packages outside the core (flows/: `run`) add commands through this entry-point group, so
# the core never imports them.
ENTRY_POINT_GROUP = "benchmatrix.commands"


def _register_all() -> None:
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        ep.load()(app)
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # a command group not written yet
                continue
            raise
        module.register(app)


_register_all()


def main() -> None:
    """Console-script entry point: maps BenchmatrixError to a clean message and exit code 2."""
    from benchmatrix.errors import BenchmatrixError

    try:
        app()
    except BenchmatrixError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise SystemExit(2) from None
