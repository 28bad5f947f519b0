"""Command-template expansion for the ``command`` backend (pure functions).

A template is split like a shell line first and each word is formatted afterwards, so a value
that contains spaces (a model path, say) stays one argument.
"""

from __future__ import annotations

import shlex
import string
import sys
from collections.abc import Mapping, Sequence

PLACEHOLDERS = ("host", "port", "model", "tp", "gpu_ids", "replica", "python")


def template_fields(template: str) -> set[str]:
    """Placeholder names used in ``template``."""
    names: set[str] = set()
    for word in shlex.split(template):
        for _, name, _, _ in string.Formatter().parse(word):
            if name is not None:
                names.add(name)
    return names


def command_values(
    *, host: str, port: int, model: str, tp: int, gpu_ids: Sequence[int], replica: str,
    python: str | None = None,
) -> dict[str, str]:
    """The values a template may use: ``gpu_ids`` joins as '0,1'; ``python`` is this interpreter."""
    return {
        "host": host,
        "port": str(port),
        "model": model,
        "tp": str(tp),
        "gpu_ids": ",".join(str(g) for g in gpu_ids),
        "replica": replica,
        "python": python or sys.executable,
    }


def expand_command(template: str, values: Mapping[str, str]) -> list[str]:
    """Split ``template`` like a shell and substitute ``{name}`` in each word.

    Raises ValueError naming an unknown placeholder and listing the known ones.
    """
    unknown = sorted(template_fields(template) - set(values))
    if unknown:
        raise ValueError(
            f"unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)} in command template; "
            f"known: {', '.join('{' + k + '}' for k in PLACEHOLDERS)}"
        )
    words = shlex.split(template)
    if not words:
        raise ValueError("command template is empty")
    return [word.format_map(dict(values)) for word in words]
