r"""The Roboflow peer: ``inference`` 1.8.3's ``InferencePipeline`` with the camfleet TorchScript model.

``InferencePipeline.init_with_custom_logic(video_reference=[urls...], on_video_frame=...)`` multiplexes the
cameras: one OpenCV (FFmpeg) reader thread per camera fills a frame buffer, and one inference thread calls
the callback with a list of ``VideoFrame`` (at most one per camera, BGR ``numpy`` images). The callback
resizes each image to S x S with ``cv2.resize(..., interpolation=cv2.INTER_LINEAR)``, flips BGR to RGB,
stacks the batch and runs the model once per callback. The pipeline keeps its defaults for live streams
unless told otherwise: no ``max_fps``; ``ADAPTIVE_DROP_OLDEST`` buffer filling and ``EAGER`` consumption
(only the newest buffered frame of each camera is kept); and the legacy multiplexer, which reads the
cameras in order, waiting for each without a timeout, so a batch holds one frame per camera, paced by the
camera whose frames come last in its cycle, and the others' frames wait up to one frame interval.
``--processing-mode`` (``auto``, ``every_frame``, ``freshest``) and ``--batch-collection-timeout`` pass the
pipeline's own alternatives through.

Latency is from the moment OpenCV's ``grab()`` returned the frame (the pipeline's ``FRAME_CAPTURED`` status
update, sent from the reader thread right after it) to the model's output. ``VideoFrame.frame_timestamp``
is not used for it: the pipeline stamps it *before* the blocking ``grab()``, so it also counts the wait for
the frame to arrive (up to one frame interval); that figure is reported in ``extra`` for reference.
Window membership is by grab time too: the reader threads decode independently of inference, so they read
each stream as it arrives (as camfleet's readers do). ``dropped`` counts the pipeline's ``FRAME_DROPPED``
updates in the window; frames discarded by ``EAGER`` consumption are not reported by the pipeline and show
in ``extra["grabbed_unaccounted"]``.

It imports only the standard library, numpy, torch, psutil, cv2 and ``inference`` (never ``pipeline``), to
run in the separate environment ``.venv-peers`` (``inference-cpu==1.8.3`` with ``torch==2.13.0``). Run it
from the repository root::

    .venv-peers/bin/python -m loadtest.peers.roboflow --model triton_models/monolith/1/model.pt \\
        --input-size 160 --urls tcp://127.0.0.1:PORT1 tcp://127.0.0.1:PORT2 --seconds 20 --warmup 5
"""

from __future__ import annotations

import os

# Before anything imports `inference`: offline (it is anyway), no usage reporting or metrics, quiet logs.
_QUIET_ENV = {
    "OFFLINE_MODE": "True",  # usage sender and version check become no-ops; no model-hub downloads
    "METRICS_ENABLED": "False",
    "OTEL_METRICS_ENABLED": "False",
    "OTEL_TRACING_ENABLED": "False",
    "DISABLE_VERSION_CHECK": "True",
    "TELEMETRY_USE_PERSISTENT_QUEUE": "False",  # no SQLite usage queue on disk
    "LOG_LEVEL": "ERROR",
    "VERBOSE_LOG_LEVEL": "ERROR",
    "CORE_MODEL_GAZE_ENABLED": "False",
    "CORE_MODEL_YOLO_WORLD_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TRANSFORMERS_VERBOSITY": "error",
}
for _key, _value in _QUIET_ENV.items():
    os.environ.setdefault(_key, _value)

import argparse  # noqa: E402
import glob  # noqa: E402
import importlib  # noqa: E402
import importlib.metadata  # noqa: E402
import importlib.util  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from datetime import datetime  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402
import torch  # noqa: E402

from loadtest.peers.common import (  # noqa: E402
    PeerArgs,
    Recorder,
    base_versions,
    emit,
    infer,
    load_model,
    measure,
    parse_args,
    percentiles_ms,
    stdout_to_stderr,
)
from pipeline.capture_clock import TimedFrame  # noqa: E402

logger = logging.getLogger(__name__)

SYSTEM = "roboflow"
INFERENCE_DISTRIBUTIONS = ("inference-cpu", "inference-gpu", "inference")
_TERMINATE_TRIES = 20
_NOISY_LOGGERS = ("inference", "streamvision", "roboflow_workflows", "inference_models", "bitsandbytes")
"""Loggers set to ERROR before ``inference`` is imported (it logs warnings about optional extras)."""


