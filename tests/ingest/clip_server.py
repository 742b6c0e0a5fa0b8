"""A tiny TCP server that streams a clip's bytes in a loop to every client: a camera that can go away."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pipeline.netutil import LOOPBACK, free_port


class ClipServer:
    """Serve ``clip`` (MPEG-TS) over ``tcp://127.0.0.1:port``, repeating it, about ``speed`` x real time."""

    def __init__(self, clip: Path, *, port: int | None = None, chunk: int = 16 * 1024, speed: float = 2.0):
        self.data = clip.read_bytes()
        self.port = port or free_port()
        self.chunk = chunk
        self.speed = speed
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"tcp://{LOOPBACK}:{self.port}"

    def start(self) -> ClipServer:
        self._stop = threading.Event()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK, self.port))
        listener.listen(8)
        listener.settimeout(0.1)
        self._listener = listener
        thread = threading.Thread(target=self._accept, args=(listener, self._stop), daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def _accept(self, listener: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn, stop), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket, stop: threading.Event) -> None:
        # 1 s of the test clip per len(data) bytes: pace chunks so the stream runs at ~speed x real time.
        pause = self.chunk / len(self.data) / self.speed
        try:
            while not stop.is_set():
                for offset in range(0, len(self.data), self.chunk):
                    if stop.is_set():
                        return
                    conn.sendall(self.data[offset : offset + self.chunk])
                    time.sleep(pause)
        except OSError:
            return
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        for thread in self._threads:
            thread.join(timeout=2.0)
        self._threads = []


def wait_until(predicate: Callable[[], object], timeout_s: float, interval_s: float = 0.02) -> bool:
    """Poll ``predicate()`` until it is true or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return bool(predicate())
