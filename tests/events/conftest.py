"""Fixtures for the events tests: one real redis-server per session, a clean database per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone

import pytest
import redis

from pipeline.events.redis_server import EmbeddedRedis
from pipeline.events.schema import Event, EventType


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis() as server:
        yield server


@pytest.fixture
def redis_client(redis_server: EmbeddedRedis) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url, socket_timeout=2.0)
    client.flushdb()
    yield client
    client.close()


MakeEvent = Callable[..., Event]


@pytest.fixture
def make_event() -> MakeEvent:
    """Factory of events whose track_id carries ``index`` so tests can check order."""
    return _make_event


def _make_event(
    index: int = 0, *, camera_id: str = "cam1", kind: EventType = EventType.SEEN, zones: tuple[str, ...] = ()
) -> Event:
    return Event(
        type=kind,
        camera_id=camera_id,
        class_name="person",
        class_id=0,
        box=(10.0, 20.0, 110.0, 220.0),
        score=0.9,
        track_id=index + 1,
        model="monolith",
        frame_time=datetime.now(timezone.utc),
        zones=zones,
    )
