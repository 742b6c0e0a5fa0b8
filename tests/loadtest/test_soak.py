"""A short soak through the real fleet: samples per process group, growth figures, events accounted for."""

from __future__ import annotations

import pytest

from loadtest.soak import soak
from pipeline.models import load_model_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


def test_soak_short_run_samples_every_group_and_accounts_for_every_event() -> None:
    seen = []
    result = soak(
        load_model_config(), minutes=0.25, cameras=2, fps=5.0, interval_s=5.0, on_sample=seen.append
    )
    assert len(result.samples) >= 3 and seen == result.samples
    for sample in result.samples:
        assert set(sample.groups) == {"driver", "controller", "camera_workers", "triton", "redis"}
        assert all(
            group.rss_mb > 0 and group.fds > 0 and group.threads > 0 for group in sample.groups.values()
        )
    assert set(result.rss_growth_pct) == set(result.fd_growth) == set(result.samples[0].groups)
    assert result.events_published > 0 and result.events_delivered == result.events_published
