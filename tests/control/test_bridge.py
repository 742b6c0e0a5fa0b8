"""The pipeline's end of the channel: a real channel actor, a real ControlBridge and a fake pipeline."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import ray

from pipeline.control.bridge import ControlBridge
from pipeline.control.channel import (
    CommandKind,
    CommandResult,
    Outcome,
    create_channel,
    new_channel_name,
)

from .fakes import FakePipeline, LoopThread


@pytest.fixture
def channel(ray_session: None) -> Iterator[Any]:
    handle = create_channel(new_channel_name())
    yield handle
    ray.kill(handle)


def command(channel: Any, kind: CommandKind, payload: Any, wait_s: float = 10.0) -> CommandResult:
    receipt: CommandResult = ray.get(channel.submit.remote(kind, payload, wait_s), timeout=30)
    assert receipt.outcome is Outcome.ACCEPTED, receipt
    result: CommandResult = ray.get(channel.wait_result.remote(receipt.request_id, wait_s), timeout=30)
    return result


def wait_polled(channel: Any) -> None:
    deadline = time.monotonic() + 10
    while ray.get(channel.snapshot.remote(), timeout=30).poll_age_s is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_bridge_add_then_remove_same_camera_both_ok(channel: Any) -> None:
    pipeline = FakePipeline()
    with LoopThread(pipeline, ControlBridge(channel, pipeline)):
        wait_polled(channel)
        # One after the other: an async actor may run two calls from one caller in either order.
        receipts = [
            ray.get(channel.submit.remote(kind, payload, 10.0), timeout=30)
            for kind, payload in (
                (CommandKind.ADD_CAMERA, {"id": "x", "url": "/clips/x.mp4"}),
                (CommandKind.REMOVE_CAMERA, "x"),
            )
        ]
        results = ray.get([channel.wait_result.remote(r.request_id, 10.0) for r in receipts], timeout=30)
    assert [r.outcome for r in results] == [Outcome.OK, Outcome.OK]
    assert "x" not in pipeline.cameras and not pipeline.failed


def test_bridge_add_failing_in_pipeline_answers_failed(channel: Any) -> None:
    pipeline = FakePipeline()
    pipeline.refuse.add("broken")
    bridge = ControlBridge(channel, pipeline, confirm_timeout_s=0.5)
    with LoopThread(pipeline, bridge):
        wait_polled(channel)
        result = command(channel, CommandKind.ADD_CAMERA, {"id": "broken", "url": "rtsp://cam/1"})
    assert result.outcome is Outcome.FAILED and "did not add camera 'broken'" in result.message
    assert pipeline.failed == ["cannot open broken"]


def test_bridge_invalid_policy_payload_answers_invalid(channel: Any) -> None:
    pipeline = FakePipeline()
    with LoopThread(pipeline, ControlBridge(channel, pipeline)):
        wait_polled(channel)
        result = command(channel, CommandKind.SET_POLICY, {"type": "brightness", "min_frames": 0})
    assert result.outcome is Outcome.INVALID and "min_frames" in result.message
    assert pipeline.policies == []


def test_bridge_poll_between_due_times_makes_no_ray_call(channel: Any) -> None:
    bridge = ControlBridge(channel, FakePipeline(), poll_every_s=60.0)
    bridge.poll()
    started = time.perf_counter()
    for _ in range(10_000):
        bridge.poll()
    per_call_us = (time.perf_counter() - started) / 10_000 * 1e6
    assert per_call_us < 20, per_call_us


def test_bridge_snapshot_raising_poll_does_not_raise_and_counts(channel: Any) -> None:
    pipeline = FakePipeline()
    pipeline.snapshot_error = RuntimeError("stats broke")
    bridge = ControlBridge(channel, pipeline, poll_every_s=0.0)
    bridge.poll()
    assert bridge.errors == 1


def test_bridge_channel_killed_poll_does_not_raise_and_counts(ray_session: None) -> None:
    handle = create_channel(new_channel_name())
    pipeline = FakePipeline(("a",))
    bridge = ControlBridge(handle, pipeline, poll_every_s=0.0)
    bridge.poll()
    ray.kill(handle)
    deadline = time.monotonic() + 10
    while bridge.errors == 0 and time.monotonic() < deadline:
        bridge.poll()
        time.sleep(0.05)
    assert bridge.errors > 0
