"""Publish events to Redis: a pub/sub channel per camera and one capped stream, without ever blocking.

:meth:`RedisEventSink.publish` only appends to a bounded buffer; one writer thread drains it in order,
pipelining ``PUBLISH`` + ``XADD`` for a whole batch per round trip. While Redis is down the buffer keeps
the newest ``buffer_size`` events (the oldest are dropped and counted) and the writer retries with
exponential back-off, so a Redis outage costs the pipeline nothing but memory.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from pipeline.events.config import RedisConfig
from pipeline.events.schema import Event
from pipeline.ingest.redact import redact_url

logger = logging.getLogger(__name__)


def make_client(url: str, config: RedisConfig | None = None, *, password: str | None = None) -> redis.Redis:
    """Build a redis-py client with camfleet's timeouts and no hidden retries (the sink retries itself).

    Args:
        url: redis://, rediss:// or unix:// URL.
        config: timeouts; defaults to :class:`RedisConfig` defaults.
        password: overrides a password in the URL (resolved by the entry point).
    """
    cfg = config or RedisConfig()
    extra = {"password": password} if password is not None else {}
    return redis.Redis.from_url(
        url,
        socket_timeout=cfg.socket_timeout_s,
        socket_connect_timeout=cfg.connect_timeout_s,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=30,
        **extra,
    )


@dataclass(frozen=True)
class SinkStats:
    """Counters of a sink: events published, waiting, dropped (buffer full or rejected), write errors."""

    published: int = 0
    buffered: int = 0
    dropped: int = 0
    errors: int = 0
    connected: bool = True


class RedisEventSink:
    """Buffered, ordered, never-raising event publisher (see the module docstring)."""

    def __init__(self, client: redis.Redis, config: RedisConfig | None = None, *, name: str = "") -> None:
        self._client = client
        self._config = config or RedisConfig()
        self._name = name or "redis"
        self._buffer: deque[Event] = deque()
        self._cond = threading.Condition()
        self._inflight = 0
        self._published = self._dropped = self._errors = 0
        self._connected = True
        self._overflowing = False
        self._closing = False
        self._thread: threading.Thread | None = None
        self._owns_client = False

    @classmethod
    def from_url(
        cls, url: str, config: RedisConfig | None = None, *, password: str | None = None
    ) -> RedisEventSink:
        """Build a sink with its own client for ``url`` (timeouts from ``config``); connects lazily."""
        sink = cls(make_client(url, config, password=password), config, name=redact_url(url))
        sink._owns_client = True
        return sink

    def stats(self) -> SinkStats:
        """Return a consistent snapshot of the counters."""
        with self._cond:
            return SinkStats(
                published=self._published,
                buffered=len(self._buffer) + self._inflight,
                dropped=self._dropped,
                errors=self._errors,
                connected=self._connected,
            )

    def publish(self, events: Iterable[Event]) -> None:
        """Queue events for publishing, in order; returns at once and never raises.

        Args:
            events: events of one frame (or several); an empty iterable is a no-op.
        """
        with self._cond:
            if self._closing:
                self._dropped += sum(1 for _ in events)
                return
            added = 0
            for event in events:
                self._buffer.append(event)
                added += 1
            if not added:
                return
            self._trim_locked()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="camfleet-redis-sink", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def flush(self, timeout_s: float) -> bool:
        """Wait until every queued event is written or ``timeout_s`` passes; True when all were written."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._buffer or self._inflight:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._thread is None:
                    return False
                self._cond.wait(remaining)
            return True

    def close(self, timeout_s: float = 5.0) -> SinkStats:
        """Flush for up to ``timeout_s``, stop the writer, close an owned client; return final counters."""
        if not self.flush(timeout_s):
            logger.warning("%s: closing with %d events not delivered", self._name, self.stats().buffered)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=self._config.socket_timeout_s + self._config.connect_timeout_s + 1.0)
        if self._owns_client:
            self._client.close()
        return self.stats()

    def _trim_locked(self) -> None:
        overflow = len(self._buffer) + self._inflight - self._config.buffer_size
        if overflow <= 0:
            return
        for _ in range(min(overflow, len(self._buffer))):
            self._buffer.popleft()
        self._dropped += overflow
        if not self._overflowing:
            self._overflowing = True
            logger.warning(
                "%s: event buffer full (%d); dropping the oldest events", self._name, self._config.buffer_size
            )

    def _take_batch(self) -> list[Event] | None:
        """Wait for work; return the next batch (moved to in-flight) or None when closing."""
        with self._cond:
            while not self._buffer and not self._closing:
                self._cond.wait()
            if self._closing:  # close() already gave flush its time; what is left stays undelivered
                return None
            size = min(self._config.batch_size, len(self._buffer))
            batch = [self._buffer.popleft() for _ in range(size)]
            self._inflight = size
            return batch

    def _run(self) -> None:
        backoff = self._config.retry_initial_s
        while (batch := self._take_batch()) is not None:
            try:
                self._write(batch)
            except (redis.ConnectionError, redis.TimeoutError, redis.exceptions.OutOfMemoryError) as exc:
                # Down, slow or full (maxmemory): each can pass, so the events wait in the buffer. A write
                # refused for memory may have published to pub/sub before the stream refused it: pub/sub
                # subscribers can see such an event twice, the stream has it once.
                self._failed(batch, exc)
                with self._cond:
                    # Sleep out the back-off, but wake for close() so shutdown is not delayed.
                    self._cond.wait_for(lambda: self._closing, timeout=backoff)
                backoff = min(backoff * 2.0, self._config.retry_max_s)
            except redis.RedisError as exc:
                # Redis answered but refused (wrong key type, auth): retrying cannot help.
                with self._cond:
                    self._inflight = 0
                    self._errors += 1
                    self._dropped += len(batch)
                    self._cond.notify_all()
                logger.error("%s: Redis rejected %d events: %s", self._name, len(batch), exc)
            else:
                backoff = self._config.retry_initial_s
                self._succeeded(len(batch))

    def _write(self, batch: list[Event]) -> None:
        cfg = self._config
        now = time.time()
        pipe = self._client.pipeline(transaction=False)
        for event in batch:
            data = event.stamped(now).to_json()
            pipe.publish(f"{cfg.channel_prefix}:{event.camera_id}", data)
            pipe.xadd(cfg.stream_key, {"event": data}, maxlen=cfg.stream_maxlen, approximate=True)
        pipe.execute()

    def _failed(self, batch: list[Event], exc: Exception) -> None:
        with self._cond:
            self._inflight = 0
            self._errors += 1
            self._buffer.extendleft(reversed(batch))
            self._trim_locked()
            was_connected, self._connected = self._connected, False
            waiting = len(self._buffer)
            self._cond.notify_all()
        if was_connected:
            logger.warning(
                "%s: Redis cannot take events (%s); buffering them (%d waiting)", self._name, exc, waiting
            )

    def _succeeded(self, count: int) -> None:
        with self._cond:
            self._inflight = 0
            self._published += count
            recovered, self._connected = not self._connected, True
            dropped, self._overflowing = self._dropped, False
            self._cond.notify_all()
        if recovered:
            logger.info(
                "%s: Redis reachable again; delivering buffered events (%d dropped)", self._name, dropped
            )
