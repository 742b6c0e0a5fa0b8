"""Serve a clip as a live MPEG-TS stream over TCP: ``tcp://127.0.0.1:PORT``, opened by PyAV as it is.

This is the file-mode camera. The convention (documented in :mod:`pipeline.world.simulator`): a reader never
paces or loops a simulated camera itself; it opens the camera URL with PyAV and reads frames as they arrive,
exactly as it reads an RTSP camera. Each viewer gets its own connection and relay thread, so several readers
(the pipeline, a test, a debug viewer) can watch one camera.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import av

from pipeline.netutil import LOOPBACK
from pipeline.world.relay import ClipPackets, PacedRelay, load_packets

logger = logging.getLogger(__name__)

SEND_TIMEOUT_S = 5.0
"""A viewer that accepts no data for this long is disconnected (the relay thread must not hang)."""


@dataclass
class StreamFaults:
    """Faults a simulated camera shows while it streams, switched on and off by a test or the fault matrix.

    Attributes:
        stalled: While set, the camera keeps its connections open and sends nothing (a frozen camera).
        corrupt_bytes: Random bytes to put into the stream before the next write (then back to 0).
    """

    stalled: threading.Event = field(default_factory=threading.Event)
    corrupt_bytes: int = 0


class _SocketWriter:
    """The file-like object PyAV writes a container to, with the camera's faults applied."""

    def __init__(self, sock: socket.socket, faults: StreamFaults, stop: threading.Event) -> None:
        self.sock = sock
        self._faults = faults
        self._stop = stop

    def write(self, data: bytes) -> int:
        while self._faults.stalled.is_set() and not self._stop.is_set():
            time.sleep(0.05)
        if self._faults.corrupt_bytes:
            garbage, self._faults.corrupt_bytes = self._faults.corrupt_bytes, 0
            self.sock.sendall(os.urandom(garbage))
        self.sock.sendall(data)
        return len(data)

    def flush(self) -> None:
        """Nothing is buffered here."""


class TcpCameraServer:
    """A looping, real-time TCP stream of one clip; :meth:`start` and :meth:`stop` it (or use ``with``)."""

    def __init__(
        self,
        clip: Path,
        *,
        host: str = LOOPBACK,
        faults: StreamFaults | None = None,
        phase_s: float = 0.0,
    ) -> None:
        """Prepare to serve ``clip`` on ``host`` (a free port is bound by :meth:`start`).

        ``phase_s``: how far into its clip the camera already is at start, so that cameras started
        together send their frames at different moments of a frame interval, as real cameras do.
        """
        if phase_s < 0:
            raise ValueError(f"phase_s must be >= 0, got {phase_s}")
        self.clip_path = Path(clip)
        self.host = host
        self.faults = faults or StreamFaults()
        self.phase_s = phase_s
        self.port = 0
        self.epoch = 0.0
        self._clip: ClipPackets | None = None
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.viewers = 0
        self.dropped = 0

    @property
    def url(self) -> str:
        """The URL a PyAV reader opens."""
        return f"tcp://{self.host}:{self.port}"

    def start(self) -> TcpCameraServer:
        """Load the clip, bind a free port (the same one again on a restart) and start accepting viewers.

        Raises:
            StreamError: if the clip is missing or corrupt.
        """
        self._clip = load_packets(self.clip_path)
        self._stop = threading.Event()  # a fresh one, so a stopped server can start again
        self._threads = []
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # First start: port 0 lets the OS pick a free port. A restart keeps the URL, like a real camera.
        listener.bind((self.host, self.port))
        listener.listen(8)
        listener.settimeout(0.2)
        self._listener, self.port = listener, int(listener.getsockname()[1])
        self.epoch = time.monotonic() - self.phase_s
        self._spawn(self._accept_loop, "accept")
        logger.info("camera %s serving %s", self.url, self.clip_path.name)
        return self

    def _spawn(self, target: object, name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=f"tcpcam-{self.port}-{name}", daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(SEND_TIMEOUT_S)
            self._spawn(self._serve, "viewer", conn)

    def _serve(self, conn: socket.socket) -> None:
        assert self._clip is not None
        self.viewers += 1
        relay: PacedRelay | None = None
        try:
            with (
                av.open(str(self.clip_path)) as source,
                av.open(
                    _SocketWriter(conn, self.faults, self._stop),
                    mode="w",
                    format="mpegts",
                    options={"flush_packets": "1"},
                ) as output,
            ):
                stream = output.add_stream_from_template(source.streams.video[0])
                relay = PacedRelay(self._clip, output, stream, self.epoch, self._stop)
                relay.run()
        except (OSError, av.FFmpegError) as exc:
            logger.debug("viewer of %s left: %s", self.url, exc)
        finally:
            self.viewers -= 1
            self.dropped += relay.dropped if relay else 0
            conn.close()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop accepting, end every relay and wait (bounded) for the threads."""
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.0))

    def __enter__(self) -> TcpCameraServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
