"""The load signal read from a real Triton server's statistics."""

from __future__ import annotations

import time

import numpy as np

from pipeline.controller.load import LoadMonitor
from pipeline.serving.client import TritonClient
from pipeline.status import LoadSignal


def test_load_monitor_first_read_empty_then_means_of_the_window(tiny_server):
    frames = np.zeros((4, 16, 16, 3), np.uint8)
    with TritonClient(tiny_server.grpc_url) as client:
        monitor = LoadMonitor(lambda: [client], ["tiny"])
        assert monitor.read().queue_ms == {}
        for _ in range(5):
            client.infer("tiny", frames)
        time.sleep(0.5)  # Triton books a request's statistics just after it answers
        signal = monitor.read()
        assert set(signal.queue_ms) == {"tiny"} and signal.queue_ms["tiny"] >= 0
        assert signal.compute_ms["tiny"] > 0 and signal.window_s > 0
        assert monitor.read().queue_ms == {}  # nothing new in the next window


def test_load_monitor_server_down_counts_errors_and_reports_nothing():
    with TritonClient("127.0.0.1:1", timeout_s=1, retries=0) as client:
        monitor = LoadMonitor(lambda: [client], ["tiny"])
        monitor.read()
        assert monitor.read().queue_ms == {} and monitor.errors == 2


def test_load_signal_queue_for_model_or_worst():
    signal = LoadSignal(queue_ms={"a": 5.0, "b": 40.0})
    assert signal.queue_for("a") == 5.0 and signal.queue_for(None) == 40.0 and signal.queue_for("c") is None
    assert LoadSignal().queue_for(None) is None
