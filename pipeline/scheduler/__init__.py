"""Per-stream scheduling: which model each camera's next frame goes to, and whether it goes at all.

Importing this package registers the built-in policies (``static``, ``time_of_day``, ``brightness``,
``load_aware``). Typical use::

    scheduler = Scheduler.from_config(config.policy, default_design="specialists-condition")
    gate = MotionGate(config.motion)
    if gate.should_infer(camera_id, frame, now_s):
        stats = frame_stats(frame)
        route = scheduler.route(Observation(camera_id, frame_time, location, mean_luma=stats.mean_luma,
                                            chroma=stats.chroma, queue_ms=queue_ms, lag_s=lag_s))
        batcher.submit(route.model, frame)
"""

from pipeline.scheduler.base import CameraLocation, Decision, Observation, Policy, StreamState
from pipeline.scheduler.brightness import BrightnessPolicy
from pipeline.scheduler.config import (
    BrightnessPolicyConfig,
    LoadAwarePolicyConfig,
    MotionGateConfig,
    PolicyConfig,
    SchedulerConfig,
    StaticPolicyConfig,
    TimeOfDayPolicyConfig,
    parse_policy_config,
)
from pipeline.scheduler.frames import FrameStats, frame_stats
from pipeline.scheduler.load_aware import LoadAwarePolicy
from pipeline.scheduler.motion import GateCounts, MotionGate
from pipeline.scheduler.registry import build_policy, get_policy, list_policies, register_policy
from pipeline.scheduler.scheduler import Route, Scheduler, SchedulerStats
from pipeline.scheduler.time_policies import StaticPolicy, TimeOfDayPolicy

__all__ = [
    "BrightnessPolicy",
    "BrightnessPolicyConfig",
    "CameraLocation",
    "Decision",
    "FrameStats",
    "GateCounts",
    "LoadAwarePolicy",
    "LoadAwarePolicyConfig",
    "MotionGate",
    "MotionGateConfig",
    "Observation",
    "Policy",
    "PolicyConfig",
    "Route",
    "Scheduler",
    "SchedulerConfig",
    "SchedulerStats",
    "StaticPolicy",
    "StaticPolicyConfig",
    "StreamState",
    "TimeOfDayPolicy",
    "TimeOfDayPolicyConfig",
    "build_policy",
    "frame_stats",
    "get_policy",
    "list_policies",
    "parse_policy_config",
    "register_policy",
]
