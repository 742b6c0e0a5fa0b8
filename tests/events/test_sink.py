import json
import time
from collections.abc import Callable

import redis

from pipeline.events.config import RedisConfig
from pipeline.events.redis_server import EmbeddedRedis
from pipeline.events.schema import Event
from pipeline.events.sink import RedisEventSink
from pipeline.netutil import free_port

MakeEvent = Callable[..., Event]

FAST_RETRY = RedisConfig(retry_initial_s=0.02, retry_max_s=0.1, socket_timeout_s=0.5, connect_timeout_s=0.5)


def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def stream_events(client: redis.Redis, key: str = "camfleet:events") -> list[Event]:
    return [Event.from_json(fields[b"event"]) for _id, fields in client.xrange(key)]


def test_sink_publish_subscriber_receives_on_camera_channel_and_stream_holds_events(
    redis_server: EmbeddedRedis, redis_client: redis.Redis, make_event: MakeEvent
) -> None:
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe("camfleet:events:cam7")
    assert wait_until(lambda: redis_client.pubsub_numsub("camfleet:events:cam7")[0][1] == 1)
    sink = RedisEventSink(redis.Redis.from_url(redis_server.url), FAST_RETRY)
    sent = [make_event(i, camera_id="cam7") for i in range(3)] + [make_event(9, camera_id="other")]
    sink.publish(sent)
    assert sink.flush(5.0)

    received: list[Event] = []
    deadline = time.monotonic() + 5.0
    while len(received) < 3 and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.2)
        if message is not None:
            assert message["channel"] == b"camfleet:events:cam7"
            received.append(Event.from_json(message["data"]))
    pubsub.close()
    assert [e.event_id for e in received] == [e.event_id for e in sent[:3]]
    assert all(e.latency_ms is not None and e.latency_ms >= 0 for e in received)
    assert [e.event_id for e in stream_events(redis_client)] == [e.event_id for e in sent]
    stats = sink.close()
    assert (stats.published, stats.buffered, stats.dropped, stats.errors) == (4, 0, 0, 0)


def test_sink_stream_maxlen_caps_stream(
    redis_server: EmbeddedRedis, redis_client: redis.Redis, make_event: MakeEvent
) -> None:
    config = RedisConfig(stream_maxlen=100, batch_size=50)
    sink = RedisEventSink(redis.Redis.from_url(redis_server.url), config)
    sink.publish(make_event(i) for i in range(1000))
    assert sink.flush(5.0)
    sink.close()
    # MAXLEN ~ trims whole radix-tree nodes (100 entries each by default), so the cap is approximate.
    assert 100 <= redis_client.xlen("camfleet:events") < 300


def test_sink_redis_restart_delivers_buffered_events_in_order(make_event: MakeEvent) -> None:
    server = EmbeddedRedis().start()
    sink = RedisEventSink.from_url(server.url, FAST_RETRY)
    try:
        sink.publish([make_event(0)])
        assert sink.flush(5.0)
        server.stop()
        during_outage = [make_event(i) for i in range(1, 6)]
        for event in during_outage:
            sink.publish([event])  # one call per frame, as the pipeline does
        assert wait_until(lambda: not sink.stats().connected)
        assert sink.stats().buffered == 5
        server.start()
        assert sink.flush(5.0)
        client = redis.Redis.from_url(server.url)
        # The embedded server has no persistence: after the restart the stream holds only the outage.
        assert [e.event_id for e in stream_events(client)] == [e.event_id for e in during_outage]
        client.close()
        stats = sink.close()
        assert stats.published == 6
        assert stats.dropped == 0
        assert stats.errors >= 1
        assert stats.connected
    finally:
        sink.close(timeout_s=0)
        server.stop()


def test_sink_buffer_overflow_counts_dropped_and_keeps_newest(make_event: MakeEvent) -> None:
    server = EmbeddedRedis().start()
    config = FAST_RETRY.model_copy(update={"buffer_size": 5})
    sink = RedisEventSink.from_url(server.url, config)
    try:
        sink.publish([make_event(0)])
        assert sink.flush(5.0)
        server.stop()
        sink.publish([make_event(1)])
        assert wait_until(lambda: not sink.stats().connected)
        later = [make_event(i) for i in range(2, 14)]
        sink.publish(later)
        assert sink.stats().dropped == 8  # 13 events during the outage, 5 fit
        server.start()
        assert sink.flush(5.0)
        client = redis.Redis.from_url(server.url)
        assert [e.event_id for e in stream_events(client)] == [e.event_id for e in later[-5:]]
        client.close()
        stats = sink.close()
        assert (stats.published, stats.dropped, stats.buffered) == (6, 8, 0)
    finally:
        sink.close(timeout_s=0)
        server.stop()


def test_sink_redis_down_never_raises_into_caller(make_event: MakeEvent) -> None:
    sink = RedisEventSink.from_url(f"redis://127.0.0.1:{free_port()}/0", FAST_RETRY)
    started = time.perf_counter()
    for i in range(100):
        sink.publish([make_event(i)])
    publish_s = time.perf_counter() - started
    assert not sink.flush(0.3)
    stats = sink.close(timeout_s=0.1)
    assert publish_s < 0.5
    assert stats.published == 0
    assert stats.errors >= 1
    assert not stats.connected
    assert stats.buffered + stats.dropped == 100


def test_sink_wrong_key_type_counts_error_and_drops(
    redis_server: EmbeddedRedis, redis_client: redis.Redis, make_event: MakeEvent
) -> None:
    redis_client.set("camfleet:events", "not a stream")
    sink = RedisEventSink(redis.Redis.from_url(redis_server.url), FAST_RETRY)
    sink.publish([make_event(i) for i in range(3)])
    assert sink.flush(5.0)
    stats = sink.close()
    assert (stats.published, stats.dropped, stats.errors) == (0, 3, 1)


def test_sink_publish_after_close_is_ignored(redis_server: EmbeddedRedis, make_event: MakeEvent) -> None:
    sink = RedisEventSink.from_url(redis_server.url)
    sink.close()
    sink.publish([make_event(0)])
    assert (sink.stats().buffered, sink.stats().dropped) == (0, 1)


def test_event_json_in_stream_is_schema_v1(
    redis_server: EmbeddedRedis, redis_client: redis.Redis, make_event: MakeEvent
) -> None:
    sink = RedisEventSink(redis.Redis.from_url(redis_server.url))
    sink.publish([make_event(0)])
    assert sink.flush(5.0)
    sink.close()
    ((_id, fields),) = redis_client.xrange("camfleet:events")
    assert json.loads(fields[b"event"])["schema_version"] == 1
