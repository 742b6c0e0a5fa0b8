"""Skip to live: a reader that falls behind its live camera jumps to the next keyframe near the live edge.

A live camera sends at its own pace. When its reader cannot keep up (its CPU is taken by inference, or
it stalled for a moment), the stream waits in the socket, and every frame decoded afterwards is as late
as the backlog is long: seconds, on a loaded machine, for as long as the load lasts. Those frames are no
use to a security camera, and decoding them takes the CPU the live frames need.

:class:`CatchUp` watches how late each packet is read. The lag of a packet is ``read time - timestamp``
above the smallest value the stream has shown (the packets read as soon as they came, as in
:class:`~pipeline.capture_clock.StreamClock`). That reference may move later by 1% of the time that passes
(:data:`REFERENCE_CREEP`): a camera whose clock runs slow against ours makes ``read time - timestamp`` grow
by some parts per million, which is not a reader falling behind. A jump of more than
:data:`~pipeline.capture_clock.CLOCK_JUMP_S` (a reconnect that restarted the timestamps) starts the
reference afresh. Past ``max_lag_s`` the reader stops decoding and only reads
packets, which drains the backlog at network speed, until a keyframe comes within half of ``max_lag_s``
of the live edge; decoding restarts there, so the decoder never sees a frame whose references it missed.
Every skipped packet is counted (``skipped_to_live``) and the first skip of a camera is logged.

A reader that is behind from its very first packet cannot be told from one that is on time (there is
no earlier packet to compare with); a camera server sends at most one GOP of backlog on connect.
"""

from __future__ import annotations

import logging

from pipeline.capture_clock import CLOCK_JUMP_S

logger = logging.getLogger(__name__)

REFERENCE_CREEP = 0.01
"""Seconds per second the on-time reference may move later (camera clocks drift by parts per million; a
reader that falls behind does so by tens of percent)."""


class CatchUp:
    """Decides, packet by packet, whether a live stream's reader decodes or skips to catch up."""

    def __init__(self, camera_id: str, max_lag_s: float) -> None:
        """Skip when a packet is read more than ``max_lag_s`` seconds behind its camera."""
        if max_lag_s <= 0:
            raise ValueError(f"max_lag_s must be positive, got {max_lag_s}")
        self.camera_id = camera_id
        self.max_lag_s = max_lag_s
        self.skipped = 0
        """Packets not decoded because the reader was behind."""
        self.catch_ups = 0
        """Times the reader fell behind and skipped."""
        self._reference: float | None = None  # read time - timestamp of a packet read on time
        self._last: tuple[float, float] = (0.0, 0.0)  # (read time, read time - timestamp) of the last packet
        self._skipping = False

    def lag_s(self, media_s: float, read_t: float) -> float:
        """How late a packet with timestamp ``media_s`` read at ``read_t`` is (and learn from it)."""
        offset = read_t - media_s
        last_read, last_offset = self._last
        self._last = (read_t, offset)
        if self._reference is None or abs(offset - last_offset) > CLOCK_JUMP_S:
            self._reference = offset
            return 0.0
        crept = self._reference + REFERENCE_CREEP * max(read_t - last_read, 0.0)
        self._reference = min(offset, crept)
        return offset - self._reference

    def decode(self, media_s: float | None, keyframe: bool, read_t: float) -> bool:
        """Whether to decode a packet with timestamp ``media_s`` (s), read at ``read_t`` (any clock in s).

        A packet without a timestamp (a flush) is always decoded.
        """
        if media_s is None:
            return True
        lag = self.lag_s(media_s, read_t)
        if self._skipping:
            if keyframe and lag <= self.max_lag_s / 2:
                self._skipping = False
                return True
            self.skipped += 1
            return False
        if lag > self.max_lag_s:
            self._skipping = True
            self.catch_ups += 1
            self.skipped += 1
            log = logger.warning if self.catch_ups == 1 else logger.debug
            log(
                "camera %s: the reader is %.1f s behind the camera; skipping to the next keyframe near live "
                "(counted as skipped_to_live; catch-up %d)",
                self.camera_id,
                lag,
                self.catch_ups,
            )
            return False
        return True
