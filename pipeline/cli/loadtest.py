"""`camfleet loadtest`: sweep camera counts per design on real Triton, Redis, Ray and PyAV; write a report."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.common import ModelConfigOption, console, handle_errors

logger = logging.getLogger(__name__)


@handle_errors
def loadtest_command(
    out: Annotated[
        Path, typer.Option("--out", file_okay=False, help="Folder for report.json, .md and plots.")
    ],
    designs: Annotated[
        str | None, typer.Option(help="Comma-separated designs (default: all five; --quick: two).")
    ] = None,
    cameras: Annotated[str | None, typer.Option(help="Camera counts to sweep, e.g. 1,2,4,8,16,32.")] = None,
    mix: Annotated[str, typer.Option(help="Condition shares; each camera gets one fixed condition.")] = (
        "day=0.5,dusk=0.3,night=0.2"
    ),
    batching: Annotated[
        str,
        typer.Option(help="client: the pipeline's batcher; server: one frame per request, Triton batches."),
    ] = "client",
    fps: Annotated[float, typer.Option(min=0.1, max=60, help="Target fps per camera.")] = 10.0,
    resolution: Annotated[str, typer.Option(help="Camera resolution WxH.")] = "640x360",
    duration: Annotated[float, typer.Option(min=0.5, help="Measured seconds per point.")] = 10.0,
    warmup: Annotated[float, typer.Option(min=0.0, help="Warm-up seconds per point.")] = 3.0,
    rtsp: Annotated[bool, typer.Option("--rtsp", help="Serve cameras through rtsp-server-perl.")] = False,
    model_config: ModelConfigOption = None,
    knee_step: Annotated[
        int,
        typer.Option(
            min=0, help="Bisect near the knee until the bracket is at most this many cameras (0: off)."
        ),
    ] = 2,
    baseline: Annotated[
        bool, typer.Option("--baseline/--no-baseline", help="Also run the naive loop at every point.")
    ] = True,
    quick: Annotated[
        bool,
        typer.Option("--quick", help="Under 3 min: 2 designs, cameras 1,2,4, short points, cheap limits."),
    ] = False,
) -> None:
    """Grow the number of simulated cameras per design; report throughput, latency, drops, CPU and the knee.

    After the sweep, camera counts between the last point that met the target and the first that missed
    it are bisected (``--knee-step``), so the knee is measured rather than bracketed by the sweep.

    Also measures, in the same run, the decode-only and inference-only limits and a naive baseline (one
    thread per camera, one frame per request).

    Examples:
      camfleet loadtest --quick --out loadtest-out

      camfleet loadtest --designs monolith,shared-condition --cameras 1,2,4,8 --out out

      camfleet loadtest --batching server --mix day=1 --fps 5 --out out-server

      camfleet loadtest --model-config wide.yaml --cameras 2,4,8,16,32 --no-baseline --out out-wide
    """
    from loadtest.render import write_outputs
    from loadtest.runner import run_loadtest
    from loadtest.settings import (
        LoadTestSettings,
        parse_cameras,
        parse_mix,
        parse_resolution,
        quick_preset,
    )
    from pipeline.errors import ConfigError

    if batching not in ("client", "server"):
        raise ConfigError(f"--batching must be client or server, got {batching!r}")
    chosen = tuple(d.strip() for d in designs.split(",") if d.strip()) if designs else None
    defaults = LoadTestSettings(out=out)
    settings = LoadTestSettings(
        out=out,
        designs=chosen or defaults.designs,
        cameras=parse_cameras(cameras) if cameras else defaults.cameras,
        mix=parse_mix(mix),
        batching="server" if batching == "server" else "client",
        fps=fps,
        resolution=parse_resolution(resolution),
        duration_s=duration,
        warmup_s=warmup,
        rtsp=rtsp,
        model_config=model_config,
        knee_step=knee_step,
        baseline_s=defaults.baseline_s if baseline else 0.0,
    )
    if quick:
        settings = quick_preset(settings, designs_given=chosen is not None, cameras_given=cameras is not None)
    outcome = run_loadtest(settings)
    report = write_outputs(outcome, out)
    console.print(report.conclusion)
    console.print(f"report: {out / 'report.md'} ({outcome.wall_s:.0f} s)")
