import os

import pytest
import redis

from pipeline.errors import EventsError
from pipeline.events.redis_server import EmbeddedRedis, find_redis_server


def test_find_redis_server_installed_returns_executable() -> None:
    path = find_redis_server()
    assert path.is_file()
    assert os.access(path, os.X_OK)


def test_embedded_redis_constructor_does_no_io() -> None:
    server = EmbeddedRedis()
    assert not server.running
    with pytest.raises(EventsError):
        _ = server.port


def test_embedded_redis_start_answers_ping_and_stop_ends_process() -> None:
    server = EmbeddedRedis().start()
    try:
        assert server.url.startswith("redis://127.0.0.1:")
        client = redis.Redis.from_url(server.url, socket_timeout=1.0)
        assert client.ping()
        assert client.config_get("save")["save"] == ""
        client.close()
        pid = server._process.pid if server._process else -1
    finally:
        server.stop()
    assert not server.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_embedded_redis_restart_keeps_port() -> None:
    server = EmbeddedRedis().start()
    try:
        port = server.port
        server.stop()
        server.start()
        assert server.port == port
        assert redis.Redis(host="127.0.0.1", port=port, socket_timeout=1.0).ping()
    finally:
        server.stop()
