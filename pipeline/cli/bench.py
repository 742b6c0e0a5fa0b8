"""`camfleet bench` verbs: benchmarks that print figures."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from pipeline.cli.common import JsonOption, ModelConfigOption, console, handle_errors, model_config_from

if TYPE_CHECKING:
    from loadtest.bench import PipelineBenchRow

app = typer.Typer(
    help=(
        "Benchmarks that print figures (ratios measured side by side in one run).\n\n"
        "Examples:\n\n"
        "  camfleet bench models\n\n"
        "  camfleet bench models --design monolith --batch 32 --json\n\n"
        "  camfleet bench pipeline --cameras 8 --fps 10\n\n"
        "  camfleet bench profile --design monolith"
    ),
    no_args_is_help=True,
)


@app.command("models")
@handle_errors
def models_command(
    model_config: ModelConfigOption = None,
    input_size: Annotated[int | None, typer.Option(help="Override the config's input size.")] = None,
    design: Annotated[list[str] | None, typer.Option(help="Only these designs (repeatable).")] = None,
    batch: Annotated[
        list[int] | None, typer.Option(help="Batch sizes (repeatable; default 1, 8, 32).")
    ] = None,
    seconds: Annotated[float, typer.Option(min=0.1, help="Measuring time per figure.")] = 2.0,
    as_json: JsonOption = False,
) -> None:
    """Frames/s per design and batch: direct PyTorch, Triton over gRPC and over shared memory."""
    from pipeline.bench.models import DEFAULT_BATCHES, bench_models

    config = model_config_from(model_config, input_size)
    rows = bench_models(
        config, designs=design, batches=batch or DEFAULT_BATCHES, seconds=seconds, show_progress=not as_json
    )
    if as_json:
        print(json.dumps([row.to_dict() for row in rows], indent=2))
        return
    table = Table(title=f"models: frames/s at {config.input_size}px (this machine, one run)")
    for column in ("design", "batch", "transport", "fps", "x torch"):
        table.add_column(column, justify="left" if column in ("design", "transport") else "right")
    for row in rows:
        table.add_row(
            row.design, str(row.batch), row.transport, f"{row.fps:.1f}", f"{row.ratio_to_torch:.2f}"
        )
    console.print(table)


@app.command("pipeline")
@handle_errors
def pipeline_command(
    cameras: Annotated[int, typer.Option(min=1, max=256, help="Simulated cameras (paced case).")] = 8,
    fps: Annotated[float, typer.Option(min=0.1, max=60, help="Target fps per camera.")] = 10.0,
    resolution: Annotated[str, typer.Option(help="Camera resolution WxH.")] = "640x360",
    design: Annotated[
        list[str] | None, typer.Option(help="Network design to serve (repeatable; default monolith).")
    ] = None,
    workers: Annotated[
        str, typer.Option(help="Also run the saturated case on these numbers of workers, e.g. 1,2,4.")
    ] = "",
    seconds: Annotated[float, typer.Option(min=1.0, help="Measured seconds per case.")] = 8.0,
    motion_gate: Annotated[
        bool, typer.Option("--motion-gate/--no-motion-gate", help="Also run the paced case with the gate on.")
    ] = True,
    model_config: ModelConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Pipeline fps against the decode-only and inference-only limits, and CPU per frame outside both.

    Examples:
      camfleet bench pipeline

      camfleet bench pipeline --cameras 16 --fps 5 --design shared-condition --json

      camfleet bench pipeline --design monolith --design specialists-condition --workers 1,2,4
    """
    from loadtest.bench import bench_pipeline
    from loadtest.settings import parse_resolution

    scale = tuple(int(part) for part in workers.split(",") if part.strip())
    results = {
        name: bench_pipeline(
            model_config_from(model_config),
            cameras=cameras,
            fps=fps,
            resolution=parse_resolution(resolution),
            design=name,
            seconds=seconds,
            motion_gate=motion_gate,
            scale_workers=scale,
        )
        for name in design or ["monolith"]
    }
    if as_json:
        print(json.dumps({name: [row.to_dict() for row in rows] for name, rows in results.items()}, indent=2))
        return
    for name, rows in results.items():
        _print_table(name, resolution, rows)
    console.print(
        "paced: the requested load; saturated: offered > the limits, so 'x lower limit' is efficiency. "
        "controller ms/frame: CPU of the processes that only steer."
    )


