"""Relay a clip's H.264 packets, without re-encoding, looped and paced like a live camera.

A camera has a clock that starts when the camera starts; at wall time ``T`` it is showing clip time
``(T - epoch) mod duration``. A viewer that joins gets the packets from the last keyframe before that point
at once (at most one GOP, so the decoder has a picture right away, as an RTSP server's GOP cache does), then
packets as they fall due. A viewer that falls more than ``max_lag_s`` behind skips to the live keyframe, as a
live camera would, and the skipped packets are counted as drops.
"""

from __future__ import annotations

import bisect
import logging
import math
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from pipeline.errors import StreamError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipPackets:
    """The video packets of a clip, in decode order, held in memory (clips are a few MB at most).

    Attributes:
        path: the clip.
        data: packet payloads.
        pts: presentation times relative to the first packet, in ``time_base`` ticks.
        dts: decode times relative to the first packet, in ticks.
        keyframes: packet indices that are keyframes, ascending.
        time_base: tick length in seconds.
        duration: clip duration in ticks (last pts plus one frame), the loop length.
    """

    path: Path
    data: tuple[bytes, ...]
    pts: tuple[int, ...]
    dts: tuple[int, ...]
    keyframes: tuple[int, ...]
    time_base: Fraction
    duration: int

    @property
    def duration_s(self) -> float:
        """Loop length in seconds."""
        return float(self.duration * self.time_base)


def load_packets(path: Path) -> ClipPackets:
    """Demux the first video stream of clip ``path`` into memory.

    Raises:
        StreamError: if the file is missing, unreadable, has no video or no keyframe.
    """
    path = Path(path)
    if not path.is_file():
        raise StreamError(f"clip {path} does not exist; write one with `camfleet world clip --out {path}`")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise StreamError(f"{path} has no video stream; rewrite it with `camfleet world clip`")
            stream = container.streams.video[0]
            if stream.time_base is None:
                raise StreamError(f"{path} has no time base; rewrite it with `camfleet world clip`")
            time_base = Fraction(stream.time_base)
            raw = [
                (bytes(p), int(p.pts), int(p.dts), bool(p.is_keyframe), int(p.duration or 0))
                for p in container.demux(stream)
                if p.size and p.pts is not None and p.dts is not None
            ]
    except av.FFmpegError as exc:
        raise StreamError(f"cannot read clip {path} ({exc}); it is corrupt, rewrite it") from exc
    keyframes = tuple(i for i, r in enumerate(raw) if r[3])
    if not raw or not keyframes or keyframes[0] != 0:
        raise StreamError(f"clip {path} has no packets or does not start with a keyframe; rewrite it")
    first = raw[0][2]
    step = raw[1][1] - raw[0][1] if len(raw) > 1 else max(raw[0][4], 1)
    duration = max(r[1] for r in raw) - first + max(raw[-1][4], step, 1)
    return ClipPackets(
        path, tuple(r[0] for r in raw), tuple(r[1] - first for r in raw), tuple(r[2] - first for r in raw),
        keyframes, time_base, duration,
    )  # fmt: skip


class PacedRelay:
    """Mux a clip's packets into ``output`` at real-time pace, looping, until ``stop`` is set.

    Args:
        clip: the packets.
        output: an open PyAV output container.
        stream: the output stream (made with ``output.add_stream_from_template``).
        epoch: monotonic time at which the camera's clip clock started.
        stop: set it to end :meth:`run`.
        max_lag_s: how far a slow viewer may fall behind before skipping to live.
    """

    def __init__(
        self, clip: ClipPackets, output: Any, stream: Any, epoch: float, stop: threading.Event,
        max_lag_s: float = 2.0,
    ) -> None:  # fmt: skip
        self.clip, self.output, self.stream, self.epoch, self.stop = clip, output, stream, epoch, stop
        self.max_lag_s = max_lag_s
        self.sent = 0
        self.dropped = 0
        self.started = threading.Event()
        """Set once the first packet is muxed (for RTSP: the stream is announced and can be read)."""

    def _live_position(self, now: float) -> tuple[int, int]:
        """(loop, packet index) of the keyframe at or before the live point."""
        elapsed = max(now - self.epoch, 0.0)
        loop = math.floor(elapsed / self.clip.duration_s)
        ticks = (elapsed - loop * self.clip.duration_s) / float(self.clip.time_base)
        key_pts = [self.clip.pts[k] for k in self.clip.keyframes]
        return loop, self.clip.keyframes[max(bisect.bisect_right(key_pts, ticks) - 1, 0)]

    def run(self, max_loops: int | None = None) -> None:
        """Send packets until ``stop`` is set or ``max_loops`` loops of the clip have been sent.

        Raises:
            av.FFmpegError, OSError: when the output fails (a viewer disconnects); callers end the relay.
        """
        clip, tb = self.clip, float(self.clip.time_base)
        loop, index = self._live_position(time.monotonic())
        first_loop = loop
        while not self.stop.is_set():
            if index >= len(clip.data):
                loop, index = loop + 1, 0
                if max_loops is not None and loop - first_loop >= max_loops:
                    return
            due = self.epoch + loop * clip.duration_s + clip.dts[index] * tb
            now = time.monotonic()
            if now - due > self.max_lag_s:
                new_loop, new_index = self._live_position(now)
                skipped = (new_loop - loop) * len(clip.data) + new_index - index
                if skipped > 0:
                    self.dropped += skipped
                    loop, index = new_loop, new_index
                    continue
            if due > now and self.stop.wait(due - now):
                return
            packet = av.Packet(clip.data[index])
            packet.pts = clip.pts[index] + loop * clip.duration
            packet.dts = clip.dts[index] + loop * clip.duration
            packet.time_base = clip.time_base
            packet.is_keyframe = index in clip.keyframes
            packet.stream = self.stream
            self.output.mux(packet)
            self.sent += 1
            self.started.set()
            index += 1
