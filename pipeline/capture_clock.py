"""When a live camera sent each frame, estimated from its stream timestamps, and windows counted by it.

A frame reaches its decoder some delay after the camera sent it, and that delay grows while the reader is
behind: frames wait in the socket, then are read faster than real time once the reader catches up. Counting
frames by when they were *read* therefore counts a backlog drained inside a measured window as if the
cameras had sent more than they did (a point measured above its offered rate). Counting by when they were
*sent* cannot: a window of ``s`` seconds holds at most ``s * fps`` frames of a camera.

:class:`StreamClock` estimates the send time. A camera's timestamps run at its own pace, so
``read time - timestamp`` is smallest, and about constant, for frames read as soon as they arrive; the
smallest value seen maps a timestamp to the wall clock. The estimate is applied when a window is counted,
not when a frame is read, so a reader that was behind from its first frame and caught up later still dates
its early frames right. :class:`WindowCounter` keeps the frames that may belong to a window and counts them.

This module needs only the standard library: the peer runners' separate environment imports it too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CLOCK_JUMP_S = 10.0
"""A change of ``read time - timestamp`` this large between two frames is a new timeline (a reconnect that
restarted the timestamps), not a reader falling behind or catching up."""

CATCH_UP_S = 0.05
"""The send-time estimate moving earlier by more than this means the reader was catching up on a backlog."""

MAX_LAG_S = 30.0
"""A frame read this long after a window closed is not kept for it (bounds what a window holds)."""


@dataclass
class ClockSegment:
    """One timeline of a stream: ``send time = timestamp + offset``, the offset refined as frames come."""

    offset: float


class StreamClock:
    """Estimates when a stream's frames were sent, from their timestamps (one per camera)."""

    def __init__(self) -> None:
        self._segment: ClockSegment | None = None
        self._last_offset = 0.0
        self._steady_offset = 0.0
        self._steady_since: float | None = None

    def steady_for(self, now: float) -> float:
        """Seconds since the reader last caught up on a backlog (or started a timeline); 0 before any frame.

        While a reader drains a backlog, each frame comes sooner after its send than the one before, so the
        offset keeps falling. A steady offset means frames are read at the camera's pace: either on time, or
        (a reader that cannot keep up) behind by a constant lag, with the camera dropping what it cannot send.
        """
        return 0.0 if self._steady_since is None else max(now - self._steady_since, 0.0)

    def observe(self, media_s: float | None, read_t: float) -> ClockSegment | None:
        """Learn from a frame with timestamp ``media_s`` (s) read at ``read_t``; return its timeline.

        The returned segment's offset keeps improving as later frames arrive; read it when counting. A frame
        without a timestamp returns None (its read time is its best send time).
        """
        if media_s is None:
            return None
        offset = read_t - media_s
        segment = self._segment
        if segment is None or abs(offset - self._last_offset) > CLOCK_JUMP_S:
            segment = self._segment = ClockSegment(offset)
            self._steady_offset, self._steady_since = offset, read_t
        elif offset < segment.offset:
            segment.offset = offset
            if offset < self._steady_offset - CATCH_UP_S:
                self._steady_offset, self._steady_since = offset, read_t
        self._last_offset = offset
        return segment


@dataclass(frozen=True, slots=True)
class TimedFrame:
    """A processed frame as a window sees it: when it was read, when its result came, and its timeline."""

    read_t: float
    done_t: float
    media_s: float | None = None
    segment: ClockSegment | None = None

    @property
    def sent_t(self) -> float:
        """The estimated send time (never after the read time)."""
        if self.segment is None or self.media_s is None:
            return self.read_t
        return min(self.media_s + self.segment.offset, self.read_t)


@dataclass(frozen=True, slots=True)
class WindowCount:
    """What a window counted so far.

    Attributes:
        frames: the frames sent inside the window whose result came.
        discarded: frames whose result came after the window opened but that were sent before it (backlog).
    """

    frames: tuple[TimedFrame, ...]
    discarded: int

    @property
    def counted(self) -> int:
        """How many frames count."""
        return len(self.frames)


@dataclass
class WindowCounter:
    """Counts the frames sent in ``[start, end)``, whenever their results come (one camera or many)."""

    start: float
    end: float
    max_lag_s: float = MAX_LAG_S
    _frames: list[TimedFrame] = field(default_factory=list)
    _read_before: int = 0

    def __post_init__(self) -> None:
        """Check the span."""
        if not self.end > self.start:
            raise ValueError(f"a window must end after it starts: {self.start} .. {self.end}")

    def add(self, frame: TimedFrame) -> None:
        """Note a frame whose result came at ``frame.done_t``."""
        if frame.read_t < self.start:  # sent before it was read, so before the window
            if frame.done_t >= self.start:
                self._read_before += 1
        elif frame.read_t < self.end + self.max_lag_s:
            self._frames.append(frame)

    def count(self) -> WindowCount:
        """Count with the clocks' current estimates (call it once the results of the window's frames came)."""
        inside: list[TimedFrame] = []
        discarded = self._read_before
        for frame in self._frames:
            sent = frame.sent_t
            if sent < self.start:
                discarded += 1
            elif sent < self.end:
                inside.append(frame)
        return WindowCount(tuple(inside), discarded)