def _print_table(design: str, resolution: str, rows: list[PipelineBenchRow]) -> None:
    table = Table(title=f"pipeline: {design}, {resolution} cameras (this machine, one run)")
    columns = (
        "case",
        "cameras",
        "fps/cam",
        "offered",
        "aggregate",
        "decode-only",
        "inference-only",
        "x lower limit",
        "worker CPU ms/frame outside",
        "controller ms/frame (CPU %)",
        "p50/p99 ms",
        "skipped %",
        "cameras servable",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "case" else "right")
    for r in rows:
        table.add_row(
            r.case,
            str(r.cameras),
            f"{r.per_camera_fps:.1f}/{r.target_fps:g}",
            f"{r.offered_fps:.0f}",
            f"{r.aggregate_fps:.1f}",
            f"{r.decode_only_fps:.0f}",
            f"{r.inference_only_fps:.0f}",
            f"{r.ratio_to_lower_limit:.2f}",
            f"{r.worker_outside_ms_per_frame:.2f}",
            f"{r.controller_ms_per_frame:.3f} ({r.controller_cpu_percent:.1f})",
            f"{r.latency_p50_ms or 0:.0f}/{r.latency_p99_ms or 0:.0f}",
            f"{r.skipped_pct:.0f}",
            f"{r.cameras_servable:.1f}",
        )
    console.print(table)


