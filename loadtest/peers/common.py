"""What both peer runners share: the command line, the TorchScript model, the measured window and the result.

A run has three phases, driven by :func:`measure`: a start-up phase that waits (bounded) until every camera
has delivered a frame, a warm-up of ``--warmup`` seconds whose frames are discarded, then the measured window
of ``--seconds``. As in camfleet's :class:`pipeline.status.MeasurementWindow`, a frame counts by when its
camera sent it (estimated from its timestamp, :mod:`pipeline.capture_clock`): sent inside the window and
inferred before the system stopped (so a frame whose result comes just after the window still counts, and
a warm-up backlog inferred inside the window does not; ``extra["discarded"]`` says how many). Its latency
is from the grab (decode) to the result; ``extra["lag_ms"]`` is from the send. CPU is the runner process's
own (all its threads) plus any child processes, over the window.

This module imports only the standard library, numpy, torch, psutil and :mod:`pipeline.capture_clock`
(standard library only, importable from the repository root), so it runs both in the project's environment
and in the separate ``.venv-peers`` environment of the Roboflow runner.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt
import psutil
import torch

from pipeline.capture_clock import TimedFrame, WindowCount, WindowCounter

DEFAULT_INPUT_SIZE = 160
"""camfleet's default model input size (``load_model_config().input_size``); pass ``--input-size`` if not."""

LATENCY_PERCENTILES = (50, 95, 99)


@dataclass(frozen=True)
class PeerArgs:
    """The command line of a peer runner.

    Attributes:
        model: the TorchScript file (``triton_models/<family>/1/model.pt``).
        input_size: the model's square input side S; frames are resized to S x S RGB.
        urls: the camera URLs (``tcp://``, ``rtsp://`` or anything FFmpeg opens).
        seconds: length of the measured window.
        warmup: seconds discarded after every camera delivered its first frame.
        torch_threads: ``torch.set_num_threads`` value.
        json_path: where to write the result (it is always printed on stdout too).
        start_timeout: longest wait for every camera's first frame before warm-up starts anyway.
        stop_timeout: longest wait for the system to stop (threads joined) after the window.
        options: the runner's own options (see ``add_arguments`` of :func:`parse_args`), by ``dest``.
    """

    model: Path
    input_size: int
    urls: tuple[str, ...]
    seconds: float
    warmup: float
    torch_threads: int
    json_path: Path | None
    start_timeout: float
    stop_timeout: float
    options: dict[str, Any] = field(default_factory=dict)


START_TIMEOUT_BASE_S = 30.0
START_TIMEOUT_PER_CAMERA_S = 5.0
"""Default start-up wait: some systems open their cameras one after another (a few seconds each)."""


