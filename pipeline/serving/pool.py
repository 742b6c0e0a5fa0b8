"""Several Triton servers behind one client: least-outstanding balancing, health checks and failover.

A :class:`TritonPool` holds one :class:`~pipeline.serving.client.TritonClient` per server address. Each
request goes to the healthy server with the fewest requests outstanding from this pool; when a server fails
the request (down, restarting, deadline passed), it is marked unhealthy and the request goes to the next
healthy one. A health thread checks every server's readiness each ``health_interval_s`` and re-resolves the
configured names, so a Kubernetes headless Service that gains Triton replicas (HPA) adds servers while the
pipeline runs, and a server that comes back receives traffic again.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from pipeline.errors import InferenceError, ServerUnavailableError
from pipeline.serving.client import TritonClient
from pipeline.status import ServerStatus

logger = logging.getLogger(__name__)

ClientFactory = Callable[[str], TritonClient]


def resolve_urls(urls: Sequence[str]) -> list[str]:
    """Every ``host:port`` behind ``urls``: an IP stays as it is, a name becomes each address it resolves to.

    A name that does not resolve right now is left out with a warning (the next health round retries it).
    """
    resolved: list[str] = []
    for url in urls:
        host, _, port = url.rpartition(":")
        bare = host.strip("[]")
        if _is_ip(bare) or bare == "localhost":
            addresses = [bare]
        else:
            try:
                infos = socket.getaddrinfo(bare, int(port), type=socket.SOCK_STREAM)
            except OSError as exc:
                logger.warning("cannot resolve Triton host %s: %s", bare, exc)
                continue
            addresses = sorted({str(info[4][0]) for info in infos})
        for address in addresses:
            entry = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
            if entry not in resolved:
                resolved.append(entry)
    return resolved


def _is_ip(host: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return True
        except OSError:
            continue
    return False


class _Server:
    def __init__(self, url: str, client: TritonClient) -> None:
        self.url = url
        self.client = client
        self.healthy = True
        self.outstanding = 0
        self.requests = 0
        self.failures = 0


class TritonPool:
    """Sends each request to the least busy healthy server; fails over (see the module docstring).

    Example:
        >>> with TritonPool.connect(["127.0.0.1:8001", "127.0.0.1:9001"]) as pool:  # doctest: +SKIP
        ...     detections = pool.infer_async("monolith", frames).result()
    """

    def __init__(
        self,
        urls: Sequence[str],
        client_factory: ClientFactory,
        *,
        max_in_flight: int = 8,
        health_interval_s: float = 1.0,
    ) -> None:
        """Describe the pool; :meth:`start` resolves the names and starts the health thread.

        Args:
            urls: ``host:port`` of every server, or names to resolve to them.
            client_factory: Builds the client of one resolved address.
            max_in_flight: Requests in flight at once, over all servers (threads behind ``infer_async``).
            health_interval_s: Seconds between health checks (and re-resolutions).
        """
        if not urls:
            raise ValueError("a Triton pool needs at least one server URL")
        self.urls = list(urls)
        self._factory = client_factory
        self._servers: dict[str, _Server] = {}
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_in_flight, thread_name_prefix="triton-pool")
        self._thread_cpu_s: dict[int, float] = {}
        self._health_interval_s = health_interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failovers = 0
        """Requests that a failing server handed to another one."""

    @classmethod
    def connect(
        cls,
        urls: Sequence[str],
        *,
        timeout_s: float = 10.0,
        use_shared_memory: bool | None = None,
        max_in_flight: int = 8,
        health_interval_s: float = 1.0,
    ) -> TritonPool:
        """A started pool of gRPC clients (shared memory where a server shares the host, when None)."""

        def factory(url: str) -> TritonClient:
            # No retries inside one client: a server that fails hands the request to another at once.
            return TritonClient(url, timeout_s=timeout_s, retries=0, use_shared_memory=use_shared_memory)

        pool = cls(urls, factory, max_in_flight=max_in_flight, health_interval_s=health_interval_s)
        return pool.start()

    def start(self) -> TritonPool:
        """Resolve the servers and start checking them; returns ``self``."""
        self.refresh()
        self._thread = threading.Thread(target=self._health_loop, name="triton-health", daemon=True)
        self._thread.start()
        return self

    # -- requests ------------------------------------------------------------------------------------------

    def infer(self, model: str, images: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
        """Run ``model`` on ``images`` on the least busy healthy server, failing over to the others.

        Raises:
            InferenceError: Triton's message for a bad request, or when no server could answer.
        """
        tried: set[str] = set()
        last: ServerUnavailableError | None = None
        while True:
            server = self._pick(tried)
            if server is None:
                known = ", ".join(self.urls)
                reason = f": {last}" if last else ""
                raise ServerUnavailableError(f"no healthy Triton server among {known}{reason}")
            tried.add(server.url)
            try:
                return server.client.infer(model, images)
            except ServerUnavailableError as exc:
                last = exc
                self._mark_down(server, exc)
                with self._lock:
                    self.failovers += 1
            finally:
                with self._lock:
                    server.outstanding -= 1

    def infer_async(self, model: str, images: npt.NDArray[Any]) -> Future[npt.NDArray[np.float32]]:
        """Like :meth:`infer`, on one of the pool's threads. ``images`` must not change until it is done."""
        return self._executor.submit(self._infer_counted, model, images)

    def _infer_counted(self, model: str, images: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
        started = time.thread_time()
        try:
            return self.infer(model, images)
        finally:
            # One entry per pool thread, written by that thread only: no lock, no lost update.
            thread = threading.get_ident()
            self._thread_cpu_s[thread] = self._thread_cpu_s.get(thread, 0.0) + time.thread_time() - started

    @property
    def cpu_seconds(self) -> float:
        """CPU the pool's threads spent sending requests and reading answers (client side, all servers)."""
        return sum(self._thread_cpu_s.values())

    def _pick(self, tried: set[str]) -> _Server | None:
        with self._lock:
            candidates = [s for s in self._servers.values() if s.healthy and s.url not in tried]
            if not candidates:  # every server looks down: try the ones not tried yet anyway
                candidates = [s for s in self._servers.values() if s.url not in tried]
            if not candidates:
                return None
            server = min(candidates, key=lambda s: (s.outstanding, s.requests))
            server.outstanding += 1
            server.requests += 1
            return server

    def _mark_down(self, server: _Server, exc: InferenceError) -> None:
        with self._lock:
            server.failures += 1
            was_healthy, server.healthy = server.healthy, False
        if was_healthy:
            logger.warning("Triton at %s failed a request, sending traffic elsewhere: %s", server.url, exc)

    # -- health --------------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-resolve the names, add new servers, drop vanished ones, and check each server's readiness."""
        resolved = resolve_urls(self.urls)
        with self._lock:
            current = dict(self._servers)
        for url in resolved:
            if url not in current:
                current[url] = _Server(url, self._factory(url))
                logger.info("Triton server %s joins the pool", url)
        vanished = [url for url in current if url not in resolved and resolved]
        for url in vanished:
            logger.info("Triton server %s left the pool (no longer resolved)", url)
            current.pop(url).client.close()
        for server in current.values():
            ready = server.client.is_ready()
            if ready != server.healthy:
                logger.info("Triton at %s is %s", server.url, "healthy again" if ready else "not ready")
            server.healthy = ready
        with self._lock:
            self._servers = current

    def _health_loop(self) -> None:
        while not self._stop.wait(self._health_interval_s):
            try:
                self.refresh()
            except Exception:  # a failed round must not end health checking; the next round retries
                logger.exception("Triton health check failed")

    def health(self) -> list[ServerStatus]:
        """Every server's health and request counts."""
        with self._lock:
            return [
                ServerStatus(s.url, s.healthy, s.outstanding, s.requests, s.failures)
                for s in self._servers.values()
            ]

    def clients(self) -> list[TritonClient]:
        """The client of every known server (for statistics)."""
        with self._lock:
            return [s.client for s in self._servers.values()]

    def close(self) -> None:
        """Stop health checks, wait for requests in flight, close every client; safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._executor.shutdown(wait=True)
        with self._lock:
            servers, self._servers = list(self._servers.values()), {}
        for server in servers:
            server.client.close()

    def __enter__(self) -> TritonPool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
