"""The documented schema of ``report.json``: written by the load tester (``loadtest/``), read by the planner.

Version 1. Every figure of one report comes from one run on one machine.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.planner.speed import SpeedReference

REPORT_SCHEMA_VERSION: Literal[1] = 1

MEETS_TARGET = 0.95
"""A camera meets its target when it gets at least this share of its target fps."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelServerStats(_Model):
    """Triton's own statistics of one model over one sweep point."""

    model: str
    requests: int = Field(ge=0)
    executions: int = Field(ge=0)
    mean_batch_size: float = Field(ge=0)
    mean_queue_ms: float = Field(ge=0)
    mean_compute_ms: float = Field(ge=0)


class SweepPoint(_Model):
    """One (design, camera count) point of the sweep."""

    cameras: int = Field(ge=1)
    target_fps: float = Field(gt=0, description="Per-camera target.")
    offered_fps: float = Field(ge=0, description="cameras x target fps.")
    aggregate_fps: float = Field(ge=0, description="Frames inferred per second, all cameras.")
    per_camera_fps: float = Field(ge=0, description="Mean achieved fps per camera.")
    min_camera_fps: float | None = Field(None, ge=0, description="The slowest camera's achieved fps.")
    discarded_frames: int = Field(
        0,
        ge=0,
        description="Frames inferred in the window but sent by their camera before it (backlog): not counted",
    )
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    dropped_frames: int = Field(0, ge=0, description="Queue, skip-to-live, batcher and inference drops.")
    errors: int = Field(0, ge=0)
    cpu_percent: dict[str, float] = Field(default_factory=dict, description="Per component, 100 = one core.")
    rss_mb: dict[str, float] = Field(default_factory=dict, description="Per component.")
    models: list[ModelServerStats] = Field(default_factory=list)
    detections_per_frame: float | None = Field(
        None, ge=0, description="Detections confident enough to track, per inferred frame (tracking cost)."
    )
    meets_target: bool = Field(description="per_camera_fps >= 0.95 x target_fps")
    server_failed: bool = Field(
        False,
        description="Triton died during this point twice (measured again after a restart): the pipeline "
        "failed at this load (it does not meet the target), and its figures are what was left of the window.",
    )


class Limits(_Model):
    """Limits measured in the same run."""

    decode_only_fps: float = Field(ge=0, description="Decode (and resize) of the clips, no inference.")
    inference_only_fps: dict[str, float] = Field(
        default_factory=dict, description="Per design, Triton alone at the pipeline's batch size."
    )


class DesignResult(_Model):
    """The sweep of one design."""

    design: str
    points: list[SweepPoint]
    knee_cameras: int | None = Field(description="Most cameras that still met the target fps.")
    binding_limit: Literal["decode", "inference", "pipeline", "none"] = Field(
        description="Which limit stopped growth at the knee."
    )
    baseline_fps: dict[int, float] = Field(
        default_factory=dict, description="Naive per-camera loop (one frame per request), by camera count."
    )
    speed: SpeedReference | None = Field(
        None,
        description="The machine-speed reference (pipeline.planner.speed) timed before and after this "
        "design's sweep, their mean; absent in older reports.",
    )
    triton_restarts: int = Field(
        0,
        ge=0,
        description="Times Triton died during a point of this sweep and was restarted; the point was "
        "measured again (see SweepPoint.server_failed).",
    )


class LoadTestReport(_Model):
    """The whole ``report.json``."""

    schema_version: Literal[1] = REPORT_SCHEMA_VERSION
    created: str = Field(description="ISO 8601 time of the run.")
    machine: dict[str, str | int | float] = Field(description="cpu count, model, GPU if any.")
    settings: dict[str, str | int | float | bool | list[int] | list[str] | dict[str, float]] = Field(
        description="The command's options (designs, cameras, mix, fps, resolution, duration, batching)."
    )
    input_size: int = Field(gt=0)
    architecture: dict[str, Any] | None = Field(
        None,
        description="The model config (every family's sizes) the load test exported; the planner's "
        "validator predicts from it. Absent in reports written before it was recorded.",
    )
    limits: Limits
    designs: list[DesignResult]
    conclusion: str = Field("", description="Plain-language summary: which design wins for this mix and why.")
