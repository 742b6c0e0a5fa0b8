"""Start and stop the ``tritonserver`` binary bundled in the ``nvidia-pytriton`` wheel.

:meth:`TritonServer.start` lays out a backend folder for the running Python in a run folder (see
:mod:`pipeline.serving.bundled`), binds every endpoint to loopback on free ports, loads models in explicit
mode and logs to a file kept after the server stops. A model that fails to load becomes a
:class:`~pipeline.errors.ServingError` quoting the model's own error line from that log.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from pipeline.errors import ServingError
from pipeline.netutil import LOOPBACK, free_ports
from pipeline.serving.bundled import (
    child_pids,
    list_repository_models,
    log_errors,
    prepare_backends,
    pytriton_home,
    reap_stubs,
    server_env,
)
from pipeline.serving.cpu_plan import CpuPlan, write_tuned_repository

logger = logging.getLogger(__name__)


class TritonServer:
    """A local ``tritonserver`` process serving a model repository in explicit model-control mode.

    Example:
        >>> with TritonServer(Path("triton_models"), models=["monolith"]) as server:
        ...     print(server.grpc_url)
    """

    def __init__(
        self,
        model_repository: Path | str,
        *,
        models: Sequence[str] | None = None,
        model_config_name: str | None = None,
        http_port: int | None = None,
        grpc_port: int | None = None,
        metrics_port: int | None = None,
        host: str = LOOPBACK,
        run_dir: Path | str | None = None,
        startup_timeout_s: float = 180.0,
        stop_timeout_s: float = 20.0,
        log_verbose: int = 0,
        tritonserver_home: Path | None = None,
        cpu_plan: CpuPlan | None = None,
    ) -> None:
        """Describe the server; nothing is checked or started until :meth:`start`.

        Args:
            model_repository: Folder with one sub-folder per model.
            models: Models to load at start; ``None`` loads every model in the repository.
            model_config_name: Load ``configs/<name>.pbtxt`` instead of ``config.pbtxt`` where present.
            cpu_plan: Instances and torch threads of the CPU models (see :mod:`pipeline.serving.cpu_plan`);
                the server then serves a tuned view of the repository. Ignored with ``model_config_name``.
            http_port: HTTP port (a free one when ``None``); likewise ``grpc_port`` and ``metrics_port``.
            grpc_port: gRPC port.
            metrics_port: Prometheus metrics port.
            host: Address every endpoint binds to; loopback unless the server must be reachable from outside.
            run_dir: Folder for the backend copy and the log (a new temporary folder when ``None``).
            startup_timeout_s: How long :meth:`start` waits for the server and its models to be ready.
            stop_timeout_s: How long :meth:`stop` waits after SIGTERM before SIGKILL.
            log_verbose: Triton's ``--log-verbose`` level.
            tritonserver_home: The wheel's ``tritonserver`` folder (the installed wheel's if ``None``).
        """
        self.model_repository = Path(model_repository)
        self.models = None if models is None else list(models)
        self.model_config_name = model_config_name
        self.host = host
        self.startup_timeout_s = startup_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.log_verbose = log_verbose
        self._ports = (http_port, grpc_port, metrics_port)
        self._run_dir_arg = None if run_dir is None else Path(run_dir)
        self._home = tritonserver_home
        self._process: subprocess.Popen[bytes] | None = None
        self._run_dir: Path | None = None
        self.cpu_plan = cpu_plan
        self.serving_repository = self.model_repository
        self._shm_prefix = f"camfleet_triton_{os.getpid()}_{id(self):x}_"
        self._http_port = self._grpc_port = self._metrics_port = 0
        self.loaded_models: list[str] = []
        # Stub pids seen while the server lived: after a SIGKILL they are no longer its children.
        self._stubs: set[int] = set()

    @property
    def grpc_url(self) -> str:
        """``host:port`` of the gRPC endpoint (what ``tritonclient.grpc`` takes)."""
        return f"{self._client_host}:{self._require_started()._grpc_port}"

    @property
    def http_url(self) -> str:
        """``http://host:port`` of the HTTP/REST endpoint."""
        return f"http://{self._client_host}:{self._require_started()._http_port}"

    @property
    def metrics_url(self) -> str:
        """``http://host:port/metrics`` of the Prometheus endpoint."""
        return f"http://{self._client_host}:{self._require_started()._metrics_port}/metrics"

    @property
    def log_path(self) -> Path:
        """The server's log file (kept after :meth:`stop`)."""
        if self._run_dir is None:
            raise ServingError("the Triton server was never started; call start() first")
        return self._run_dir / "tritonserver.log"

    @property
    def pid(self) -> int | None:
        """Process id of the running server, or ``None``."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def _client_host(self) -> str:
        return LOOPBACK if self.host in ("0.0.0.0", "") else self.host

    def _require_started(self) -> TritonServer:
        if self._process is None:
            raise ServingError("the Triton server is not started; call start() first")
        return self

    def start(self) -> TritonServer:
        """Start the server, wait until it and every requested model are ready, and return it.

        Raises:
            ServingError: if the binary or repository is missing, the server exits, a model fails to load
                (the message quotes the model's error and names the log), or readiness times out.
        """
        if self._process is not None:
            raise ServingError(f"the Triton server is already running (pid {self._process.pid})")
        if not self.model_repository.is_dir():
            raise ServingError(f"model repository {self.model_repository} does not exist")
        home = self._home or pytriton_home()
        binary = home / "bin" / "tritonserver"
        if not binary.is_file():
            raise ServingError(f"tritonserver binary not found at {binary}; reinstall nvidia-pytriton")
        available = list_repository_models(self.model_repository)
        models = self.models if self.models is not None else available
        if missing := sorted(set(models) - set(available)):
            raise ServingError(
                f"model(s) {', '.join(missing)} not in {self.model_repository}; "
                f"it has: {', '.join(available) or 'no models'}"
            )
        self._run_dir = self._run_dir_arg or Path(tempfile.mkdtemp(prefix="camfleet-triton-"))
        self._run_dir.mkdir(parents=True, exist_ok=True)
        backends = prepare_backends(home, self._run_dir / "backends")
        self.serving_repository = self._repository_to_serve(self._run_dir)
        ports = [p or 0 for p in self._ports]
        free = iter(free_ports(ports.count(0), self.host or LOOPBACK))
        self._http_port, self._grpc_port, self._metrics_port = (p or next(free) for p in ports)
        command = [str(binary), *self._arguments(backends, models)]
        logger.info("starting tritonserver with %d model(s), log %s", len(models), self.log_path)
        logger.debug("tritonserver command: %s", " ".join(command))
        started = time.monotonic()
        with self.log_path.open("wb") as log:
            # A process group of its own keeps a Ctrl-C in the terminal from reaching the server before
            # stop() runs. Not a session of its own: Linux's autogroup scheduler gives every session an equal
            # share of the CPU, whatever its processes' nice values, so past saturation the camera workers
            # (nice 15 under Ray) held half of a 2-core machine and Triton starved: specialists-condition fell
            # from 186 to 117 fps between 20 and 24 cameras. In the caller's session the nice values decide,
            # inference first: 199 and 185 fps.
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=server_env(home), process_group=0
            )
        atexit.register(self.stop)
        try:
            self._wait_ready(models)
        except BaseException:
            self.stop()
            raise
        self.loaded_models = list(models)
        self._stubs.update(child_pids(self._process.pid))
        logger.info("tritonserver ready in %.1f s at %s", time.monotonic() - started, self.grpc_url)
        return self

    def _repository_to_serve(self, run_dir: Path) -> Path:
        """The repository itself, or with a CPU plan (and no per-hardware config) a tuned view of it."""
        if self.cpu_plan is None or self.model_config_name:
            return self.model_repository
        view = run_dir / "repository"
        shutil.rmtree(view, ignore_errors=True)
        return write_tuned_repository(self.model_repository, view, self.cpu_plan)

    def _arguments(self, backends: Path, models: Sequence[str]) -> list[str]:
        args = [
            f"--model-repository={self.serving_repository.resolve()}",
            f"--backend-directory={backends}",
            "--model-control-mode=explicit",
            *(f"--load-model={name}" for name in models),
            f"--http-address={self.host}",
            f"--grpc-address={self.host}",
            f"--metrics-address={self.host}",
            f"--http-port={self._http_port}",
            f"--grpc-port={self._grpc_port}",
            f"--metrics-port={self._metrics_port}",
            f"--exit-timeout-secs={max(1, int(self.stop_timeout_s) - 2)}",
            f"--log-verbose={self.log_verbose}",
            f"--backend-config=python,shm-region-prefix-name={self._shm_prefix}",
        ]
        if self.model_config_name:
            args.append(f"--model-config-name={self.model_config_name}")
        return args

    def _wait_ready(self, models: Sequence[str]) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                what = f"tritonserver exited with code {self._process.returncode}"
                raise ServingError(self._failure_message(what))
            if self._http_ok("/v2/health/ready"):
                # Strict readiness already covers the startup models; this names a model that is missing.
                for name in models:
                    if not self._http_ok(f"/v2/models/{name}/ready"):
                        raise ServingError(self._failure_message(f"model {name!r} is not ready"))
                return
            time.sleep(0.1)
        what = f"tritonserver not ready after {self.startup_timeout_s:.0f} s"
        raise ServingError(self._failure_message(what))

    def _failure_message(self, what: str) -> str:
        detail = "; ".join(log_errors(self.log_path)) or "no error in the log"
        return f"{what}: {detail} (log: {self.log_path})"

    def stop(self) -> None:
        """Stop the server: SIGTERM, then SIGKILL after ``stop_timeout_s``; also reap its stub processes.

        Safe to call more than once, and on a server that never started.
        """
        atexit.unregister(self.stop)
        process, self._process = self._process, None
        if process is None:
            return
        stubs = sorted(self._stubs.union(child_pids(process.pid)))
        self._stubs.clear()
        if process.poll() is None:
            logger.info("stopping tritonserver (pid %d)", process.pid)
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                logger.warning("tritonserver (pid %d) ignored SIGTERM; killing it", process.pid)
                process.kill()
                process.wait(timeout=10)
        reap_stubs(stubs, timeout_s=5.0, shm_prefix=self._shm_prefix)
        self.loaded_models = []
        if self._run_dir is not None:
            shutil.rmtree(self._run_dir / "backends", ignore_errors=True)

    def __enter__(self) -> TritonServer:
        return self.start() if self._process is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def load_model(self, name: str) -> None:
        """Load (or reload) model ``name``; raises :class:`ServingError` with Triton's message on failure."""
        self._repository_call(name, "load")
        if self._process is not None:
            self._stubs.update(child_pids(self._process.pid))
        if name not in self.loaded_models:
            self.loaded_models.append(name)

    def unload_model(self, name: str) -> None:
        """Unload model ``name`` and wait until Triton has finished unloading it.

        Unloading runs in the background, and the server reports itself not ready meanwhile; waiting
        here keeps a caller's next request (or a health check) from meeting that window.

        Raises:
            ServingError: if Triton refuses, or is still unloading after the startup timeout.
        """
        self._repository_call(name, "unload")
        if name in self.loaded_models:
            self.loaded_models.remove(name)
        deadline = time.monotonic() + self.startup_timeout_s
        while self._model_state(name) in ("READY", "UNLOADING"):
            if time.monotonic() > deadline:
                raise ServingError(
                    self._failure_message(f"still unloading {name!r} after {self.startup_timeout_s:g} s")
                )
            time.sleep(0.05)

    def _model_state(self, name: str) -> str:
        """Triton's repository-index state of ``name`` (``READY``, ``UNLOADING``, ...; "" if unlisted)."""
        request = urllib.request.Request(f"{self.http_url}/v2/repository/index", data=b"{}", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.startup_timeout_s) as response:
                index = json.loads(response.read())
        except (OSError, ValueError) as exc:
            raise ServingError(f"could not read the model index: {exc} (log: {self.log_path})") from exc
        states = [str(entry.get("state", "")) for entry in index if entry.get("name") == name]
        return "UNLOADING" if "UNLOADING" in states else (states[0] if states else "")

    def _repository_call(self, name: str, action: str) -> None:
        self._require_started()
        request = urllib.request.Request(
            f"{self.http_url}/v2/repository/models/{name}/{action}", data=b"{}", method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.startup_timeout_s):
                return
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace")
            message = str(json.loads(body).get("error", body)) if body.startswith("{") else body
        except OSError as exc:
            message = str(exc)
        raise ServingError(f"could not {action} model {name!r}: {message} (log: {self.log_path})")

    def _http_ok(self, path: str) -> bool:
        try:
            url = f"http://{self._client_host}:{self._http_port}{path}"
            with urllib.request.urlopen(url, timeout=2.0) as response:
                return int(response.status) == 200
        except OSError:
            return False
