import json
import threading
import time
from collections.abc import Callable

import redis
from typer.testing import CliRunner, Result

from pipeline.cli.events import app
from pipeline.events.redis_server import EmbeddedRedis
from pipeline.events.schema import SCHEMA_ID, Event
from pipeline.events.sink import RedisEventSink
from pipeline.netutil import free_port

MakeEvent = Callable[..., Event]
runner = CliRunner()


def test_events_schema_prints_json_schema() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output)["$id"] == SCHEMA_ID


def test_events_tail_help_shows_examples() -> None:
    result = runner.invoke(app, ["tail", "--help"])
    assert result.exit_code == 0
    assert "camfleet events tail --camera cam3" in result.output


def test_events_tail_from_stream_prints_count_events_of_camera(
    redis_server: EmbeddedRedis, redis_client: redis.Redis, make_event: MakeEvent
) -> None:
    sink = RedisEventSink(redis.Redis.from_url(redis_server.url))
    sink.publish([make_event(i, camera_id="cam1" if i % 2 else "cam2") for i in range(6)])
    assert sink.flush(5.0)
    sink.close()
    args = [
        "tail",
        "--from-stream",
        "--redis-url",
        redis_server.url,
        "--camera",
        "cam1",
        "--count",
        "2",
        "--json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    events = [Event.from_json(line) for line in result.output.splitlines()]
    assert [(e.camera_id, e.track_id) for e in events] == [("cam1", 2), ("cam1", 4)]


def test_events_tail_pubsub_receives_live_event(redis_server: EmbeddedRedis, make_event: MakeEvent) -> None:
    result_box: list[Result] = []
    args = ["tail", "--redis-url", redis_server.url, "--count", "1"]
    thread = threading.Thread(target=lambda: result_box.append(runner.invoke(app, args)))
    thread.start()
    sink = RedisEventSink(redis.Redis.from_url(redis_server.url))
    deadline = time.monotonic() + 10.0
    while thread.is_alive() and time.monotonic() < deadline:  # publish until the subscriber is listening
        sink.publish([make_event(0, camera_id="cam9")])
        thread.join(0.1)
    sink.close()
    assert not thread.is_alive()
    result = result_box[0]
    assert result.exit_code == 0
    assert "cam9 object_seen #1 person 0.90" in result.output


def test_events_tail_unreachable_redis_exits_1() -> None:
    result = runner.invoke(app, ["tail", "--redis-url", f"redis://127.0.0.1:{free_port()}/0", "--count", "1"])
    assert result.exit_code == 1
    assert "cannot read events" in result.output


def test_events_tail_bad_url_is_usage_error() -> None:
    result = runner.invoke(app, ["tail", "--redis-url", "http://x"])
    assert result.exit_code == 2
