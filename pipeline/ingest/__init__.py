"""Ingest: open camera streams with PyAV, sample to a target fps, resize to the model input, queue frames.

Data flow: :class:`~pipeline.ingest.source.PyAVSource` (decode, sample, resize) -> :class:`CameraReader`
(reconnect with backoff) -> :class:`DropOldestQueue` per camera -> :class:`CameraGroup` /
``CameraGroupActor`` (``take`` one batch per Ray call).
"""

from pipeline.ingest.camera import CameraReader
from pipeline.ingest.frames import CameraState, CameraStats, Frame, FrameBatch
from pipeline.ingest.group import CameraGroup
from pipeline.ingest.queue import DropOldestQueue
from pipeline.ingest.redact import redact_text, redact_url
from pipeline.ingest.source import PyAVSource, SourceFactory, VideoSource, pyav_source
from pipeline.ingest.spec import BackoffConfig, CameraSpec

__all__ = [
    "BackoffConfig",
    "CameraGroup",
    "CameraReader",
    "CameraSpec",
    "CameraState",
    "CameraStats",
    "DropOldestQueue",
    "Frame",
    "FrameBatch",
    "PyAVSource",
    "SourceFactory",
    "VideoSource",
    "pyav_source",
    "redact_text",
    "redact_url",
]
