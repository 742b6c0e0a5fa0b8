"""The synthetic world: street scenes with the 20 classes, clips with labels, data sets, simulated cameras.

Modules: :mod:`~pipeline.world.shapes` and :mod:`~pipeline.world.art` (what each class looks like),
:mod:`~pipeline.world.scene` (layout and trajectories), :mod:`~pipeline.world.background`,
:mod:`~pipeline.world.lighting`, :mod:`~pipeline.world.render` (frames and boxes),
:mod:`~pipeline.world.clips` (H.264 + labels), :mod:`~pipeline.world.dataset` (YOLO format),
:mod:`~pipeline.world.relay`, :mod:`~pipeline.world.tcp`, :mod:`~pipeline.world.rtsp` and
:mod:`~pipeline.world.simulator` (live cameras).
"""

from pipeline.world.clips import ClipInfo, Schedule, iter_clip_frames, load_labels, write_clip
from pipeline.world.dataset import Sample, load_yolo_dataset, write_dataset
from pipeline.world.render import Box, Frame, Renderer
from pipeline.world.scene import Scene, make_scene
from pipeline.world.simulator import CameraSimulator, SimulatedCamera

__all__ = [
    "Box",
    "CameraSimulator",
    "ClipInfo",
    "Frame",
    "Renderer",
    "Sample",
    "Scene",
    "Schedule",
    "SimulatedCamera",
    "iter_clip_frames",
    "load_labels",
    "load_yolo_dataset",
    "make_scene",
    "write_clip",
    "write_dataset",
]
