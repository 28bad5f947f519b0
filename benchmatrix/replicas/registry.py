"""A pid-file registry: one JSON file per replica process, so a later run can kill what a killed run left.

Each entry records the process-group id, the process start time (clock ticks since boot, from
``/proc/PID/stat``) and the deployment labels. The start time guards against pid reuse: an entry
whose pid now belongs to another process is dropped, never signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_STATE_ENV = "BENCHMATRIX_STATE_DIR"


def default_registry_dir() -> Path:
    """``$BENCHMATRIX_STATE_DIR/replicas``, else ``~/.benchmatrix/replicas``."""
    root = os.environ.get(DEFAULT_STATE_ENV)
    base = Path(root) if root else Path.home() / ".benchmatrix"
    return base / "replicas"


class PidEntry(BaseModel):
    """One registered replica process (its pid is also its process-group id)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    replica_id: str
    pid: int = Field(gt=0)
    start_ticks: int | None = Field(description="Process start time from /proc, guards pid reuse.")
    labels: dict[str, str]
    log_path: str


def process_start_ticks(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot, or None when no such process exists."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


def process_state(pid: int) -> str | None:
    """One-letter /proc state ('R', 'S', 'Z', ...) or None when the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()[0]


def group_members(pgid: int) -> list[int]:
    """Pids of live (non-zombie) processes whose process group is ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text()
        except OSError:
            continue
        rest = fields[fields.rindex(")") + 2 :].split()
        if rest[0] != "Z" and int(rest[2]) == pgid:
            members.append(int(entry.name))
    return members


def signal_group(pgid: int, sig: int) -> None:
    """Send ``sig`` to process group ``pgid``; a group that is already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def wait_group_gone(pgid: int, timeout_s: float) -> bool:
    """Poll until no live process is left in ``pgid``; False if ``timeout_s`` passes first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not group_members(pgid):
            return True
        time.sleep(0.05)
    return not group_members(pgid)


def kill_group(pgid: int, grace_s: float) -> None:
    """SIGTERM the group, wait up to ``grace_s`` seconds, then SIGKILL what is left."""
    signal_group(pgid, signal.SIGTERM)
    if not wait_group_gone(pgid, grace_s):
        signal_group(pgid, signal.SIGKILL)
        wait_group_gone(pgid, 2.0)


class PidRegistry:
    """Directory of ``<pid>.json`` files describing replica process groups."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def add(self, entry: PidEntry) -> None:
        """Record ``entry`` (atomically: write a temp file, then rename)."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{entry.pid}.json.tmp"
        tmp.write_text(entry.model_dump_json())
        tmp.replace(self.root / f"{entry.pid}.json")

    def remove(self, pid: int) -> None:
        """Forget ``pid`` (no error when it is not registered)."""
        with contextlib.suppress(FileNotFoundError):
            (self.root / f"{pid}.json").unlink()

    def entries(self) -> list[PidEntry]:
        """All readable entries; unreadable files are skipped."""
        if not self.root.is_dir():
            return []
        found = []
        for path in sorted(self.root.glob("*.json")):
            try:
                found.append(PidEntry.model_validate(json.loads(path.read_text())))
            except (OSError, ValueError):
                continue
        return found

    def is_running(self, entry: PidEntry) -> bool:
        """True when the entry's pid still names the same process (start time matches)."""
        ticks = process_start_ticks(entry.pid)
        return ticks is not None and ticks == entry.start_ticks
