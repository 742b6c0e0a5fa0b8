"""How fast this machine is right now: a fixed reference workload, timed in CPU seconds.

A shared VM's speed drifts: on the 2-core development VM the same load-test point cost 11-19% less CPU at
one hour than at another, with the same code. A prediction from a profile calibrated at one speed, checked
against a load test run at another, carries that drift as planner error. So ``camfleet plan calibrate``
and the load tester (before and after each design's sweep) both time the same reference workload and
record it, and ``camfleet plan validate --scale-speed`` scales the profile's CPU costs by how much slower
or faster the machine was during the sweep than during the calibration (:meth:`SpeedReference.factor`).
That is not the default: on the load tests of 2026-12-07 the reference read the machine 3-24% slower
during the sweeps (the services of the load test were up, idle, beside it) while the throughput said
otherwise, and scaling made the errors larger.

The workload has the three kinds of work the pipeline does: convolutions in torch on one thread
(inference), interpreted Python (the worker loop, the Triton client and the python backend) and large
array copies (frames through memory). Each is timed in thread CPU seconds, the median of several rounds,
in a fresh interpreter (``python -m pipeline.planner.speed``), so the caller's torch threads and caches
do not matter. It never depends on a model config.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from pipeline.errors import CamfleetError
from pipeline.planner.timing import median_s

_ROUNDS = 7
_TIMEOUT_S = 60.0


class SpeedReference(BaseModel):
    """CPU seconds of each part of the reference workload (smaller: a faster machine)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    torch_s: float = Field(gt=0, description="Fixed convolutions on one torch thread.")
    python_s: float = Field(gt=0, description="Fixed interpreted Python (dicts, tuples, sorting).")
    memory_s: float = Field(gt=0, description="Fixed copies of 640x360 RGB frames through numpy.")

    def factor(self, calibrated: SpeedReference) -> float:
        """How much more CPU the same work takes now than at ``calibrated``: the geometric mean of parts."""
        ratios = (
            self.torch_s / calibrated.torch_s,
            self.python_s / calibrated.python_s,
            self.memory_s / calibrated.memory_s,
        )
        return math.prod(ratios) ** (1 / len(ratios))

    @staticmethod
    def mean(references: list[SpeedReference]) -> SpeedReference:
        """The part-by-part mean of several readings (e.g. before and after a sweep)."""
        return SpeedReference(
            torch_s=statistics.fmean(r.torch_s for r in references),
            python_s=statistics.fmean(r.python_s for r in references),
            memory_s=statistics.fmean(r.memory_s for r in references),
        )


def _timed(work: Callable[[], object]) -> float:
    return median_s(work, reps=_ROUNDS, clock=time.thread_time)


def _torch_work() -> Callable[[], object]:
    import torch
    from torch import nn

    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 32, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1),
        nn.Conv2d(64, 24, 1),
    ).eval()
    images = torch.rand(8, 3, 96, 96)

    def work() -> object:
        with torch.inference_mode():
            return net(images)

    return work


def _python_work() -> object:
    boxes: dict[int, list[tuple[float, float, float, float]]] = {}
    for i in range(80_000):
        boxes.setdefault(i % 97, []).append((i * 0.5, i * 0.25, (i % 13) * 1.5, float(i % 7)))
    return sorted((len(v), k) for k, v in boxes.items())


def _memory_work() -> Callable[[], object]:
    import numpy as np

    frames = np.random.default_rng(0).integers(0, 256, (32, 360, 640, 3), dtype=np.uint8)

    def work() -> object:
        return np.ascontiguousarray(frames[:, ::-1]).astype(np.float32).sum()

    return work


def measure_here() -> SpeedReference:
    """Time the reference workload in this process (the module's ``__main__`` does this)."""
    return SpeedReference(
        torch_s=_timed(_torch_work()), python_s=_timed(_python_work), memory_s=_timed(_memory_work())
    )


def measure_speed() -> SpeedReference:
    """Time the reference workload in a fresh interpreter (a few seconds).

    Raises:
        CamfleetError: if the measuring process fails or does not answer in time.
    """
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pipeline.planner.speed"],
            capture_output=True,
            text=True,
            timeout=_TIMEOUT_S,
            check=True,
        )
        return SpeedReference.model_validate_json(done.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, OSError, IndexError, ValueError) as exc:
        raise CamfleetError(f"the machine-speed reference could not be measured: {exc}") from exc


if __name__ == "__main__":
    print(json.dumps(measure_here().model_dump()))
