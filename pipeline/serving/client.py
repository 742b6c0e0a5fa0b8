"""gRPC client for camfleet's Triton models: uint8 frames ``[B, H, W, 3]`` in, detections ``[B, K, 6]`` out.

Where the server shares the host, tensors travel through system shared memory (about ten times cheaper
per MB than the gRPC payload, see DESIGN.md): each model keeps a small pool of regions, registered once and
reused while the batch fits, so several threads can keep requests in flight. Only UNAVAILABLE errors (the
server is down or restarting) are retried, with exponential backoff; a bad request fails at once with
Triton's own message.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from types import TracebackType
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import tritonclient.grpc as grpcclient
import tritonclient.utils.shared_memory as shm
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from pipeline.errors import InferenceError, ServerUnavailableError
from pipeline.serving.shm_pool import ShmPool, aligned

logger = logging.getLogger(__name__)

IMAGES_INPUT = "IMAGES"
DETECTIONS_OUTPUT = "DETECTIONS"
_RETRYABLE = frozenset({"StatusCode.UNAVAILABLE"})
# Errors that say the server, not the request, failed: a balancer may send the request elsewhere.
_SERVER_DOWN = frozenset({"StatusCode.UNAVAILABLE", "StatusCode.DEADLINE_EXCEEDED", "StatusCode.CANCELLED"})
_LOST_REGION = "Unable to find shared memory region"
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# gRPC's reconnect backoff grows to 120 s by default; keep it short so retries find a restarted server.
_CHANNEL_ARGS = [
    ("grpc.max_send_message_length", 2**31 - 1),
    ("grpc.max_receive_message_length", 2**31 - 1),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]
T = TypeVar("T")


@dataclass(frozen=True)
class ModelStatistics:
    """Triton's cumulative inference statistics for one model (all versions), times in nanoseconds."""

    model: str
    request_count: int
    failure_count: int
    inference_count: int
    execution_count: int
    queue_ns: int
    compute_input_ns: int
    compute_infer_ns: int
    compute_output_ns: int
    batch_executions: Mapping[int, int] = field(default_factory=dict)
    batch_compute_ns: Mapping[int, int] = field(default_factory=dict)
    """Compute time (input + infer + output) of all executions of each batch size; for an ensemble,
    Triton adds up its steps' compute."""

    @property
    def mean_batch_size(self) -> float:
        """Frames per model execution (what dynamic batching achieved)."""
        return self.inference_count / self.execution_count if self.execution_count else 0.0

    @property
    def mean_queue_ms(self) -> float:
        """Mean time a request waited in Triton's queue, in milliseconds."""
        return self.queue_ns / self.request_count / 1e6 if self.request_count else 0.0

    @property
    def mean_compute_ms(self) -> float:
        """Mean compute time (input + infer + output) per request, in milliseconds."""
        total = self.compute_input_ns + self.compute_infer_ns + self.compute_output_ns
        return total / self.request_count / 1e6 if self.request_count else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form, with the derived means, for JSON reports."""
        data = asdict(self)
        data["batch_executions"] = dict(self.batch_executions)
        data["batch_compute_ns"] = dict(self.batch_compute_ns)
        data.update(
            mean_batch_size=self.mean_batch_size,
            mean_queue_ms=self.mean_queue_ms,
            mean_compute_ms=self.mean_compute_ms,
        )
        return data


def is_local_host(host: str) -> bool:
    """Whether ``host`` is this machine (loopback or one of its addresses): shared memory can work there."""
    host = host.strip("[]")
    if host in _LOCAL_HOSTS or host.startswith("127."):
        return True
    try:
        local = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None)}
        wanted = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(local & wanted)


class TritonClient:
    """A Triton gRPC client for models with an ``IMAGES`` input and a ``DETECTIONS`` output.

    Example:
        >>> with TritonClient("127.0.0.1:8001") as client:
        ...     detections = client.infer("monolith", frames)  # [B, K, 6] float32
    """

    def __init__(
        self,
        url: str = "127.0.0.1:8001",
        *,
        timeout_s: float = 30.0,
        retries: int = 3,
        backoff_s: float = 0.1,
        use_shared_memory: bool | None = None,
        max_in_flight: int = 4,
    ) -> None:
        """Describe the connection (the channel connects lazily on the first call).

        Args:
            url: ``host:port`` of Triton's gRPC endpoint.
            timeout_s: Deadline of each call, in seconds.
            retries: Extra attempts after an UNAVAILABLE error (0 = no retry).
            backoff_s: Sleep before the first retry; doubles for each further one.
            use_shared_memory: Pass tensors through system shared memory; ``None`` = when the host is local.
            max_in_flight: Worker threads behind :meth:`infer_async`.
        """
        if timeout_s <= 0 or retries < 0 or backoff_s < 0 or max_in_flight < 1:
            raise ValueError("timeout_s and max_in_flight must be positive, retries and backoff_s >= 0")
        self.url = url
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        host = url.rsplit(":", 1)[0]
        self.use_shared_memory = is_local_host(host) if use_shared_memory is None else use_shared_memory
        self.max_in_flight = max_in_flight
        self._grpc = grpcclient.InferenceServerClient(url, channel_args=_CHANNEL_ARGS)
        self._rows: dict[str, int] = {}
        self._instances: dict[str, int | None] = {}
        self._pool = ShmPool(self._grpc, timeout_s)
        self._shm_worked = False
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False

    def infer(self, model: str, images: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
        """Run ``model`` on a batch of frames.

        Args:
            model: Triton model (plain or ensemble) name.
            images: ``[B, H, W, 3]`` uint8 frames (sent as they are: Triton judges shape and dtype).

        Returns:
            ``[B, K, 6]`` float32 detections (x1, y1, x2, y2, score, class) per frame.

        Raises:
            InferenceError: on a bad request or unknown model (Triton's message), or when the server stays
                unavailable through every retry.
        """
        if self._closed:
            raise InferenceError("the Triton client is closed")
        images = np.ascontiguousarray(images)
        if images.ndim < 1 or images.shape[0] < 1:
            raise InferenceError(f"images must be a batch [B, H, W, 3], got shape {images.shape}")
        rows = self._detection_rows(model)
        return self._with_retries(f"inference on {model!r}", lambda: self._infer_once(model, images, rows))

    def infer_async(self, model: str, images: npt.NDArray[Any]) -> Future[npt.NDArray[np.float32]]:
        """Like :meth:`infer`, on a worker thread; up to ``max_in_flight`` requests run at once.

        ``images`` must not change until the future is done.
        """
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.max_in_flight, thread_name_prefix="triton-infer")
            return self._executor.submit(self.infer, model, images)

    def _infer_once(self, model: str, images: npt.NDArray[Any], rows: int) -> npt.NDArray[np.float32]:
        shape = (images.shape[0], rows, 6)
        datatype = np_to_triton_dtype(images.dtype)
        if datatype is None:
            raise InferenceError(f"images of dtype {images.dtype} cannot be sent to Triton; use uint8")
        request = grpcclient.InferInput(IMAGES_INPUT, list(images.shape), datatype)
        output = grpcclient.InferRequestedOutput(DETECTIONS_OUTPUT)
        if not self.use_shared_memory:
            request.set_data_from_numpy(images)
            result = self._grpc.infer(model, [request], outputs=[output], client_timeout=self.timeout_s)
            return np.asarray(result.as_numpy(DETECTIONS_OUTPUT), dtype=np.float32)
        out_offset, out_bytes = aligned(images.nbytes), int(np.prod(shape)) * 4
        try:
            region = self._pool.acquire(model, out_offset + out_bytes)
        except InferenceServerException as exc:
            if exc.status() in _SERVER_DOWN or self._shm_worked:
                raise
            # The server is on another host after all (it cannot open our region): send payloads instead.
            logger.warning(
                "Triton at %s cannot use this host's shared memory (%s); sending frames over gRPC",
                self.url,
                exc.message(),
            )
            self.use_shared_memory = False
            return self._infer_once(model, images, rows)
        self._shm_worked = True
        try:
            region.write(images)
            request.set_shared_memory(region.name, images.nbytes)
            output.set_shared_memory(region.name, out_bytes, offset=out_offset)
            self._grpc.infer(model, [request], outputs=[output], client_timeout=self.timeout_s)
            return region.read(shape, out_offset)
        finally:
            self._pool.release(model, region)

    def _detection_rows(self, model: str) -> int:
        """K of the model's ``DETECTIONS [B, K, 6]`` output, read from its metadata once."""
        if model not in self._rows:
            meta = self._with_retries(
                f"metadata of {model!r}",
                lambda: self._grpc.get_model_metadata(model, client_timeout=self.timeout_s),
            )
            outputs = {out.name: out for out in meta.outputs}
            out = outputs.get(DETECTIONS_OUTPUT)
            if out is None or out.datatype != "FP32" or len(out.shape) < 2 or out.shape[-1] != 6:
                raise InferenceError(f"model {model!r} has no FP32 output {DETECTIONS_OUTPUT} [B, K, 6]")
            if out.shape[-2] < 1:
                raise InferenceError(f"model {model!r} has a variable detection count; K must be fixed")
            self._rows[model] = int(out.shape[-2])
        return self._rows[model]

    def _with_retries(self, what: str, call: Callable[[], T]) -> T:
        attempt, re_registered = 0, False
        while True:
            try:
                return call()
            except InferenceServerException as exc:
                message = exc.message() or ""
                if _LOST_REGION in message and not re_registered:
                    # The server restarted between two calls and lost our regions: register them again.
                    self._pool.forget_registrations()
                    re_registered = True
                    continue
                if exc.status() not in _RETRYABLE:
                    error = ServerUnavailableError if exc.status() in _SERVER_DOWN else InferenceError
                    raise error(f"{what} failed at {self.url}: {message}") from None
                if attempt == self.retries:
                    raise ServerUnavailableError(
                        f"{what} failed: Triton at {self.url} unavailable after {attempt + 1} attempt(s): "
                        f"{message}"
                    ) from None
                delay = self.backoff_s * 2**attempt
                logger.warning("%s: Triton unavailable (%s); retrying in %.2f s", what, message, delay)
                self._pool.forget_registrations()
            except shm.SharedMemoryException as exc:
                raise InferenceError(f"{what} failed: shared memory: {exc}") from exc
            time.sleep(delay)
            attempt += 1

    def is_ready(self) -> bool:
        """True if the server answers and is ready (no retries)."""
        try:
            return bool(self._grpc.is_server_ready(client_timeout=min(self.timeout_s, 5.0)))
        except InferenceServerException:
            return False

    def model_ready(self, name: str) -> bool:
        """True if model ``name`` is loaded and ready (no retries)."""
        try:
            return bool(self._grpc.is_model_ready(name, client_timeout=min(self.timeout_s, 5.0)))
        except InferenceServerException:
            return False

    def model_index(self) -> list[dict[str, str]]:
        """Every model in the server's repository: ``name``, ``version``, ``state`` and ``reason``."""
        index = self._with_retries(
            "repository index", lambda: self._grpc.get_model_repository_index(client_timeout=self.timeout_s)
        )
        return [
            {"name": m.name, "version": m.version, "state": m.state, "reason": m.reason} for m in index.models
        ]

    def instances(self, model: str) -> int | None:
        """Executions of ``model`` the server runs at once: its instance groups' counts added up.

        None for an ensemble (it has no instances of its own; its steps do). The config is read once
        per client: a server that reloads a model with another count is a new server to the pool.
        """
        if model not in self._instances:
            reply = self._with_retries(
                f"config of {model!r}",
                lambda: self._grpc.get_model_config(model, client_timeout=self.timeout_s),
            )
            groups = reply.config.instance_group
            self._instances[model] = sum(int(g.count) for g in groups) if groups else None
        return self._instances[model]

    def statistics(self, model: str) -> ModelStatistics:
        """Cumulative inference statistics of ``model``: requests, queue and compute times, batch sizes."""
        reply = self._with_retries(
            f"statistics of {model!r}",
            lambda: self._grpc.get_inference_statistics(model, client_timeout=self.timeout_s),
        )
        totals = dict.fromkeys([f.name for f in fields(ModelStatistics)][1:-2], 0)
        batches: dict[int, int] = {}
        compute: dict[int, int] = {}
        for stats in reply.model_stats:
            s = stats.inference_stats
            for key, value in zip(
                totals,
                (s.success.count, s.fail.count, stats.inference_count, stats.execution_count, s.queue.ns)
                + (s.compute_input.ns, s.compute_infer.ns, s.compute_output.ns),
                strict=True,
            ):
                totals[key] += int(value)
            for batch in stats.batch_stats:
                size = int(batch.batch_size)
                batches[size] = batches.get(size, 0) + int(batch.compute_infer.count)
                ns = batch.compute_input.ns + batch.compute_infer.ns + batch.compute_output.ns
                compute[size] = compute.get(size, 0) + int(ns)
        return ModelStatistics(
            model, **totals, batch_executions=dict(sorted(batches.items())), batch_compute_ns=compute
        )

    def close(self) -> None:
        """Unregister and destroy the shared-memory regions and close the channel; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self._pool.close()
        self._grpc.close()

    def __enter__(self) -> TritonClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
