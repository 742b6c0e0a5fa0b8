"""CPU accounting of the load tester's components: per-thread run times, not 10 ms clock ticks."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from loadtest.resources import ResourceSampler

_SPIN_ON_REQUEST = """
import sys, threading, time

def spin():
    start = time.thread_time()
    while time.thread_time() - start < 0.015:
        pass
    print("done", flush=True)
    sys.stdin.readline()  # alive until the window closes: a thread that ends in it is not counted

print("ready", flush=True)
sys.stdin.readline()
worker = threading.Thread(target=spin)  # started inside the window
worker.start()
worker.join()
"""


@pytest.mark.timeout(60)
def test_sampler_reads_a_few_milliseconds_of_cpu_without_tick_rounding() -> None:
    # 15 ms of CPU in a thread started inside the window: clock ticks would read 10 or 20 ms.
    child = subprocess.Popen(
        [sys.executable, "-c", _SPIN_ON_REQUEST], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "ready"
        sampler = ResourceSampler({"child": [child.pid]})
        sampler.start()
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "done"
        usage = sampler.stop()
        child.stdin.write("end\n")
        child.stdin.flush()
        child.wait(30)
    finally:
        child.kill()
        child.wait()
    assert 0.015 <= usage.cpu_seconds["child"] < 0.019


@pytest.mark.timeout(60)
def test_sampler_counts_another_process_and_a_vanished_one_as_zero() -> None:
    busy = subprocess.Popen(
        [sys.executable, "-c", "import time\nt=time.process_time()\nwhile time.process_time()-t<0.2: pass\n"
         "time.sleep(30)"]
    )  # fmt: skip
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        gone.wait(30)
        sampler = ResourceSampler({"busy": [busy.pid], "gone": [gone.pid]})
        sampler.start()
        time.sleep(1.0)  # the busy child spins its 0.2 s of CPU after its interpreter starts
        usage = sampler.stop()
    finally:
        busy.kill()
        busy.wait()
    assert 0.0 < usage.cpu_seconds["busy"] <= 0.3
    # The host's CPU comes in 10 ms ticks (no finer source): read over this 1 s window, not a 15 ms one.
    assert usage.cpu_percent["machine"] > 0
    assert usage.cpu_seconds["gone"] == 0.0 and usage.rss_mb["gone"] == 0.0
