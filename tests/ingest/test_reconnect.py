from __future__ import annotations

import pytest

from pipeline.ingest.reconnect import Backoff
from pipeline.ingest.spec import BackoffConfig


def test_backoff_failures_grow_exponentially_up_to_cap() -> None:
    backoff = Backoff(BackoffConfig(initial_s=0.5, factor=2, max_s=4, jitter=0), seed=1)
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1, 2, 4, 4, 4]
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_backoff_jitter_stays_within_bounds_and_varies() -> None:
    backoff = Backoff(BackoffConfig(initial_s=1, factor=1, max_s=1, jitter=0.2), seed=3)
    delays = [backoff.next_delay() for _ in range(200)]
    assert min(delays) >= 0.8 and max(delays) <= 1.2
    assert len(set(delays)) > 100


def test_backoff_config_cap_below_initial_is_rejected() -> None:
    from pipeline.ingest.spec import CameraSpec

    with pytest.raises(ValueError, match="max_s"):
        CameraSpec(camera_id="c", url="x.mp4", backoff=BackoffConfig(initial_s=5, max_s=1))
