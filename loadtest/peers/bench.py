"""``camfleet bench peers``: camfleet against the loops a user already runs, same model, same live cameras.

For each design and camera count, simulated 640x360 cameras (real-time TCP streams of synthetic clips, all
in daylight, so a condition specialist serves every stream) are read by each system in turn:

- **camfleet**: the fleet as ``camfleet run`` starts it (camera workers, the embedded Triton with its CPU
  plan, Redis, tracking and events);
- **naive**: one thread per camera, decode, resize, the TorchScript model on each frame
  (:mod:`loadtest.peers.naive`);
- **roboflow**: Roboflow's ``inference`` InferencePipeline multiplexing every camera, running the same
  TorchScript model on each batch it hands over (:mod:`loadtest.peers.roboflow`); only when its separate
  environment exists (``make peers-env``), since ``inference`` pins packages of its own.

Every system runs the same exported TorchScript file (``<model>/1/model.pt``, the weights Triton serves) and
counts frames by capture time inside the window (warm-up backlog discarded). Per point: aggregate fps, the
slowest and the mean camera's fps, p50/p95/p99 latency from decode to detections, and the CPU of the
system's own processes per inferred frame (camfleet: workers, controller, Triton with its stubs, Redis;
the others: their process). The process that serves the cameras is not counted for any system.

Capacity is the most cameras (of the counts tried) at which every camera got at least 95% of its frame
rate; the saturated figure is the best aggregate fps over the counts.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loadtest.measure import measure_point
from loadtest.runner import pipeline_config, simulated_cameras
from loadtest.settings import LoadTestSettings, parse_mix
from pipeline.errors import CamfleetError
from pipeline.models.designs import get_design
from pipeline.models.export import export_repository
from pipeline.models.model_config import ModelConfig
from pipeline.report_schema import MEETS_TARGET
from pipeline.runtime.services import services

logger = logging.getLogger(__name__)

SYSTEMS = ("camfleet", "naive", "roboflow")
PEER_MODELS = {"monolith": "monolith", "specialists-condition": "specialist_day"}
"""The model each peer runs for a design: every simulated camera is in daylight."""
REPO_ROOT = Path(__file__).resolve().parents[2]
ROBOFLOW_PYTHON = REPO_ROOT / ".venv-peers" / "bin" / "python"
CAMERA_FPS = 10.0
RESOLUTION = (640, 360)
SYSTEM_PROCESSES = ("camera_workers", "controller", "triton", "redis")
"""camfleet's process groups whose CPU counts (the driver only serves the simulated cameras here)."""


@dataclass(frozen=True)
class PeerPoint:
    """One system at one camera count."""

    system: str
    design: str
    model: str
    cameras: int
    offered_fps: float
    aggregate_fps: float
    min_camera_fps: float
    mean_camera_fps: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    cpu_ms_per_frame: float | None
    service_ms_per_batch: dict[str, float] = field(default_factory=dict)
    notes: str = ""

    @property
    def keeps_up(self) -> bool:
        """Every camera got at least 95% of its frame rate."""
        return self.min_camera_fps >= MEETS_TARGET * CAMERA_FPS


@dataclass(frozen=True)
class SystemSummary:
    """One system over the camera counts of one design."""

    system: str
    design: str
    capacity: int
    saturated_fps: float
    points: int


@dataclass
class PeerReport:
    """Every point and the summaries, with the ratios camfleet / peer."""

    points: list[PeerPoint]
    skipped: dict[str, str]

    def summaries(self) -> list[SystemSummary]:
        """Capacity and saturated fps per system and design."""
        keys = sorted({(p.design, p.system) for p in self.points}, key=lambda k: (k[0], SYSTEMS.index(k[1])))
        out = []
        for design, system in keys:
            mine = [p for p in self.points if p.design == design and p.system == system]
            capacity = max((p.cameras for p in mine if p.keeps_up), default=0)
            out.append(SystemSummary(system, design, capacity, max(p.aggregate_fps for p in mine), len(mine)))
        return out

    def ratios(self) -> dict[str, dict[str, dict[str, float | None]]]:
        """Design -> peer -> capacity and saturated-fps ratios of camfleet to that peer."""
        by_key = {(s.design, s.system): s for s in self.summaries()}
        ratios: dict[str, dict[str, dict[str, float | None]]] = {}
        for (design, system), summary in by_key.items():
            ours = by_key.get((design, "camfleet"))
            if system == "camfleet" or ours is None:
                continue
            ratios.setdefault(design, {})[system] = {
                "capacity": round(ours.capacity / summary.capacity, 2) if summary.capacity else None,
                "saturated_fps": round(ours.saturated_fps / summary.saturated_fps, 2)
                if summary.saturated_fps
                else None,
            }
        return ratios

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "points": [asdict(p) | {"keeps_up": p.keeps_up} for p in self.points],
            "summaries": [asdict(s) for s in self.summaries()],
            "ratios": self.ratios(),
            "skipped": self.skipped,
        }


def _settings(design: str, cameras: int, seconds: float, warmup_s: float) -> LoadTestSettings:
    return LoadTestSettings(
        out=Path(tempfile.gettempdir()),
        designs=(design,),
        cameras=(cameras,),
        mix=parse_mix("day=1"),
        fps=CAMERA_FPS,
        resolution=RESOLUTION,
        duration_s=seconds,
        warmup_s=warmup_s,
    )


