"""Simulated cameras for tests, the demo and the load tester.

Every camera is a synthetic clip (written once into ``workdir``) served live, looping and paced in real
time, at a URL a PyAV reader opens unchanged:

- file mode (default): ``tcp://127.0.0.1:PORT`` carrying MPEG-TS (see :mod:`pipeline.world.tcp`);
- RTSP mode: ``rtsp://127.0.0.1:PORT/camK`` through ``rtsp-server-perl`` (see :mod:`pipeline.world.rtsp`).

Convention for the ingest side: readers never pace or loop a camera themselves; a simulated camera behaves
like a real one (frames arrive at the clip's fps, forever, a new viewer starts at the last keyframe).
:attr:`SimulatedCamera.clip` still names the file, for offline readers that want every frame.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import ConfigError, StreamError
from pipeline.models.classes import CONDITIONS
from pipeline.world.clips import Schedule, labels_path_for, write_clip
from pipeline.world.rtsp import RtspPusher, RtspServer
from pipeline.world.tcp import TcpCameraServer

logger = logging.getLogger(__name__)

READY_TIMEOUT_S = 10.0
"""How long :meth:`CameraSimulator.start` waits for every RTSP stream to be announced."""


@dataclass(frozen=True)
class SimulatedCamera:
    """One simulated camera: id, condition (``cycle`` for a day/dusk/night schedule), URL and clip."""

    camera_id: str
    condition: str
    url: str
    clip: Path
    labels: Path


class CameraSimulator:
    """Serve ``cameras`` synthetic cameras; :meth:`start`/:meth:`stop` or use as a context manager.

    Args:
        cameras: number of cameras.
        workdir: where clips are written (an existing clip with the same parameters is reused).
        rtsp: serve through ``rtsp-server-perl`` instead of TCP.
        conditions: condition per camera (``day``, ``dusk``, ``night`` or ``cycle``); default: round-robin
            over the three conditions.
        seconds: clip length (the loop period).
        size: (width, height).
        fps: frames per second.
        seed: base seed; camera ``k`` uses ``seed + k`` (for its clip and its phase).

    In file mode every camera starts at its own phase within one frame interval (drawn from its seed):
    cameras started together would otherwise send their frames in step, and a batcher would see every
    camera's frame of an interval at once, which real cameras never give it.
    """

    def __init__(
        self,
        cameras: int,
        workdir: Path,
        *,
        rtsp: bool = False,
        conditions: Sequence[str] | None = None,
        seconds: float = 20.0,
        size: tuple[int, int] = (640, 360),
        fps: int = 10,
        seed: int = 0,
    ) -> None:
        """Check the arguments; nothing starts until :meth:`start`."""
        if cameras < 1:
            raise ConfigError(f"need at least 1 camera, got {cameras}")
        chosen = list(conditions) if conditions else [CONDITIONS[k % len(CONDITIONS)] for k in range(cameras)]
        if len(chosen) != cameras or any(c not in (*CONDITIONS, "cycle") for c in chosen):
            raise ConfigError(
                f"need {cameras} conditions from {', '.join(CONDITIONS)} or cycle, got {chosen}"
            )
        self.count, self.workdir, self.rtsp, self.conditions = cameras, Path(workdir), rtsp, chosen
        self.seconds, self.size, self.fps, self.seed = seconds, size, fps, seed
        self.cameras: list[SimulatedCamera] = []
        self._servers: list[TcpCameraServer] = []
        self._pushers: list[RtspPusher] = []
        self._rtsp_server: RtspServer | None = None

    def phase_s(self, k: int) -> float:
        """Camera ``k``'s phase: seconds into a frame interval, fixed by its seed."""
        return random.Random(self.seed + k).uniform(0.0, 1.0 / self.fps)

    def _clip_for(self, k: int) -> Path:
        condition = self.conditions[k]
        w, h = self.size
        path = (
            self.workdir
            / f"cam{k}_{condition}_{w}x{h}_{self.fps}fps_{self.seconds:g}s_seed{self.seed + k}.mp4"
        )
        if not (path.is_file() and labels_path_for(path).is_file()):
            schedule = Schedule.cycle(self.seconds) if condition == "cycle" else None
            write_clip(path, condition="day" if schedule else condition, seconds=self.seconds,
                       size=self.size, fps=self.fps, seed=self.seed + k, schedule=schedule)  # fmt: skip
        return path

    def start(self) -> list[SimulatedCamera]:
        """Write missing clips, start the servers and return the cameras.

        Raises:
            StreamError: if a server cannot start (e.g. ``rtsp-server-perl`` missing in RTSP mode).
        """
        try:
            if self.rtsp:
                self._rtsp_server = RtspServer(max_cameras=self.count).start()
            for k in range(self.count):
                clip, name = self._clip_for(k), f"cam{k}"
                if self._rtsp_server is not None:
                    self._pushers.append(RtspPusher(clip, self._rtsp_server.push_url(name)).start())
                    url = self._rtsp_server.read_url(name)
                else:
                    server = TcpCameraServer(clip, phase_s=self.phase_s(k)).start()
                    self._servers.append(server)
                    url = server.url
                self.cameras.append(
                    SimulatedCamera(name, self.conditions[k], url, clip, labels_path_for(clip))
                )
            deadline = time.monotonic() + READY_TIMEOUT_S
            for pusher in self._pushers:
                if not pusher.ready.wait(max(deadline - time.monotonic(), 0.0)):
                    raise StreamError(
                        f"the RTSP server did not accept {pusher.url} within {READY_TIMEOUT_S} s"
                    )
        except BaseException:
            self.stop()
            raise
        logger.info("%d simulated cameras (%s)", self.count, "rtsp" if self.rtsp else "tcp")
        return list(self.cameras)

    def stop(self) -> None:
        """Stop every pusher, server and process this simulator started."""
        for pusher in self._pushers:
            pusher.stop()
        for server in self._servers:
            server.stop()
        if self._rtsp_server is not None:
            self._rtsp_server.stop()
        self._pushers, self._servers, self._rtsp_server = [], [], None

    def __enter__(self) -> CameraSimulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
