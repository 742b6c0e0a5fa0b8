"""The control channel as a plain class (its logic), and once as the Ray actor the handlers call."""

from __future__ import annotations

import asyncio

import ray

from pipeline.control.channel import (
    CommandKind,
    CommandResult,
    ControlChannel,
    Outcome,
    create_channel,
    new_channel_name,
)


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_submit_pipeline_never_polled_returns_unavailable() -> None:
    async def body() -> None:
        result = await ControlChannel().submit(CommandKind.REMOVE_CAMERA, "a", 1.0)
        assert result.outcome is Outcome.UNAVAILABLE

    run(body())


def test_submit_after_poll_is_taken_and_completed_by_pipeline() -> None:
    async def body() -> None:
        channel = ControlChannel()
        assert await channel.take_commands() == []
        receipt = await channel.submit(CommandKind.REMOVE_CAMERA, "a", 5.0)
        assert receipt.outcome is Outcome.ACCEPTED
        waiter = asyncio.create_task(channel.wait_result(receipt.request_id, 5.0))
        [command] = await channel.take_commands()
        assert (command.request_id, command.kind, command.payload) == (
            receipt.request_id,
            CommandKind.REMOVE_CAMERA,
            "a",
        )
        await channel.complete(command.request_id, False, "no camera 'a'", Outcome.NOT_FOUND)
        result = await waiter
        assert (result.outcome, result.message) == (Outcome.NOT_FOUND, "no camera 'a'")
        assert await channel.counts() == {"queued": 0, "waiting": 0}

    run(body())


def test_wait_result_timeout_withdraws_queued_command() -> None:
    async def body() -> None:
        channel = ControlChannel()
        await channel.take_commands()
        receipt = await channel.submit(CommandKind.SET_POLICY, {"type": "static"}, 5.0)
        result = await channel.wait_result(receipt.request_id, 0.05)
        assert result.outcome is Outcome.TIMEOUT and "withdrawn" in result.message
        assert await channel.take_commands() == []

    run(body())


def test_take_commands_past_deadline_answers_expired() -> None:
    async def body() -> None:
        channel = ControlChannel()
        await channel.take_commands()
        receipt = await channel.submit(CommandKind.REMOVE_CAMERA, "a", 0.0)
        waiter = asyncio.create_task(channel.wait_result(receipt.request_id, 5.0))
        await asyncio.sleep(0.01)
        assert await channel.take_commands() == []
        assert (await waiter).outcome is Outcome.EXPIRED

    run(body())


def test_submit_too_many_waiting_returns_busy() -> None:
    async def body() -> None:
        channel = ControlChannel(max_pending=2)
        await channel.take_commands()
        for _ in range(2):
            assert (await channel.submit(CommandKind.REMOVE_CAMERA, "a", 5.0)).ok
        assert (await channel.submit(CommandKind.REMOVE_CAMERA, "a", 5.0)).outcome is Outcome.BUSY

    run(body())


def test_complete_after_handler_gave_up_is_dropped() -> None:
    async def body() -> None:
        channel = ControlChannel()
        await channel.take_commands()
        receipt = await channel.submit(CommandKind.REMOVE_CAMERA, "a", 5.0)
        await channel.take_commands()
        assert (await channel.wait_result(receipt.request_id, 0.01)).outcome is Outcome.TIMEOUT
        await channel.complete(receipt.request_id, True, "late")
        assert (await channel.wait_result(receipt.request_id, 0.01)).outcome is Outcome.NOT_FOUND

    run(body())


def test_report_older_snapshot_ignored_results_still_completed() -> None:
    async def body() -> None:
        channel = ControlChannel()
        await channel.take_commands()
        receipt = await channel.submit(CommandKind.REMOVE_CAMERA, "a", 5.0)
        await channel.report([], {"n": 2}, 2)
        await channel.report([CommandResult(receipt.request_id, Outcome.OK, "removed")], {"n": 1}, 1)
        assert (await channel.snapshot()).data == {"n": 2}
        assert (await channel.wait_result(receipt.request_id, 1.0)).message == "removed"

    run(body())


def test_actor_publish_snapshot_keeps_latest_only(ray_session: None) -> None:
    channel = create_channel(new_channel_name())
    try:
        assert ray.get(channel.snapshot.remote(), timeout=30).data is None
        ray.get([channel.publish_snapshot.remote({"n": n}) for n in range(3)], timeout=30)
        latest = ray.get(channel.snapshot.remote(), timeout=30)
        assert latest.data == {"n": 2} and latest.age_s is not None and latest.age_s < 5
    finally:
        ray.kill(channel)


def test_take_commands_long_poll_returns_when_command_arrives() -> None:
    async def body() -> None:
        channel = ControlChannel()
        await channel.take_commands()
        take = asyncio.create_task(channel.take_commands(wait_s=5.0))
        await asyncio.sleep(0.05)
        assert not take.done()
        receipt = await channel.submit(CommandKind.REMOVE_CAMERA, "a", 5.0)
        [command] = await asyncio.wait_for(take, 1.0)
        assert command.request_id == receipt.request_id

    run(body())