def _positive(kind: Callable[[str], float]) -> Callable[[str], Any]:
    def parse(text: str) -> float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def parse_args(
    description: str,
    argv: Sequence[str] | None = None,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> PeerArgs:
    """Parse a peer runner's command line (``argv`` defaults to ``sys.argv[1:]``); exits 2 on bad input.

    ``add_arguments`` adds the runner's own options; their values land in :attr:`PeerArgs.options`.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", type=Path, required=True, help="TorchScript file (model.pt)")
    parser.add_argument(
        "--input-size",
        type=_positive(int),
        default=DEFAULT_INPUT_SIZE,
        help=f"model input side S; frames are resized to S x S (default {DEFAULT_INPUT_SIZE})",
    )
    parser.add_argument("--urls", nargs="+", required=True, metavar="URL", help="camera URLs")
    parser.add_argument("--seconds", type=_positive(float), default=20.0, help="measured window (s)")
    parser.add_argument(
        "--warmup", type=_non_negative, default=5.0, help="seconds discarded before the window"
    )
    parser.add_argument(
        "--torch-threads",
        type=_positive(int),
        default=os.cpu_count() or 1,
        help="torch.set_num_threads (default: os.cpu_count())",
    )
    parser.add_argument("--json", type=Path, default=None, dest="json_path", help="write the result here")
    parser.add_argument(
        "--start-timeout",
        type=_positive(float),
        default=None,
        help="longest wait for every camera's first frame (s; default "
        f"{START_TIMEOUT_BASE_S:g} + {START_TIMEOUT_PER_CAMERA_S:g} per camera)",
    )
    parser.add_argument(
        "--stop-timeout", type=_positive(float), default=15.0, help="longest wait for a clean stop (s)"
    )
    common = {action.dest for action in parser._actions}
    if add_arguments is not None:
        add_arguments(parser)
    ns = parser.parse_args(argv)
    if len(set(ns.urls)) != len(ns.urls):
        parser.error("--urls has duplicates; results are keyed by URL")
    if not ns.model.is_file():
        parser.error(f"--model {ns.model} is not a file")
    return PeerArgs(
        model=ns.model,
        input_size=int(ns.input_size),
        urls=tuple(ns.urls),
        seconds=float(ns.seconds),
        warmup=float(ns.warmup),
        torch_threads=int(ns.torch_threads),
        json_path=ns.json_path,
        start_timeout=float(
            ns.start_timeout
            if ns.start_timeout is not None
            else START_TIMEOUT_BASE_S + START_TIMEOUT_PER_CAMERA_S * len(ns.urls)
        ),
        stop_timeout=float(ns.stop_timeout),
        options={key: value for key, value in vars(ns).items() if key not in common},
    )


def load_model(path: Path, input_size: int, threads: int, warm_batches: Sequence[int] = (1,)) -> Any:
    """Load a TorchScript detector on the CPU with ``threads`` intra-op threads, and warm it up.

    The scripted module takes uint8 ``[B, S, S, 3]`` RGB and returns float32 ``[B, K, 6]``. Each batch size
    in ``warm_batches`` is run a few times, so the profiling executor's first (slow) calls happen before the
    cameras start, not in the measured window.

    Returns:
        The loaded ``torch.jit.ScriptModule`` (typed ``Any``: its ``forward`` is opaque to mypy).
    """
    torch.set_num_threads(threads)
    model = torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call]
    model.eval()
    with torch.inference_mode():
        for batch in warm_batches:
            images = torch.zeros((batch, input_size, input_size, 3), dtype=torch.uint8)
            for _ in range(3):
                model(images)
    return model


def infer(model: Any, images: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """Run the model on a uint8 ``[B, S, S, 3]`` batch and return its ``[B, K, 6]`` detections."""
    with torch.inference_mode():
        out = model(torch.from_numpy(np.ascontiguousarray(images)))
    return np.asarray(out.numpy())


def process_cpu_seconds() -> float:
    """User + system CPU seconds of this process (all threads) and of its live child processes."""
    me = psutil.Process()
    times = me.cpu_times()
    total = times.user + times.system
    for child in me.children(recursive=True):
        try:
            child_times = child.cpu_times()
        except psutil.Error:
            continue
        total += child_times.user + child_times.system
    return float(total)


def percentiles_ms(latencies_s: Sequence[float]) -> dict[str, float | None]:
    """p50/p95/p99 of latencies given in seconds, in milliseconds (``None`` each when there are none)."""
    keys = [f"p{p}" for p in LATENCY_PERCENTILES]
    if not latencies_s:
        return dict.fromkeys(keys)
    values = np.percentile(np.asarray(latencies_s, dtype=np.float64) * 1000.0, LATENCY_PERCENTILES)
    return {key: round(float(v), 3) for key, v in zip(keys, values, strict=True)}


@dataclass
class PeerResult:
    """The JSON result of one peer run (``json.dumps(asdict(result))``), the same for every system.

    Attributes:
        system: ``"naive"`` or ``"roboflow"``.
        cameras: how many camera URLs were given.
        seconds: the window actually measured.
        frames: frames grabbed and inferred inside the window.
        frames_grabbed: frames grabbed (decoded) inside the window, inferred or not.
        aggregate_fps: ``frames / seconds``.
        per_camera_fps: URL -> inferred frames per second.
        latency_ms: p50/p95/p99 of result-ready minus grab time, over the window's frames.
        cpu_seconds: CPU of the runner process (all threads, plus children) over the window.
        cpu_ms_per_frame: ``cpu_seconds * 1000 / frames`` (``None`` with no frame).
        dropped: frames the system itself reported dropping in the window; ``None`` when it cannot tell.
        warmup: seconds discarded before the window.
        input_size: the model input side.
        torch_threads: ``torch.get_num_threads()`` during the run.
        versions: library versions (python, torch, numpy, and the system's own).
        errors: camera or system errors seen during the run (empty on a clean run).
        notes: how this system's figures are obtained, where it differs from the other.
        extra: ``lag_ms`` (p50/p95/p99 from the frame's capture time to its result: the latency plus the
            time the frame waited before the runner read it; equal to the latency when captures are grab
            times) and system-specific figures (documented by each runner).
    """

    system: str
    cameras: int
    seconds: float
    frames: int
    frames_grabbed: int
    aggregate_fps: float
    per_camera_fps: dict[str, float]
    latency_ms: dict[str, float | None]
    cpu_seconds: float
    cpu_ms_per_frame: float | None
    dropped: int | None
    warmup: float
    input_size: int
    torch_threads: int
    versions: dict[str, str]
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def base_versions() -> dict[str, str]:
    """Python, torch and numpy versions."""
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__}


class Recorder:
    """Thread-safe record of frames against the measured window (all times ``time.monotonic()``).

    Camera threads call :meth:`grabbed` when a frame is decoded and :meth:`done` when its result is ready;
    the driver opens and closes the window with :meth:`open` and :meth:`close`, and builds the result with
    :meth:`result` once the system stopped. A frame counts when its capture time lies in the window.
    """

    def __init__(self, urls: Sequence[str]) -> None:
        self.urls = tuple(urls)
        self._lock = threading.Lock()
        self._started: set[str] = set()
        self._all_started = threading.Event()
        self._start: float | None = None
        self._end: float | None = None
        self._cpu_start = 0.0
        self._cpu_end = 0.0
        self._done: dict[str, list[TimedFrame]] = {url: [] for url in self.urls}
        self._grabbed = dict.fromkeys(self.urls, 0)
        self._final = False
        self._dropped = 0
        self._errors: list[str] = []

    def in_window(self, t: float) -> bool:
        """Whether time ``t`` lies in the open (or closed) window."""
        start, end = self._start, self._end
        return start is not None and t >= start and (end is None or t <= end)

    def grabbed(self, url: str, t: float) -> None:
        """Note that camera ``url`` grabbed (decoded) a frame captured at ``t``."""
        with self._lock:
            if url not in self._started:
                self._started.add(url)
                if len(self._started) == len(self.urls):
                    self._all_started.set()
            if self.in_window(t):
                self._grabbed[url] += 1

    def done(self, url: str, frame: TimedFrame) -> None:
        """Note that a frame of ``url`` is done; it counts if it was sent inside the window.

        Whether it was is decided when the result is built, with the stream clock's final estimate (see
        :mod:`pipeline.capture_clock`): a backlog read inside the window does not count.
        """
        with self._lock:
            if not self._final and self._start is not None:
                self._done[url].append(frame)

    def dropped(self, t: float, count: int = 1) -> None:
        """Note that the system reported dropping ``count`` frames at ``t``."""
        with self._lock:
            if self.in_window(t):
                self._dropped += count

    def error(self, message: str) -> None:
        """Keep an error message (the first 50 distinct ones are kept)."""
        with self._lock:
            if message not in self._errors and len(self._errors) < 50:
                self._errors.append(message)

    def wait_all_started(self, timeout: float) -> bool:
        """Wait until every camera grabbed a frame; return whether they all did within ``timeout``."""
        return self._all_started.wait(timeout)

    def open(self) -> None:
        """Open the window now."""
        cpu = process_cpu_seconds()
        with self._lock:
            self._cpu_start = cpu
            self._start = time.monotonic()

    def close(self) -> None:
        """Close the window now."""
        with self._lock:
            self._end = time.monotonic()
        self._cpu_end = process_cpu_seconds()

    def started_cameras(self) -> list[str]:
        """The URLs that grabbed at least one frame so far."""
        with self._lock:
            return [url for url in self.urls if url in self._started]

    def result(
        self,
        system: str,
        args: PeerArgs,
        *,
        versions: dict[str, str],
        dropped_known: bool,
        notes: Sequence[str] = (),
        extra: dict[str, Any] | None = None,
    ) -> PeerResult:
        """Build the result of a closed window (``dropped`` is ``None`` unless ``dropped_known``)."""
        with self._lock:
            if self._start is None or self._end is None:
                raise RuntimeError("result() before the window was opened and closed")
            self._final = True  # results that come in later (a system that did not stop) are ignored
            seconds = self._end - self._start
            counts = {url: self._count(frames, self._start, self._end) for url, frames in self._done.items()}
            inside = [frame for count in counts.values() for frame in count.frames]
            frames = len(inside)
            cpu = max(self._cpu_end - self._cpu_start, 0.0)
            return PeerResult(
                system=system,
                cameras=len(self.urls),
                seconds=round(seconds, 3),
                frames=frames,
                frames_grabbed=sum(self._grabbed.values()),
                aggregate_fps=round(frames / seconds, 3) if seconds > 0 else 0.0,
                per_camera_fps={
                    url: round(count.counted / seconds, 3) if seconds > 0 else 0.0
                    for url, count in counts.items()
                },
                latency_ms=percentiles_ms([frame.done_t - frame.read_t for frame in inside]),
                cpu_seconds=round(cpu, 3),
                cpu_ms_per_frame=round(cpu * 1000.0 / frames, 3) if frames else None,
                dropped=self._dropped if dropped_known else None,
                warmup=args.warmup,
                input_size=args.input_size,
                torch_threads=torch.get_num_threads(),
                versions=dict(versions),
                errors=list(self._errors),
                notes=list(notes),
                extra={
                    "lag_ms": percentiles_ms([frame.done_t - frame.sent_t for frame in inside]),
                    "discarded": sum(count.discarded for count in counts.values()),
                    **(extra or {}),
                },
            )

    @staticmethod
    def _count(frames: Sequence[TimedFrame], start: float, end: float) -> WindowCount:
        counter = WindowCounter(start, end)
        for frame in frames:
            counter.add(frame)
        return counter.count()


def measure(recorder: Recorder, args: PeerArgs, *, failed: Callable[[], bool] = lambda: False) -> None:
    """Drive the phases of a run whose cameras are already starting: first frames, warm-up, window.

    Waits (up to ``args.start_timeout``) until every camera grabbed a frame, then ``args.warmup`` seconds,
    then opens the window for ``args.seconds`` and closes it. A camera that never starts is recorded as an
    error and the run goes on without it. ``failed`` is polled; when it turns true (the system died) the
    waits are cut short, so the window closes early and the result says so through its ``seconds``.
    """

    def sleep(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not failed():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.1))

    deadline = time.monotonic() + args.start_timeout
    while not recorder.wait_all_started(0.1):
        if failed() or time.monotonic() >= deadline:
            started = set(recorder.started_cameras())
            for url in args.urls:
                if url not in started:
                    recorder.error(f"{url}: no frame within --start-timeout {args.start_timeout:g} s")
            break
    sleep(args.warmup)
    recorder.open()
    sleep(args.seconds)
    recorder.close()


def emit(result: PeerResult, json_path: Path | None, stream: TextIO | None = None) -> None:
    """Print the result as one JSON line on ``stream`` (stdout), and write it (indented) to ``json_path``."""
    payload = asdict(result)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(payload, indent=2) + "\n")
    out = stream if stream is not None else sys.stdout
    out.write(json.dumps(payload) + "\n")
    out.flush()


def stdout_to_stderr() -> TextIO:
    """Send everything written to stdout from now on (Python or native) to stderr; return the real stdout.

    For systems that log on stdout: the result must be the only thing there.
    """
    sys.stdout.flush()
    real = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    return real


def join_bounded(threads: Sequence[threading.Thread], timeout: float) -> list[str]:
    """Join ``threads`` within ``timeout`` seconds in all; return the names of those still alive."""
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0.0))
    return [thread.name for thread in threads if thread.is_alive()]
