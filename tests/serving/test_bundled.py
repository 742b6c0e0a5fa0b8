"""Reading a tritonserver log: how the server died."""

from __future__ import annotations

from pathlib import Path

from pipeline.serving.bundled import crash_lines


def test_crash_lines_name_the_signal_and_the_exception_not_startup_noise(tmp_path: Path) -> None:
    log = tmp_path / "tritonserver.log"
    log.write_text(
        'E1203 11:34:38.758111 26864 server.cc:241] "CudaDriverHelper has not been initialized."\n'
        "I1203 11:34:40.000000 26864 grpc_server.cc:2466] Started GRPCInferenceService at 127.0.0.1:1\n"
        "Signal (11) received.\n"
        " 0# 0x000055D1 in /opt/tritonserver/bin/tritonserver\n"
        "terminate called after throwing an instance of 'boost::interprocess::lock_exception'\n"
        "  what():  boost::interprocess::lock_exception\n"
    )
    assert crash_lines(log) == [
        "Signal (11) received.",
        "terminate called after throwing an instance of 'boost::interprocess::lock_exception'",
        "what():  boost::interprocess::lock_exception",
    ]
    assert crash_lines(tmp_path / "missing.log") == []
