"""The worker profile's stage classification of py-spy stacks (the profile itself runs in the benchmark)."""

from __future__ import annotations

from loadtest.profile import classify, stage_samples


def test_classify_charges_the_innermost_matching_frame() -> None:
    decode = ";".join(
        (
            "Thread.run (threading.py:982)",
            "CameraReader._run (pipeline/ingest/camera.py:150)",
            "decode (av/codec/x:1)",
        )
    )
    assert classify(decode) == "decode"
    batching = (
        "CameraWorker.step (pipeline/worker/worker.py:2);ModelBatcher.poll (pipeline/batching/batcher.py:3)"
    )
    assert classify(batching) == "batching"
    client = "ModelBatcher.poll (pipeline/batching/batcher.py:300);infer (tritonclient/grpc/_client.py:1)"
    assert classify(client) == "inference transport"  # innermost first: the client call inside the batcher
    assert classify("main (somewhere.py:1)") == "other"


def test_stage_samples_sums_counts_and_skips_malformed_lines() -> None:
    raw = (
        "a (pipeline/batching/batcher.py:1) 3\n"
        "b (pipeline/batching/batcher.py:2) 2\n"
        "c (pipeline/worker/event_stage.py:1) 4\n"
        "garbage-without-count\n"
    )
    assert stage_samples(raw) == {"batching": 5, "tracking and events": 4}
