"""RTSP cameras: a ``rtsp-server-perl`` process on loopback and one looping pusher thread per camera.

Each clip is pushed without re-encoding with PyAV's ``rtsp`` muxer over UDP (the server answers TCP pushes
with ``400 Bad Request``) to ``rtsp://127.0.0.1:SOURCE/camK``; readers open
``rtsp://127.0.0.1:CLIENT/camK``. Only the server process started here is ever stopped, by its pid.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import av

from pipeline.errors import StreamError
from pipeline.netutil import LOOPBACK, free_ports, wait_for_port
from pipeline.world.relay import PacedRelay, load_packets

logger = logging.getLogger(__name__)

SERVER_BINARY = "rtsp-server-perl"
INSTALL_HINT = "install it with `apt-get install -y rtsp-server-perl` (Debian/Ubuntu)"


def rtsp_server_available() -> bool:
    """Whether the ``rtsp-server-perl`` binary is on PATH."""
    return shutil.which(SERVER_BINARY) is not None


def _free_udp_base(count: int, attempts: int = 50) -> int:
    """An even UDP port with ``count`` free ports from it (the server's RTP/RTCP range)."""
    for _ in range(attempts):
        base = random.randrange(20000, 60000 - count, 2)
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(sock)
                sock.bind((LOOPBACK, port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise StreamError(f"found no {count} free consecutive UDP ports on {LOOPBACK}; free some and retry")


class RtspServer:
    """A ``rtsp-server-perl`` process on loopback with free ports."""

    def __init__(self, max_cameras: int = 64) -> None:
        """Prepare a server for up to ``max_cameras`` streams (ports are picked by :meth:`start`)."""
        self.max_cameras = max_cameras
        self.client_port = self.source_port = 0
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 10.0) -> RtspServer:
        """Start the server and wait until both ports accept connections.

        Raises:
            StreamError: if the binary is missing or the server does not come up.
        """
        binary = shutil.which(SERVER_BINARY)
        if binary is None:
            raise StreamError(f"{SERVER_BINARY} is not installed; {INSTALL_HINT}")
        self.client_port, self.source_port = free_ports(2)
        rtp_base = _free_udp_base(4 * self.max_cameras)
        command = [binary, "--clientport", str(self.client_port), "--serverport", str(self.source_port),
                   "--client_listen_address", LOOPBACK, "--source_listen_address", LOOPBACK,
                   "--rtp_start_port", str(rtp_base), "--max_clients", str(4 * self.max_cameras)]  # fmt: skip
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for port in (self.client_port, self.source_port):
            if not wait_for_port(port, timeout_s=timeout_s):
                error = self._stderr_tail()
                self.stop()
                raise StreamError(f"{SERVER_BINARY} did not listen on {LOOPBACK}:{port}: {error}")
        logger.info("rtsp-server-perl pid %d: read port %d, push port %d", self._process.pid,
                    self.client_port, self.source_port)  # fmt: skip
        return self

    def _stderr_tail(self) -> str:
        if self._process is None or self._process.poll() is None or self._process.stderr is None:
            return "still starting"
        return (
            self._process.stderr.read().decode(errors="replace")[-500:] or f"exit {self._process.returncode}"
        )

    def push_url(self, name: str) -> str:
        """Where a pusher sends stream ``name``."""
        return f"rtsp://{LOOPBACK}:{self.source_port}/{name}"

    def read_url(self, name: str) -> str:
        """Where a reader opens stream ``name``."""
        return f"rtsp://{LOOPBACK}:{self.client_port}/{name}"

    def stop(self, timeout_s: float = 5.0) -> None:
        """Terminate the server this object started (by its pid), then kill it if it lingers."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            logger.warning("rtsp-server-perl pid %d ignored SIGTERM; killing it", process.pid)
            os.kill(process.pid, 9)
            process.wait(timeout=timeout_s)


class RtspPusher:
    """Push one clip to an RTSP server, looping in real time, reconnecting (with backoff) when dropped."""

    def __init__(self, clip: Path, url: str) -> None:
        """Prepare to push ``clip`` to ``url`` (a ``rtsp://`` push URL)."""
        self.clip_path, self.url = Path(clip), url
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sent = 0
        self.failures = 0
        self.ready = threading.Event()
        """Set once the server has accepted the stream (readers get 404 before that)."""

    def start(self) -> RtspPusher:
        """Load the clip and start the pushing thread.

        Raises:
            StreamError: if the clip is missing or corrupt.
        """
        self._clip = load_packets(self.clip_path)
        self._thread = threading.Thread(target=self._run, name=f"rtsp-push-{self.url}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        epoch, backoff = time.monotonic(), 0.2
        while not self._stop.is_set():
            relay: PacedRelay | None = None
            try:
                with (
                    av.open(str(self.clip_path)) as source,
                    av.open(
                        self.url, mode="w", format="rtsp", options={"rtsp_transport": "udp"}, timeout=5.0
                    ) as output,
                ):
                    stream = output.add_stream_from_template(source.streams.video[0])
                    relay = PacedRelay(self._clip, output, stream, epoch, self._stop)
                    relay.started = self.ready
                    relay.run()
            except (OSError, av.FFmpegError) as exc:
                self.failures += 1
                logger.warning("push to %s failed (%s); retrying in %.1f s", self.url, exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                self.sent += relay.sent if relay else 0

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop pushing and wait (bounded) for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
