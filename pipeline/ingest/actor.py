"""Ray actors of the ingest stage: :class:`CameraGroupActor` reads 1..N cameras in one worker process.

The pipeline asks a group for a batch with one Ray call (``take`` or ``take_batch``), never one call per
frame. Decoding runs on the group's reader threads; PyAV releases the GIL while FFmpeg demuxes, decodes and
scales, so one group can use several cores.

Example:
    >>> group = create_camera_group([CameraSpec(camera_id="cam0", url="clip.mp4")])  # doctest: +SKIP
    >>> frames = ray.get(group.take.remote(32, 0.1), timeout=5)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import ray

from pipeline.ingest.frames import CameraStats, Frame, FrameBatch
from pipeline.ingest.group import CameraGroup
from pipeline.ingest.spec import CameraSpec

logger = logging.getLogger(__name__)

# take() may wait for frames; a few concurrent calls let stats() and add_camera() through meanwhile.
_ACTOR_CONCURRENCY = 4


class CameraGroupActor:
    """Ray actor around :class:`~pipeline.ingest.group.CameraGroup` (state lives in the instance only)."""

    def __init__(self, specs: Sequence[CameraSpec] = ()) -> None:
        """Start a reader for each of ``specs``."""
        self._group = CameraGroup(list(specs))

    def ready(self) -> bool:
        """Return True once the actor is constructed (to wait for start-up)."""
        return True

    def add_camera(self, spec: CameraSpec) -> None:
        """Start reading another camera (see :meth:`CameraGroup.add_camera`)."""
        self._group.add_camera(spec)

    def remove_camera(self, camera_id: str) -> CameraStats:
        """Stop and forget a camera; return its final stats (see :meth:`CameraGroup.remove_camera`)."""
        return self._group.remove_camera(camera_id)

    def camera_ids(self) -> list[str]:
        """Ids of the cameras in the group."""
        return self._group.camera_ids()

    def take(self, max_frames: int, timeout_s: float = 0.0, gather_s: float = 0.0) -> list[Frame]:
        """Up to ``max_frames`` frames, round-robin over cameras (see :meth:`CameraGroup.take`)."""
        return self._group.take(max_frames, timeout_s, gather_s)

    def take_batch(self, max_frames: int, timeout_s: float = 0.0, gather_s: float = 0.0) -> FrameBatch | None:
        """Up to ``max_frames`` frames stacked into one array; None when none is ready."""
        return self._group.take_batch(max_frames, timeout_s, gather_s)

    def stats(self) -> dict[str, CameraStats]:
        """Every camera's counters, by camera id."""
        return self._group.stats()

    def cpu_seconds(self) -> float:
        """CPU seconds this actor's process has used, all threads (the decode cost, for benchmarks)."""
        return time.process_time()

    def stop(self) -> dict[str, CameraStats]:
        """Stop every reader; return final stats. The actor stays alive until killed or released."""
        return self._group.stop()


# Defined once: redefining a remote class on every call re-exports it to the cluster each time.
_RemoteCameraGroup = ray.remote(CameraGroupActor)


def create_camera_group(
    specs: Sequence[CameraSpec],
    *,
    name: str | None = None,
    num_cpus: float = 0.0,
    **options: Any,
) -> Any:
    """Start a :class:`CameraGroupActor` for ``specs`` and return its handle (Ray must be initialised).

    Args:
        specs: The cameras; more can be added later with ``add_camera``.
        name: Optional Ray actor name.
        num_cpus: CPUs reserved for the actor. 0 by default: decode threads use whatever cores are free, and
            a reservation per group would stop a 2-core machine from running more than two groups.
        **options: Further ``ray.remote`` actor options (``resources``, ``runtime_env``, ...).
    """
    actor_options: dict[str, Any] = {"num_cpus": num_cpus, "max_concurrency": _ACTOR_CONCURRENCY, **options}
    if name is not None:
        actor_options["name"] = name
    return _RemoteCameraGroup.options(**actor_options).remote(list(specs))
