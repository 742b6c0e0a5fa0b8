"""The camera reader: one thread that owns a source, reconnects it with backoff and feeds a sink.

The loop never raises: an open or read failure or the end of a live stream moves the camera to
``BACKING_OFF``, counts the error and retries after an exponential, jittered, capped delay. Anything else is
a bug in camfleet, not in the stream: it is logged with its traceback, counted, and the camera goes to
``FAILED`` instead of retrying the same bug forever. ``stop()`` is
prompt: waits use an event, and a read blocked in FFmpeg is bounded by the spec's read timeout.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable

import av

from pipeline.errors import StreamError
from pipeline.ingest.frames import CameraState, Frame
from pipeline.ingest.reconnect import Backoff
from pipeline.ingest.redact import redact_text
from pipeline.ingest.source import SourceFactory, VideoSource, pyav_source
from pipeline.ingest.spec import CameraSpec

logger = logging.getLogger(__name__)

FrameSink = Callable[[Frame], None]
StateListener = Callable[[str, CameraState, CameraState], None]


class CameraReader:
    """Reads one camera on its own daemon thread and hands every sampled frame to ``sink``.

    Counters are plain ints written by the reader thread only; readers of :meth:`counters` may see values a
    frame old, never torn ones.
    """

    def __init__(
        self,
        spec: CameraSpec,
        sink: FrameSink,
        *,
        source_factory: SourceFactory = pyav_source,
        on_state: StateListener | None = None,
        seed: int | None = None,
    ) -> None:
        """Create a reader; nothing is opened until :meth:`start`.

        Args:
            spec: The camera.
            sink: Called on the reader thread with each sampled frame; must not block for long.
            source_factory: Builds the source (the PyAV one by default).
            on_state: Called as ``(camera_id, old, new)`` on every state transition.
            seed: Seed of the backoff jitter.
        """
        self.spec = spec
        self._sink = sink
        self._factory = source_factory
        self._on_state = on_state
        self._backoff = Backoff(spec.backoff, seed=seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._state = CameraState.STOPPED
        self._frame_ids = itertools.count()
        self._source: VideoSource | None = None
        self._decoded_before = 0  # frames decoded by sources already closed
        self._skipped_before = 0  # frames those sources skipped to catch up with the camera
        self._recent: deque[float] = deque(maxlen=32)
        self.sampled = 0
        self.reconnects = 0
        self.errors = 0
        self.bugs = 0
        self.cpu_s = 0.0
        self.last_error: str | None = None
        self._failed = False

    @property
    def state(self) -> CameraState:
        """The current state."""
        return self._state

    @property
    def decoded(self) -> int:
        """Frames decoded over all connections."""
        source = self._source
        return self._decoded_before + (source.decoded if source is not None else 0)

    @property
    def skipped_to_live(self) -> int:
        """Frames left undecoded over all connections because the reader was behind the live camera."""
        source = self._source
        return self._skipped_before + (source.skipped_to_live if source is not None else 0)

    @property
    def fps(self) -> float:
        """Sampled frames per second over the last (up to 32) frames; 0 when stale or too few."""
        recent = list(self._recent)
        if len(recent) < 2 or time.monotonic() - recent[-1] > 5.0:
            return 0.0
        span = recent[-1] - recent[0]
        return (len(recent) - 1) / span if span > 0 else 0.0

    def start(self) -> None:
        """Start the reader thread (once)."""
        if self._thread is not None:
            raise RuntimeError(f"camera {self.spec.camera_id}: reader already started")
        self._thread = threading.Thread(target=self._run, name=f"camera-{self.spec.camera_id}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the loop to stop without waiting (to stop many readers in parallel)."""
        self._stop.set()

    def stop(self, timeout_s: float | None = None) -> bool:
        """Ask the loop to stop and wait for it.

        Args:
            timeout_s: How long to wait; default: the read timeout plus one second.

        Returns:
            True when the thread ended within the wait.
        """
        self._stop.set()
        thread = self._thread
        if thread is None:
            return True
        wait = self.spec.read_timeout_s + 1.0 if timeout_s is None else timeout_s
        thread.join(wait)
        if thread.is_alive():
            logger.warning("camera %s: reader still blocked after %.1f s", self.spec.camera_id, wait)
            return False
        return True

    def _set_state(self, new: CameraState) -> None:
        old, self._state = self._state, new
        if old is new:
            return
        logger.info("camera %s: %s -> %s", self.spec.camera_id, old.value, new.value)
        if self._on_state is not None:
            try:
                self._on_state(self.spec.camera_id, old, new)
            except Exception:
                logger.exception("camera %s: state listener failed", self.spec.camera_id)

    def _fail(self, message: str) -> None:
        self.errors += 1
        self.last_error = message
        logger.warning("camera %s: %s", self.spec.camera_id, message)

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            if attempt > 0:
                self.reconnects += 1
            attempt += 1
            self._set_state(CameraState.CONNECTING)
            finished = self._run_once()
            if finished or self._stop.is_set():
                break
            self._set_state(CameraState.BACKING_OFF)
            delay = self._backoff.next_delay()
            logger.info("camera %s: retrying in %.2f s", self.spec.camera_id, delay)
            self._stop.wait(delay)
        self._set_state(CameraState.FAILED if self._failed else CameraState.STOPPED)

    def _run_once(self) -> bool:
        """Open, read until the stream ends or fails; return True when the camera is done for good."""
        source = self._factory(self.spec)
        self._source = source
        url = self.spec.url
        try:
            source.open()
            self._set_state(CameraState.RUNNING)
            delivered = False
            for frame in source.frames(self._frame_ids, self._stop):
                if not delivered:
                    delivered = True
                    self._backoff.reset()
                self.sampled += 1
                self._recent.append(frame.capture_ts)
                self._sink(frame)
                self.cpu_s = time.thread_time()  # the reader thread's CPU so far: decode, sample, resize
            if self._stop.is_set():
                return True
            if self.spec.is_file and not self.spec.is_looping:
                logger.info("camera %s: end of file", self.spec.camera_id)
                return True
            self._fail("stream ended")
        except StreamError as exc:
            # A read interrupted because stop() was asked is not a camera error.
            if self._stop.is_set():
                return True
            self._fail(redact_text(str(exc), url))
        except (av.FFmpegError, OSError, EOFError) as exc:
            if self._stop.is_set():
                return True
            self._fail(f"{type(exc).__name__}: {redact_text(str(exc), url)}")
        except Exception as exc:  # a bug, not a stream error: reconnecting would only repeat it
            # The traceback without the message: the message may quote the URL unredacted.
            where = "".join(traceback.format_tb(exc.__traceback__))
            message = f"bug: {type(exc).__name__}: {redact_text(str(exc), url)}"
            self.bugs += 1
            self._fail(message)
            logger.error("camera %s stops on a bug (%s); traceback:\n%s", self.spec.camera_id, message, where)
            self._failed = True
            return True
        finally:
            self._decoded_before += source.decoded
            self._skipped_before += source.skipped_to_live
            self._source = None
            source.close()
            self.cpu_s = time.thread_time()
        return False
