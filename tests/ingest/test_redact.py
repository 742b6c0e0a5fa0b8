from __future__ import annotations

import pytest

from pipeline.ingest.redact import redact_text, redact_url
from pipeline.ingest.spec import CameraSpec


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://admin:hunter2@10.0.0.5:554/live", "rtsp://***@10.0.0.5:554/live"),
        ("rtsp://admin@10.0.0.5/live", "rtsp://***@10.0.0.5/live"),
        ("http://cam/x.mjpg?user=a&password=b", "http://cam/x.mjpg?user=a&password=***"),
        ("http://cam/x?api_token=t1", "http://cam/x?api_token=***"),
        ("rtsp://10.0.0.5/live", "rtsp://10.0.0.5/live"),
        ("/data/clips/day.mp4", "/data/clips/day.mp4"),
    ],
)
def test_redact_url_credentials_are_masked(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_text_ffmpeg_message_masks_userinfo_and_query_secrets() -> None:
    text = "[Errno 111] Connection refused: 'rtsp://u:pw@h:554/a?sig=zz&x=1'"
    out = redact_text(text)
    assert "pw" not in out and "zz" not in out
    assert "rtsp://***@h:554/a?sig=***&x=1" in out


def test_camera_spec_repr_url_is_redacted() -> None:
    spec = CameraSpec(camera_id="c", url="rtsp://admin:hunter2@cam/live")
    assert "hunter2" not in repr(spec) and "hunter2" not in str(spec)


def test_redact_url_redis_login_hidden_as_for_cameras():
    assert redact_url("redis://user:secret@host:6379/0") == "redis://***@host:6379/0"
    assert redact_url("redis://:secret@host:6379") == "redis://***@host:6379"
    assert redact_url("redis://host:6379") == "redis://host:6379"