def _camfleet_points(
    model_config: ModelConfig,
    design: str,
    repository: Path,
    counts: Sequence[int],
    seconds: float,
    warmup_s: float,
    latency_budget_s: float | None,
) -> Iterator[PeerPoint]:
    base = _settings(design, counts[0], seconds, warmup_s)
    with services(pipeline_config(base, design, []), repository=repository) as running:
        for count in counts:
            settings = _settings(design, count, seconds, warmup_s)
            simulator = simulated_cameras(settings, count, seconds=10.0)
            with simulator:
                run = measure_point(
                    pipeline_config(settings, design, simulator.cameras, latency_budget_s=latency_budget_s),
                    model_config,
                    running,
                    warmup_s=warmup_s,
                    duration_s=seconds,
                    models=list(get_design(design).required_models),
                )
            cpu = sum(run.cpu_seconds.get(group, 0.0) for group in SYSTEM_PROCESSES)
            p = run.point
            logger.info("camfleet %s x%d: %.1f fps", design, count, p.aggregate_fps)
            yield (
                PeerPoint(
                    system="camfleet",
                    design=design,
                    model=",".join(sorted(get_design(design).served_models)),
                    cameras=count,
                    offered_fps=p.offered_fps,
                    aggregate_fps=p.aggregate_fps,
                    min_camera_fps=p.min_camera_fps or 0.0,
                    mean_camera_fps=p.per_camera_fps,
                    latency_p50_ms=p.latency_p50_ms,
                    latency_p95_ms=p.latency_p95_ms,
                    latency_p99_ms=p.latency_p99_ms,
                    cpu_ms_per_frame=round(1000 * cpu / run.inferred, 3) if run.inferred else None,
                    service_ms_per_batch=run.service_ms,
                    notes=f"{run.discarded} warm-up frames discarded",
                )
            )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _peer_point(
    system: str,
    python: Path,
    model: Path,
    input_size: int,
    design: str,
    count: int,
    seconds: float,
    warmup_s: float,
) -> PeerPoint:
    settings = _settings(design, count, seconds, warmup_s)
    simulator = simulated_cameras(settings, count, seconds=10.0)
    with simulator, tempfile.TemporaryDirectory() as scratch:
        cameras = simulator.cameras
        out = Path(scratch) / "result.json"
        command = [
            str(python), "-m", f"loadtest.peers.{system}", "--model", str(model),
            "--input-size", str(input_size), "--urls", *[c.url for c in cameras],
            "--seconds", str(seconds), "--warmup", str(warmup_s), "--json", str(out),
        ]  # fmt: skip
        limit = 120 + 5 * count + warmup_s + seconds
        done = subprocess.run(
            command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=limit, check=False
        )
        if not out.is_file():  # exit 1 with a result: it ran, and inferred no frame
            raise CamfleetError(f"the {system} runner failed (exit {done.returncode}): {done.stderr[-1500:]}")
        result = json.loads(out.read_text())
    fps = list(result["per_camera_fps"].values())
    latency = result["latency_ms"]
    errors = result.get("errors") or []
    return PeerPoint(
        system=system,
        design=design,
        model=model.parent.parent.name,
        cameras=count,
        offered_fps=count * CAMERA_FPS,
        aggregate_fps=round(result["aggregate_fps"], 2),
        min_camera_fps=round(min(fps), 2) if len(fps) == count else 0.0,
        mean_camera_fps=round(sum(fps) / count, 2),
        latency_p50_ms=_rounded(latency.get("p50")),
        latency_p95_ms=_rounded(latency.get("p95")),
        latency_p99_ms=_rounded(latency.get("p99")),
        cpu_ms_per_frame=result.get("cpu_ms_per_frame"),
        notes="; ".join(str(e) for e in errors[:3]),
    )


def bench_peers(
    model_config: ModelConfig,
    *,
    designs: Sequence[str] = ("monolith", "specialists-condition"),
    cameras: Sequence[int] = (4, 8, 12, 16, 20),
    seconds: float = 10.0,
    warmup_s: float = 5.0,
    systems: Sequence[str] = SYSTEMS,
    roboflow_python: Path = ROBOFLOW_PYTHON,
    latency_budget_s: float | None = None,
    on_point: Callable[[PeerPoint], None] | None = None,
) -> PeerReport:
    """Measure every system at every camera count for each design (see the module docstring).

    Raises:
        CamfleetError: for a design without a peer model, an unknown system, or a runner that failed.
    """
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        raise CamfleetError(f"unknown system(s) {unknown}; choose from {', '.join(SYSTEMS)}")
    missing = [d for d in designs if d not in PEER_MODELS]
    if missing:
        raise CamfleetError(f"no peer model for {missing}; peers run {', '.join(PEER_MODELS)}")
    skipped: dict[str, str] = {}
    if "roboflow" in systems and not roboflow_python.is_file():
        skipped["roboflow"] = f"{roboflow_python} is missing: run `make peers-env` (installs inference 1.8.3)"
        systems = [s for s in systems if s != "roboflow"]
    points: list[PeerPoint] = []

    def keep(point: PeerPoint) -> None:
        points.append(point)
        if on_point is not None:
            on_point(point)

    counts = sorted(set(cameras))
    with tempfile.TemporaryDirectory(prefix="camfleet-peers-") as scratch:
        for design in designs:
            repository = Path(scratch) / design
            models = sorted(set(get_design(design).required_models) | {PEER_MODELS[design]})
            export_repository(model_config, repository, models=models)
            model = repository / PEER_MODELS[design] / "1" / "model.pt"
            if "camfleet" in systems:
                budget = latency_budget_s
                for point in _camfleet_points(
                    model_config, design, repository, counts, seconds, warmup_s, budget
                ):
                    keep(point)
            for system in (s for s in systems if s != "camfleet"):
                python = roboflow_python if system == "roboflow" else Path(sys.executable)
                for count in counts:
                    keep(
                        _peer_point(
                            system, python, model, model_config.input_size, design, count, seconds, warmup_s
                        )
                    )
    return PeerReport(points, skipped)