def stub_missing_torchvision_ops() -> bool:
    """Let ``torchvision`` import when its C++ ops cannot load; return whether the stubs were needed.

    ``inference`` imports ``torchvision`` (through its workflows) at import time. The only
    ``torchvision==0.28.0`` wheel that matches the local CPU ``torch==2.13.0`` is a CUDA build whose ``_C``
    library does not load, and ``torchvision`` then fails at import, registering fake kernels for
    ``torchvision::nms`` and ``::qnms``. Defining those two schemas lets the import go on; neither op is
    ever run here (the model is camfleet's TorchScript file).
    """
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return False
    libraries = [p for folder in spec.submodule_search_locations for p in glob.glob(f"{folder}/_C*.so")]
    for library in libraries:
        try:
            torch.ops.load_library(library)  # type: ignore[no-untyped-call]
            return False
        except OSError:
            continue
    for op in ("nms", "qnms"):
        torch.library.define(
            f"torchvision::{op}", "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"
        )
    return True


PROCESSING_MODES = ("legacy", "auto", "every_frame", "freshest")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The Roboflow runner's own options: the pipeline's multi-camera collection settings."""
    parser.add_argument(
        "--processing-mode",
        choices=PROCESSING_MODES,
        default="legacy",
        help="InferencePipeline video_processing_mode (default legacy: the library's default)",
    )
    parser.add_argument(
        "--batch-collection-timeout",
        type=float,
        default=None,
        help="InferencePipeline batch_collection_timeout in s (default: none, wait for every camera)",
    )


def inference_version() -> str:
    """The installed ``inference`` distribution and version, e.g. ``inference-cpu 1.8.3``."""
    for name in INFERENCE_DISTRIBUTIONS:
        try:
            return f"{name} {importlib.metadata.version(name)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"


class RoboflowPeer:
    """The callback and status handler given to ``InferencePipeline``, recording into a :class:`Recorder`."""

    def __init__(self, args: PeerArgs, model: Any, recorder: Recorder, cv2: Any) -> None:
        self._args = args
        self._model = model
        self._recorder = recorder
        self._cv2 = cv2
        self._size = args.input_size
        self._lock = threading.Lock()
        self._grab_times: dict[tuple[Any, Any], float] = {}  # (source_id, frame_id) -> grab time
        self.finished = threading.Event()
        self.batch_sizes: Counter[int] = Counter()
        self.drop_causes: Counter[str] = Counter()
        self.stamp_latencies: list[float] = []
        self.waits: list[float] = []
        self.callback_times: list[float] = []
        self.missing_grab_times = 0

    def _url(self, source_id: int | None) -> str:
        if source_id is None or not 0 <= source_id < len(self._args.urls):
            return self._args.urls[0]
        return self._args.urls[source_id]

    def on_status(self, update: Any) -> None:
        """Status handler: grab times (``FRAME_CAPTURED``), drops, errors and the end of inference."""
        event = update.event_type
        payload = update.payload or {}
        if event == "FRAME_CAPTURED":
            now = time.monotonic()
            source_id = payload.get("source_id")
            with self._lock:
                self._grab_times[(source_id, payload.get("frame_id"))] = now
            self._recorder.grabbed(self._url(source_id), now)
        elif event == "FRAME_DROPPED":
            self._recorder.dropped(time.monotonic())
            if self._recorder.in_window(time.monotonic()):
                with self._lock:
                    self.drop_causes[str(payload.get("cause"))] += 1
        elif event == "INFERENCE_THREAD_FINISHED":
            self.finished.set()
        elif getattr(update.severity, "name", "") == "ERROR" or event.endswith(("_FAILED", "_LOST")):
            detail = payload.get("error_message") or payload
            self._recorder.error(f"{event}: {detail}")

    def on_video_frame(self, frames: list[Any]) -> list[npt.NDArray[np.float32]]:
        """The pipeline's callback: resize, BGR -> RGB, stack, one model call, record each frame's latency."""
        cv2, size = self._cv2, self._size
        entered = time.monotonic()
        images = [
            cv2.resize(frame.image, (size, size), interpolation=cv2.INTER_LINEAR)[..., ::-1]
            for frame in frames
        ]
        detections = infer(self._model, np.stack(images))
        done = time.monotonic()
        wall_now = datetime.now()
        with self._lock:
            grab_times = [self._grab_times.pop((f.source_id, f.frame_id), None) for f in frames]
            if self._recorder.in_window(entered):
                self.batch_sizes[len(frames)] += 1
                self.callback_times.append(done - entered)
        for frame, grabbed in zip(frames, grab_times, strict=True):
            stamp_latency = (wall_now - frame.frame_timestamp).total_seconds()
            if grabbed is None:  # no FRAME_CAPTURED seen for it: fall back to the pipeline's own stamp
                self.missing_grab_times += 1
                grabbed = done - stamp_latency
            if self._recorder.in_window(grabbed):
                self.stamp_latencies.append(stamp_latency)
                self.waits.append(entered - grabbed)
            self._recorder.done(self._url(frame.source_id), TimedFrame(grabbed, done))
        self._prune()
        return [detections[i] for i in range(len(frames))]

    def _prune(self) -> None:
        """Forget grab times of frames that will never reach the callback (dropped, purged)."""
        with self._lock:
            if len(self._grab_times) > 1000:
                cutoff = time.monotonic() - 30.0
                self._grab_times = {k: t for k, t in self._grab_times.items() if t >= cutoff}


def _stop_pipeline(pipeline: Any, recorder: Recorder) -> None:
    """``terminate()`` (retried while a source is still initialising), then ``join()``."""
    for attempt in range(_TERMINATE_TRIES):
        try:
            pipeline.terminate()
            break
        except Exception as exc:  # StreamOperationNotAllowedError while a source initialises
            if attempt == _TERMINATE_TRIES - 1:
                recorder.error(f"terminate failed: {type(exc).__name__}: {exc}")
                return
            time.sleep(0.25)
    pipeline.join()


def run(args: PeerArgs) -> tuple[int, bool]:
    """Run the Roboflow peer and emit its result; return (exit code, whether the pipeline stopped)."""
    stdout = stdout_to_stderr()  # inference logs through a rich console on stdout
    stubbed = stub_missing_torchvision_ops()
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inference = importlib.import_module("inference")
        pipeline_class = inference.InferencePipeline
    cv2 = importlib.import_module("cv2")

    model = load_model(args.model, args.input_size, args.torch_threads, warm_batches=(1, len(args.urls)))
    recorder = Recorder(args.urls)
    peer = RoboflowPeer(args, model, recorder, cv2)
    mode = args.options.get("processing_mode", "legacy")
    pipeline = pipeline_class.init_with_custom_logic(
        video_reference=list(args.urls),
        on_video_frame=peer.on_video_frame,
        status_update_handlers=[peer.on_status],
        video_processing_mode=mode,
        batch_collection_timeout=args.options.get("batch_collection_timeout"),
    )
    pipeline.start(use_main_thread=False)
    try:
        measure(recorder, args, failed=peer.finished.is_set)
    finally:
        stopper = threading.Thread(target=_stop_pipeline, args=(pipeline, recorder), daemon=True)
        stopper.start()
        stopper.join(args.stop_timeout)
    clean = not stopper.is_alive()
    if not clean:
        recorder.error(f"pipeline did not stop within --stop-timeout {args.stop_timeout:g} s")

    result = recorder.result(
        SYSTEM,
        args,
        versions={**base_versions(), "inference": inference_version(), "cv2": str(cv2.__version__)},
        dropped_known=True,
        notes=[
            f"InferencePipeline.init_with_custom_logic, no max_fps, video_processing_mode={mode}, "
            f"batch_collection_timeout={args.options.get('batch_collection_timeout')}",
            "callback: cv2.resize INTER_LINEAR to S x S, BGR->RGB, one model call per callback batch",
            "latency: OpenCV grab() returned (FRAME_CAPTURED status update) -> model output",
            "dropped: FRAME_DROPPED status updates; EAGER consumption (legacy, freshest) discards unreported "
            "(see extra.grabbed_unaccounted)",
        ],
    )
    result.extra = {
        **result.extra,
        "options": dict(args.options),
        "batch_sizes": {str(k): v for k, v in sorted(peer.batch_sizes.items())},
        "dropped_by_cause": dict(peer.drop_causes),
        "grabbed_unaccounted": max(result.frames_grabbed - result.frames - (result.dropped or 0), 0),
        "latency_ms_from_frame_timestamp": percentiles_ms(peer.stamp_latencies),
        "wait_ms": percentiles_ms(peer.waits),
        "callback_ms": percentiles_ms(peer.callback_times),
        "frames_without_grab_time": peer.missing_grab_times,
        "torchvision_ops_stubbed": stubbed,
    }
    emit(result, args.json_path, stdout)
    return (0 if result.frames > 0 else 1), clean


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    code, clean = run(parse_args(__doc__.splitlines()[0] if __doc__ else SYSTEM, argv, add_arguments))
    sys.stdout.flush()
    sys.stderr.flush()
    if not clean:  # the pipeline's threads are not daemons: do not wait on a stuck one at exit
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
