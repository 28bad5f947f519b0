"""Worker process entry point: ``python -m benchmatrix.loadgen._proc PLAN.pickle``.

A plain subprocess (not ``multiprocessing``) so callers need no ``if __name__ == '__main__'``
guard and nothing of the caller's main module is re-imported. Protocol, one line each:

* worker -> parent on stdout: ``ready`` | ``error <message>`` | ``progress <done>`` |
  ``done <WorkerStats as JSON>``
* parent -> worker on stdin: ``start <t0>`` | ``stop`` | ``quit``

Anything else the worker prints goes to stderr. SIGINT is ignored: the parent decides.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import signal
import sys
import threading
from dataclasses import asdict

from benchmatrix.loadgen.worker import WorkerPlan, prepare, run_plan


def _emit(out, line: str) -> None:
    out.write(line + "\n")
    out.flush()


def main(argv: list[str]) -> int:
    """Prepare, wait for ``start``, run, report; returns the exit code."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout = sys.stderr  # keep the protocol channel clean
    with open(argv[0], "rb") as fh:
        plan: WorkerPlan = pickle.load(fh)
    try:
        builder, counter = prepare(plan)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises LoadGenError
        _emit(out, f"error {type(exc).__name__}: {exc}".replace("\n", " "))
        return 1
    stop = threading.Event()

    async def start() -> float:
        _emit(out, "ready")
        line = (await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)).split()
        if not line or line[0] != "start":
            raise SystemExit(0)  # the parent gave up before the start
        threading.Thread(target=_watch_stdin, args=(stop,), daemon=True).start()
        return float(line[1])

    stats = asyncio.run(run_plan(plan, builder, counter, start, stop.is_set,
                                 lambda done: _emit(out, f"progress {done}")))
    _emit(out, "done " + json.dumps(asdict(stats)))
    return 0


def _watch_stdin(stop: threading.Event) -> None:
    for line in sys.stdin:
        if line.strip() in ("stop", "quit"):
            stop.set()
            return
    stop.set()  # parent went away


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