@app.command("soak")
@handle_errors
def soak_command(
    minutes: Annotated[float, typer.Option(min=0.1, help="How long to run.")] = 60.0,
    cameras: Annotated[int, typer.Option(min=1, max=64, help="Simulated cameras.")] = 4,
    fps: Annotated[float, typer.Option(min=0.1, max=30, help="Target fps per camera.")] = 5.0,
    design: Annotated[
        str, typer.Option(help="Network design (trained demo weights).")
    ] = "specialists-condition",
    interval: Annotated[float, typer.Option(min=1.0, help="Seconds between samples.")] = 60.0,
    model_config: ModelConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """A paced fleet for N minutes: RSS, file descriptors and threads per process every minute, and the slope.

    Examples:
      camfleet bench soak --minutes 60

      camfleet bench soak --minutes 5 --interval 10 --cameras 8 --json
    """
    from loadtest.soak import SoakSample, soak

    def show(sample: SoakSample) -> None:
        if not as_json:
            groups = ", ".join(
                f"{n} {g.rss_mb:.0f} MB/{g.fds} fds/{g.threads} thr" for n, g in sample.groups.items()
            )
            console.print(
                f"{sample.t_s / 60:5.1f} min  {groups}  redis {sample.redis_used_mb:.1f} MB  "
                f"events {sample.events_published} published / {sample.events_in_stream} in the stream"
            )

    result = soak(
        model_config_from(model_config),
        minutes=minutes,
        cameras=cameras,
        fps=fps,
        design=design,
        interval_s=interval,
        on_sample=show,
    )
    if as_json:
        print(result.to_json())
        return
    table = Table(title=f"soak: {minutes:g} min, {cameras} cameras at {fps:g} fps, {design}")
    for column in ("process group", "RSS first / last MB", "RSS growth after warm-up %", "FD change"):
        table.add_column(column, justify="left" if column == "process group" else "right")
    first, last = result.samples[0], result.samples[-1]
    for name in first.groups:
        table.add_row(
            name,
            f"{first.groups[name].rss_mb:.0f} / {last.groups[name].rss_mb:.0f}",
            f"{result.rss_growth_pct[name]:+.2f}",
            f"{result.fd_growth[name]:+d}",
        )
    console.print(table)
    console.print(
        f"events: {result.events_published} published, {result.events_delivered} distinct in the stream"
    )


@app.command("profile")
@handle_errors
def profile_command(
    design: Annotated[str, typer.Option(help="Network design.")] = "monolith",
    cameras: Annotated[int, typer.Option(min=1, max=64, help="Simulated cameras (one worker).")] = 8,
    fps: Annotated[float, typer.Option(min=0.1, max=60, help="Target fps per camera.")] = 10.0,
    seconds: Annotated[float, typer.Option(min=2.0, max=600, help="Sampled seconds.")] = 15.0,
    stacks: Annotated[
        Path | None, typer.Option(help="Also write py-spy's collapsed stacks here (for speedscope).")
    ] = None,
    model_config: ModelConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Where a camera worker's CPU goes per inferred frame: by thread (exact) and by stage (py-spy).

    Examples:
      camfleet bench profile

      camfleet bench profile --design specialists-condition --cameras 8 --stacks worker.txt
    """
    from loadtest.profile import profile_worker

    result = profile_worker(
        model_config_from(model_config),
        design=design,
        cameras=cameras,
        fps=fps,
        seconds=seconds,
        stacks_out=stacks,
    )
    if as_json:
        print(
            json.dumps(
                dataclasses.asdict(result)
                | {"outside_decode_ms_per_frame": result.outside_decode_ms_per_frame},
                indent=2,
            )
        )
        return
    load = f"{design}, {cameras} x {fps:g} fps, {result.frames_inferred} frames"
    threads = Table(title=f"worker CPU per inferred frame: {load}")
    threads.add_column("thread role")
    threads.add_column("ms/frame", justify="right")
    for role, ms in result.threads_ms_per_frame.items():
        threads.add_row(role, f"{ms:.3f}")
    threads.add_row("[b]outside decode[/b]", f"[b]{result.outside_decode_ms_per_frame:.3f}[/b]")
    console.print(threads)
    stages = Table(title="Python work (GIL held) by stage, sampled by py-spy")
    for column in ("stage", "samples", "ms/frame"):
        stages.add_column(column, justify="left" if column == "stage" else "right")
    for stage in result.stages:
        stages.add_row(stage.stage, str(stage.samples), f"{stage.ms_per_frame:.3f}")
    console.print(stages)


@app.command("peers")
@handle_errors
def peers_command(
    design: Annotated[
        list[str] | None,
        typer.Option(help="monolith and/or specialists-condition (repeatable; default both)."),
    ] = None,
    cameras: Annotated[str, typer.Option(help="Camera counts, e.g. 4,8,12,16,20.")] = "4,8,12,16,20",
    system: Annotated[
        list[str] | None, typer.Option(help="camfleet, naive, roboflow (repeatable; default all).")
    ] = None,
    seconds: Annotated[float, typer.Option(min=2.0, help="Measured seconds per point.")] = 10.0,
    warmup: Annotated[float, typer.Option(min=0.0, help="Warm-up seconds per point.")] = 5.0,
    latency_budget: Annotated[
        float | None, typer.Option(min=0.01, help="camfleet's batching.latency_budget_s (default 0.2).")
    ] = None,
    model_config: ModelConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare camfleet with a naive per-camera loop and Roboflow's InferencePipeline on the same cameras.

    Roboflow runs only when its environment exists (`make peers-env`); otherwise it is reported as skipped.

    Examples:
      camfleet bench peers

      camfleet bench peers --design monolith --cameras 8,16 --system camfleet --system naive --json
    """
    from loadtest.peers.bench import SYSTEMS, PeerPoint, bench_peers
    from loadtest.settings import parse_cameras

    def show(point: PeerPoint) -> None:
        if not as_json:
            console.print(
                f"{point.design} {point.system} x{point.cameras}: {point.aggregate_fps:.1f} fps, "
                f"slowest camera {point.min_camera_fps:.1f}, p50 {point.latency_p50_ms} ms"
            )

    report = bench_peers(
        model_config_from(model_config),
        designs=design or ("monolith", "specialists-condition"),
        cameras=parse_cameras(cameras),
        seconds=seconds,
        warmup_s=warmup,
        systems=system or SYSTEMS,
        latency_budget_s=latency_budget,
        on_point=show,
    )
    if as_json:
        print(json.dumps(report.to_json(), indent=2))
        return
    table = Table(title="peers: 640x360 cameras at 10 fps, same TorchScript model (this machine, one run)")
    columns = (
        "design",
        "system",
        "cameras",
        "fps",
        "slowest cam",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "CPU ms/frame",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in ("design", "system") else "right")
    for p in report.points:
        cpu = "-" if p.cpu_ms_per_frame is None else f"{p.cpu_ms_per_frame:.2f}"
        table.add_row(
            p.design, p.system, str(p.cameras), f"{p.aggregate_fps:.1f}", f"{p.min_camera_fps:.1f}",
            str(p.latency_p50_ms), str(p.latency_p95_ms), str(p.latency_p99_ms), cpu,
        )  # fmt: skip
    console.print(table)
    summary = Table(title="capacity (most cameras with every camera at >= 9.5 fps) and saturated fps")
    for column in ("design", "system", "capacity", "saturated fps", "camfleet x capacity", "camfleet x fps"):
        summary.add_column(column, justify="left" if column in ("design", "system") else "right")
    ratios = report.ratios()
    for s in report.summaries():
        ratio = ratios.get(s.design, {}).get(s.system, {})
        summary.add_row(
            s.design, s.system, str(s.capacity), f"{s.saturated_fps:.1f}",
            str(ratio.get("capacity", "-")), str(ratio.get("saturated_fps", "-")),
        )  # fmt: skip
    console.print(summary)
    for skipped, why in report.skipped.items():
        console.print(f"[yellow]{skipped} skipped:[/yellow] {why}")
