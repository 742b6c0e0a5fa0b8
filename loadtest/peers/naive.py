r"""The naive peer: one thread per camera, each decoding, resizing and inferring one frame at a time.

What a user writes first: a thread per camera opens its stream with PyAV, decodes every frame, resizes it
to S x S RGB exactly as camfleet does (``frame.reformat(width=S, height=S, format="rgb24")``, swscale's
default bilinear) and runs the TorchScript model on that single frame (``[1, S, S, 3]``) in the same
thread, with no lock (torch releases the GIL) and no batching. A stream that ends or fails is reopened.

Latency is from the moment PyAV yields the decoded frame to the model's output. Because decoding waits for
inference here, a frame can be decoded well after the camera sent it (the burst a camera sends at connect,
or a socket that filled while the thread inferred): window membership therefore uses the frame's capture
time estimated from its timestamp (:class:`pipeline.capture_clock.StreamClock`), so a warm-up backlog read
inside the window does not count, and ``extra["lag_ms"]`` gives capture-to-result times. This runner never
drops a frame it decoded (``dropped`` is ``None``): when it falls behind, frames wait in the socket and the
camera server drops them, which it cannot see.

Run from the repository root::

    .venv/bin/python -m loadtest.peers.naive --model triton_models/monolith/1/model.pt --input-size 160 \\
        --urls tcp://127.0.0.1:PORT1 tcp://127.0.0.1:PORT2 --seconds 20 --warmup 5 --json naive.json
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import av

from loadtest.peers.common import (
    PeerArgs,
    Recorder,
    base_versions,
    emit,
    infer,
    join_bounded,
    load_model,
    measure,
    parse_args,
)
from pipeline.capture_clock import StreamClock, TimedFrame

logger = logging.getLogger(__name__)

SYSTEM = "naive"
OPEN_TIMEOUT_S = 10.0
"""PyAV open timeout (connect and probe)."""
READ_TIMEOUT_S = 5.0
"""PyAV read timeout: a stream silent this long fails, so a stopping thread never waits longer."""
RETRY_S = 0.5
"""Pause before reopening a stream that ended or failed."""


def _open(url: str) -> Any:
    options = {"rtsp_transport": "tcp"} if url.lower().startswith(("rtsp://", "rtsps://")) else {}
    return av.open(url, mode="r", options=options, timeout=(OPEN_TIMEOUT_S, READ_TIMEOUT_S))


def camera_loop(url: str, model: Any, size: int, recorder: Recorder, stop: threading.Event) -> None:
    """Decode ``url`` and infer every frame, one at a time, until ``stop`` is set (reopening on failure)."""
    while not stop.is_set():
        try:
            container = _open(url)
        except (av.FFmpegError, OSError) as exc:
            recorder.error(f"{url}: cannot open: {exc}")
            stop.wait(RETRY_S)
            continue
        clock = StreamClock()  # per connection: a reopened stream may restart its timestamps
        try:
            for frame in container.decode(video=0):
                grabbed = time.monotonic()
                if stop.is_set():
                    return
                segment = clock.observe(frame.time, grabbed)
                recorder.grabbed(url, TimedFrame(grabbed, grabbed, frame.time, segment).sent_t)
                image = frame.reformat(width=size, height=size, format="rgb24").to_ndarray()
                infer(model, image[None])
                recorder.done(url, TimedFrame(grabbed, time.monotonic(), frame.time, segment))
            if not stop.is_set():
                recorder.error(f"{url}: stream ended; reopened")
        except (av.FFmpegError, OSError) as exc:
            if not stop.is_set():
                recorder.error(f"{url}: read failed: {exc}; reopened")
        except Exception as exc:  # the model or the resize: record it and end this camera
            recorder.error(f"{url}: {type(exc).__name__}: {exc}")
            logger.exception("camera %s failed", url)
            return
        finally:
            container.close()
        stop.wait(RETRY_S)


def run(args: PeerArgs) -> tuple[int, bool]:
    """Run the naive peer and emit its result; return (exit code, whether every thread stopped)."""
    model = load_model(args.model, args.input_size, args.torch_threads, warm_batches=(1,))
    recorder = Recorder(args.urls)
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=camera_loop,
            args=(url, model, args.input_size, recorder, stop),
            name=f"naive-cam-{i}",
            daemon=True,
        )
        for i, url in enumerate(args.urls)
    ]
    for thread in threads:
        thread.start()
    try:
        measure(recorder, args, failed=lambda: not any(t.is_alive() for t in threads))
    finally:
        stop.set()
        stuck = join_bounded(threads, args.stop_timeout)
    for name in stuck:
        recorder.error(f"thread {name} did not stop within --stop-timeout {args.stop_timeout:g} s")
    result = recorder.result(
        SYSTEM,
        args,
        versions={**base_versions(), "av": av.__version__},
        dropped_known=False,
        notes=[
            "one thread per camera; PyAV decode, frame.reformat(S, S, rgb24), model on [1, S, S, 3]",
            "latency: PyAV yields the decoded frame -> model output; window membership by capture time "
            "estimated from the frame timestamp (a backlog decoded in the window does not count)",
            "dropped is null: the runner never drops a decoded frame; a lagging reader loses frames at "
            "the camera server, which it cannot see",
        ],
    )
    emit(result, args.json_path)
    return (0 if result.frames > 0 else 1), not stuck


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    code, clean = run(parse_args(__doc__.splitlines()[0] if __doc__ else SYSTEM, argv))
    if not clean:  # a thread stuck in FFmpeg: do not let interpreter shutdown wait on or crash in it
        sys.stdout.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
