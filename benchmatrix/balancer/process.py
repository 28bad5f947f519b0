"""The NGINX process: unprivileged, in the foreground, with a private prefix (``conf/``,
``logs/``, ``tmp/``), bound to loopback. The configuration is checked with ``nginx -t`` before
start; NGINX's own message is carried by :class:`BalancerError`.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from benchmatrix.balancer.logs import parse_access_log, parse_error_log
from benchmatrix.balancer.plan import BalancerPlan, render_config
from benchmatrix.balancer.shares import ReplicaShare, replica_shares
from benchmatrix.balancer.status import StubStatus, read_stub_status
from benchmatrix.errors import BalancerError
from benchmatrix.ports import free_port, is_listening, port_is_free

AUTO_PORT_ATTEMPTS = 3


class Balancer:
    """NGINX as a context manager: validate, start, wait until listening, and always stop."""

    def __init__(
        self,
        plan: BalancerPlan,
        workdir: Path | None = None,
        *,
        nginx_bin: str = "nginx",
        start_timeout_s: float = 10.0,
        stop_timeout_s: float = 10.0,
    ) -> None:
        self.plan = plan
        self.nginx_bin = nginx_bin
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self._own_tmp = workdir is None
        self.prefix = Path(workdir or tempfile.mkdtemp(prefix="benchmatrix-nginx-")).resolve()
        self.port = plan.listen_port
        self._proc: subprocess.Popen[bytes] | None = None

    # -- paths and URLs -------------------------------------------------------------------------

    @property
    def conf_path(self) -> Path:
        return self.prefix / "conf" / "nginx.conf"

    @property
    def access_log_path(self) -> Path:
        return self.prefix / "logs" / "access.log"

    @property
    def error_log_path(self) -> Path:
        return self.prefix / "logs" / "error.log"

    @property
    def url(self) -> str:
        """Base URL clients send to, e.g. ``http://127.0.0.1:18080``."""
        return f"http://{self.plan.listen_host}:{self.port}"

    @property
    def stub_status_url(self) -> str:
        return f"{self.url}/nginx_status"

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> Balancer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Render, ``nginx -t``, start in the foreground, and wait until the port accepts connections.

        With ``listen_port=0`` a port another process grabbed between choosing and binding is
        replaced by a fresh one (up to ``AUTO_PORT_ATTEMPTS`` times); a fixed port is never changed.
        """
        self._check_binary()
        if self._proc is not None and self._proc.poll() is None:
            raise BalancerError(f"this balancer already runs on port {self.port}")
        attempts = AUTO_PORT_ATTEMPTS if self.plan.listen_port == 0 else 1
        for attempt in range(1, attempts + 1):
            try:
                self._start_once()
                return
            except BalancerError as exc:
                if attempt == attempts or not exc.transient:  # only a port race is retried
                    raise

    def _start_once(self) -> None:
        self.port = self.plan.listen_port or free_port(self.plan.listen_host)
        if not port_is_free(self.port, self.plan.listen_host):
            raise BalancerError(
                f"port {self.port} on {self.plan.listen_host} is already in use; "
                "choose another listen_port or 0 to pick a free one", transient=True,
            )
        self.write_config()
        self._validate()
        self._launch()
        try:
            self._wait_listening()
        except BaseException:
            self.stop()
            raise

    def write_config(self) -> Path:
        """Create the prefix layout and write the rendered configuration; return its path."""
        for sub in ("conf", "logs", "tmp"):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        plan = self.plan.model_copy(update={"listen_port": self.port})
        self.conf_path.write_text(render_config(plan, self.prefix))
        return self.conf_path

    def stop(self) -> None:
        """Graceful ``-s quit`` (finishes in-flight streams), SIGTERM after the timeout, then SIGKILL."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            subprocess.run(self._cmd("-s", "quit"), capture_output=True, timeout=10, check=False)
            try:
                proc.wait(timeout=self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
        if self._own_tmp:
            shutil.rmtree(self.prefix / "tmp", ignore_errors=True)

    def status(self, timeout_s: float = 2.0) -> StubStatus:
        """NGINX's live connection counters (``/nginx_status``)."""
        return read_stub_status(self.stub_status_url, timeout_s)

    def replica_shares(self) -> list[ReplicaShare]:
        """Per-replica accounting from this balancer's access and error logs (after the run)."""
        return replica_shares(parse_access_log(self.access_log_path), self.plan.upstreams,
                              parse_error_log(self.error_log_path))

    def alive(self) -> bool:
        """True while the NGINX master runs."""
        return self._proc is not None and self._proc.poll() is None

    # -- internals ------------------------------------------------------------------------------

    def _cmd(self, *extra: str) -> list[str]:
        return [self.nginx_bin, "-p", f"{self.prefix}/", "-c", "conf/nginx.conf", *extra]

    def _check_binary(self) -> None:
        if shutil.which(self.nginx_bin) is None:
            raise BalancerError(f"nginx binary {self.nginx_bin!r} not found; install it (apt-get install -y nginx)")

    def _validate(self) -> None:
        result = subprocess.run(self._cmd("-t", "-q"), capture_output=True, text=True, timeout=30, check=False)
        if result.returncode != 0:
            message = (result.stderr or result.stdout).strip()
            raise BalancerError(f"nginx -t rejected {self.conf_path}: {message}")

    def _launch(self) -> None:
        stderr_path = self.prefix / "logs" / "stderr.log"
        with open(stderr_path, "ab") as err:
            self._proc = subprocess.Popen(
                self._cmd(), stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise self._failure(f"nginx exited with code {self._proc.returncode}")
            if is_listening(self.port, self.plan.listen_host, timeout_s=0.5):
                return
            time.sleep(0.05)
        raise self._failure(f"nginx did not listen within {self.start_timeout_s:g} s")

    def _failure(self, head: str) -> BalancerError:
        """The start failure with NGINX's own log tail; a bind race (another process took the
        port after it was chosen) is transient."""
        tail = _tail(self.error_log_path) or _tail(self.prefix / "logs" / "stderr.log")
        race = "Address already in use" in tail
        hint = f" (port {self.port} on {self.plan.listen_host} is already in use)" if race else ""
        return BalancerError(f"{head}{hint} on port {self.port}; error log {self.error_log_path}:\n{tail}",
                             transient=race)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
