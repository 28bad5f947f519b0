"""Assemble a minimal root filesystem tarball that runs ``benchmatrix.sim`` (no registry, no network).

    python docker/make_rootfs.py OUT.tar

The image is built from this machine's own files: the running Python interpreter with its
standard library, the site-packages the simulated engine imports (found by importing it), and
every shared library those need (found with ``ldd``). ``docker import`` turns the tarball into the
base image; ``docker/Dockerfile.sim`` adds the benchmatrix source on top.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

STDLIB_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "site-packages",
               "unittest", "pydoc_data", "config-3.11-x86_64-linux-gnu"}
SITE_ROOT = "/opt/site-packages"
PROBE = """
import json, sys
import benchmatrix.sim, benchmatrix.sim.__main__, benchmatrix.sim.server
import benchmatrix.replicas.sim_entry
print(json.dumps(sorted({getattr(m, '__file__', None) or '' for m in list(sys.modules.values())})))
"""


def imported_files(repo: Path) -> list[Path]:
    """Files of every module the simulated engine and its container entry point import."""
    env = {**os.environ, "PYTHONPATH": str(repo)}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True,
                         env=env, timeout=120)
    return [Path(f) for f in json.loads(out.stdout) if f]


def site_packages_roots(files: list[Path]) -> set[Path]:
    """Top-level entries of site-packages (package dirs, single modules, .libs) that were imported."""
    roots: set[Path] = set()
    for site in {Path(p) for p in sys.path if p.endswith("site-packages")}:
        for f in files:
            if site in f.parents:
                top = site / f.relative_to(site).parts[0]
                roots.add(top)
                libs = site / f"{top.name.split('.')[0]}.libs"
                if libs.exists():
                    roots.add(libs)
    return roots


def shared_libs(paths: list[Path]) -> set[Path]:
    """Every shared library the given executables/extension modules load (``ldd``)."""
    libs: set[Path] = set()
    pattern = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x")
    for path in paths:
        result = subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=False, timeout=30)
        for match in pattern.finditer(result.stdout):
            libs.add(Path(match.group(1)))
    return libs


_ADDED: set[str] = set()


def add(tar: tarfile.TarFile, src: Path, arcname: str | None = None) -> None:
    """Add a file or tree once (Docker rejects duplicate paths), skipping ``__pycache__``."""
    name = (arcname or str(src)).lstrip("/")
    if name in _ADDED or "__pycache__" in name:
        return
    _ADDED.add(name)
    tar.add(str(src), arcname=name, recursive=False)
    if src.is_dir() and not src.is_symlink():
        for child in sorted(src.iterdir()):
            add(tar, child, f"{name}/{child.name}")


def build(out: Path, repo: Path) -> None:
    base = Path(sys.base_prefix)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    python = Path(os.path.realpath(sys.executable))
    files = imported_files(repo)
    roots = site_packages_roots(files)
    so_files = [python, *stdlib.glob("lib-dynload/*.so"), *base.glob("lib/libpython3*.so*")]
    so_files += [p for r in roots for p in (r.rglob("*.so") if r.is_dir() else [r]) if p.suffix == ".so"]
    with tarfile.open(out, "w") as tar:
        add(tar, python)
        for lib in base.glob("lib/libpython3*.so*"):
            add(tar, lib)
        for entry in stdlib.iterdir():
            if entry.name not in STDLIB_SKIP:
                add(tar, entry)
        for root in sorted(roots):
            add(tar, root, f"{SITE_ROOT}/{root.name}")
        for lib in sorted(shared_libs(so_files)):
            add(tar, Path(os.path.realpath(lib)), str(lib))
            if lib.is_symlink():
                add(tar, Path(os.path.realpath(lib)))
        _add_text(tar, "etc/passwd", "root:x:0:0:root:/root:/bin/false\nnobody:x:65534:65534::/:/bin/false\n")
        _add_text(tar, "etc/group", "root:x:0:\nnogroup:x:65534:\n")
        _add_dir(tar, "tmp", 0o1777)
        _add_link(tar, "usr/local/bin/python3", str(python))
    print(f"{out}: python {python}, {len(roots)} site-packages entries, "
          f"{out.stat().st_size / 1e6:.0f} MB", file=sys.stderr)


def _add_text(tar: tarfile.TarFile, name: str, text: str) -> None:
    import io

    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, mode
    tar.addfile(info)


def _add_link(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    tar.addfile(info)


if __name__ == "__main__":
    build(Path(sys.argv[1]), Path(__file__).resolve().parents[1])
