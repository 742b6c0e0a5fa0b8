"""Which camera actor decodes which camera; adding and removing cameras while the pipeline runs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import ray

from pipeline.config import CameraConfig
from pipeline.errors import ConfigError, StreamError
from pipeline.ingest.actor import create_camera_group
from pipeline.ingest.frames import CameraStats
from pipeline.ingest.spec import CameraSpec

logger = logging.getLogger(__name__)

_CALL_TIMEOUT_S = 30.0


def camera_spec(camera: CameraConfig, input_size: int) -> CameraSpec:
    """The ingest spec of a configured camera: credentials resolved, frames resized to the model input."""
    return CameraSpec(
        camera_id=camera.id,
        url=camera.resolved_url(),
        fps=camera.fps,
        width=input_size,
        height=input_size,
        condition=camera.condition,
        rtsp_transport=camera.rtsp_transport,
        realtime=camera.loop,
        loop=camera.loop,
        open_timeout_s=camera.open_timeout_s,
        read_timeout_s=camera.read_timeout_s,
    )


@dataclass
class CameraGroupHandle:
    """A camera actor and the cameras it holds."""

    actor: Any
    camera_ids: set[str] = field(default_factory=set)


class CameraFleet:
    """Places cameras on :class:`~pipeline.ingest.actor.CameraGroupActor` s, ``per_actor`` cameras each."""

    def __init__(self, *, input_size: int, per_actor: int, actor_cpus: float = 0.0) -> None:
        self.input_size = input_size
        self.per_actor = per_actor
        self.actor_cpus = actor_cpus
        self.groups: list[CameraGroupHandle] = []
        self.cameras: dict[str, CameraConfig] = {}

    def add(self, camera: CameraConfig) -> None:
        """Start decoding ``camera`` on the least-loaded actor with room, or on a new one.

        Raises:
            ConfigError: if the id is already in use.
        """
        if camera.id in self.cameras:
            raise ConfigError(f"camera id {camera.id!r} is already running")
        spec = camera_spec(camera, self.input_size)
        open_groups = [g for g in self.groups if len(g.camera_ids) < self.per_actor]
        if open_groups:
            group = min(open_groups, key=lambda g: len(g.camera_ids))
            ray.get(group.actor.add_camera.remote(spec), timeout=_CALL_TIMEOUT_S)
        else:
            group = CameraGroupHandle(create_camera_group([spec], num_cpus=self.actor_cpus))
            self.groups.append(group)
        group.camera_ids.add(camera.id)
        self.cameras[camera.id] = camera
        logger.info("camera %s added (%s)", camera.id, spec.safe_url)

    def remove(self, camera_id: str) -> CameraStats:
        """Stop decoding a camera and return its final counters.

        Raises:
            StreamError: if no such camera runs.
        """
        group = next((g for g in self.groups if camera_id in g.camera_ids), None)
        if group is None:
            raise StreamError(f"no camera {camera_id!r} is running; known: {sorted(self.cameras)}")
        stats: CameraStats = ray.get(group.actor.remove_camera.remote(camera_id), timeout=_CALL_TIMEOUT_S)
        group.camera_ids.discard(camera_id)
        del self.cameras[camera_id]
        if not group.camera_ids:
            ray.get(group.actor.stop.remote(), timeout=_CALL_TIMEOUT_S)
            ray.kill(group.actor)
            self.groups.remove(group)
        logger.info("camera %s removed", camera_id)
        return stats

    def stats(self) -> dict[str, CameraStats]:
        """Counters of every camera (one Ray call per actor, gathered together)."""
        refs = [g.actor.stats.remote() for g in self.groups]
        merged: dict[str, CameraStats] = {}
        for part in ray.get(refs, timeout=_CALL_TIMEOUT_S):
            merged.update(part)
        return merged

    def stop(self) -> None:
        """Stop every reader and release the actors."""
        refs = [g.actor.stop.remote() for g in self.groups]
        try:
            ray.get(refs, timeout=_CALL_TIMEOUT_S)
        except (ray.exceptions.RayError, TimeoutError) as exc:
            logger.warning("camera actors did not stop cleanly: %s", exc)
        for group in self.groups:
            ray.kill(group.actor)
        self.groups.clear()
