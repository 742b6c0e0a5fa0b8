"""`camfleet plan`: predict which design serves the most cameras, before building any of them."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from pipeline.cli.common import JsonOption, ModelConfigOption, console, handle_errors, model_config_from
from pipeline.errors import ConfigError

logger = logging.getLogger(__name__)

app = typer.Typer(
    help=(
        "Predict throughput, max cameras and the binding limit per design from a model config's layers and "
        "a hardware profile (no weights, no running server, under 10 s).\n\n"
        "Examples:\n\n"
        "  camfleet plan --cameras 8 --fps 10\n\n"
        "  camfleet plan --cameras 16 --fps 5 --mix day=0.5,dusk=0.3,night=0.2 --resolution 1280x720\n\n"
        "  camfleet plan --model-config wide.yaml --explain\n\n"
        "  camfleet plan --branch-point 0 --designs shared-condition --designs monolith --json\n\n"
        "  camfleet plan calibrate --out my-machine.json && camfleet plan --hardware my-machine.json\n\n"
        "  camfleet plan validate --hardware my-machine.json out-default/report.json out-wide/report.json"
    ),
    invoke_without_command=True,
)


CamerasOption = Annotated[int, typer.Option(min=1, help="Cameras to plan for.")]
FpsOption = Annotated[float, typer.Option(min=0.1, help="Target frames per second per camera.")]
MixOption = Annotated[str | None, typer.Option(help="Share of streams per condition (default equal).")]
ResolutionOption = Annotated[str, typer.Option(help="Camera resolution WxH (decode cost).")]
HardwareOption = Annotated[str, typer.Option(help="'auto' (shipped CPU profile) or a calibrated JSON.")]
LatencyBudgetOption = Annotated[
    float, typer.Option(min=0.01, help="The pipeline's batching.latency_budget_s, seconds.")
]
DetectionsOption = Annotated[
    float,
    typer.Option(min=0, help="Detections kept (tracked) per frame: 4 for a trained detector, K at worst."),
]


def _short(model: str) -> str:
    if model == "merge_detections":
        return "merge"
    for prefix in ("specialist_", "head_"):
        model = model.removeprefix(prefix)
    return model.replace("animals_objects", "animals")


def _parse_mix(text: str | None) -> dict[str, float] | None:
    if not text:
        return None
    try:
        return {k.strip(): float(v) for k, v in (part.split("=", 1) for part in text.split(",") if part)}
    except ValueError as exc:
        raise ConfigError(f"--mix must look like day=0.5,dusk=0.3,night=0.2, got {text!r}") from exc


def _parse_resolution(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x", 1))
    except ValueError as exc:
        raise ConfigError(f"--resolution must look like 640x360, got {text!r}") from exc
    return width, height


@app.callback()
@handle_errors
def plan_command(
    ctx: typer.Context,
    cameras: CamerasOption = 8,
    fps: FpsOption = 10.0,
    mix: MixOption = None,
    resolution: ResolutionOption = "640x360",
    hardware: HardwareOption = "auto",
    designs: Annotated[list[str] | None, typer.Option("--designs", help="Only these (repeatable).")] = None,
    model_config: ModelConfigOption = None,
    branch_point: Annotated[int | None, typer.Option(min=0, help="What if: shared trunk stages.")] = None,
    input_size: Annotated[int | None, typer.Option(help="What if: model input size.")] = None,
    specialists: Annotated[
        int | None, typer.Option(min=1, help="What if: N specialists/heads (condition ones split 1/N).")
    ] = None,
    latency_target: Annotated[
        float | None, typer.Option("--latency-target", help="Max batching + inference latency, ms.")
    ] = None,
    latency_budget: LatencyBudgetOption = 0.2,
    detections: DetectionsOption = 4.0,
    explain: Annotated[
        bool, typer.Option("--explain", help="Also print each design's CPU per frame, stage by stage.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Rank the designs for CAMERAS cameras at FPS frames/s."""
    if ctx.invoked_subcommand is not None:
        return
    from pipeline.planner.hardware import load_hardware

    config = model_config_from(model_config, input_size)
    if branch_point is not None:
        try:
            shared = config.shared.model_copy(update={"branch_point": branch_point})
            config = config.model_validate({**config.model_dump(), "shared": shared.model_dump()})
        except ValueError as exc:
            raise ConfigError(f"--branch-point {branch_point}: {exc}") from exc
        if branch_point > config.shared.backbone.num_stages:
            raise ConfigError(f"--branch-point must be 0..{config.shared.backbone.num_stages}")
    profile = load_hardware(hardware)
    from pipeline.planner.plan import PlanSettings, plan

    settings = PlanSettings(
        fps=fps,
        resolution=_parse_resolution(resolution),
        mix=_parse_mix(mix),
        specialists=specialists,
        latency_target_ms=latency_target,
        latency_budget_s=latency_budget,
        detections_per_frame=detections,
    )
    plans = plan(config, profile, cameras=cameras, settings=settings, designs=designs)
    if as_json:
        print(
            json.dumps(
                {
                    "hardware": profile.device,
                    "input_size": config.input_size,
                    "cameras": cameras,
                    "fps": fps,
                    "best": plans[0].design,
                    "designs": [p.to_dict() for p in plans],
                },
                indent=2,
            )
        )
        return
    table = Table(
        caption="fps: most frames/s; MB: Triton memory (every instance, a full batch); "
        "ms/frame: inference core-ms per frame at the requested cameras",
        title=f"plan: {cameras} cameras x {fps:g} fps at {resolution}, input {config.input_size}px "
        f"({profile.device})",
    )
    for column, wraps in (
        ("design", False),
        ("max cams", False),
        ("fps", False),
        ("limit", False),
        ("batch per model", True),
        ("MB", False),
        ("ms/frame", False),
    ):
        table.add_column(
            column,
            justify="left" if wraps or column in ("design", "limit") else "right",
            no_wrap=not wraps,
            overflow="fold",
            min_width=16 if wraps else None,
        )
    for p in plans:
        batches = " ".join(f"{_short(m)}={b:.3g}" for m, b in p.batches.items())
        table.add_row(
            p.design,
            str(p.max_cameras),
            f"{p.capacity_fps:.0f}",
            p.bottleneck,
            batches,
            f"{p.weight_mb:.1f}",
            f"{p.frame_cost_ms:.2f}",
        )
    console.print(table)
    for p in plans:
        console.print(f"  {p.recommendation}")
    console.print(f"[bold]best:[/] {plans[0].design}")
    if explain:
        _print_explanation(plans)


def _print_explanation(plans: list[Any]) -> None:
    """Core-ms per frame of every stage, at the requested cameras and just past each design's knee."""
    from pipeline.planner.plan import STAGES, DesignPlan

    table = Table(
        title="where a frame's CPU goes (core-ms per inferred frame)",
        caption="at N: the requested cameras; knee: the most cameras that fit. slow: inference runs this "
        "much slower than alone, as the other stages take cores; decode is paid for every camera frame",
    )
    for column in ("design", "at", "fps", *STAGES, "total", "slow", "binds"):
        table.add_column(column, justify="left" if column in ("design", "at", "binds") else "right")
    for p in plans:
        assert isinstance(p, DesignPlan)
        points = [("N", p.at_request)]
        if p.at_max is not None:
            points.append(("knee", p.at_max))
        for label, point in points:
            costs = point.stage_ms.as_dict()
            table.add_row(
                p.design,
                f"{label} ({point.cameras})",
                f"{point.achieved_fps:.0f}",
                *(f"{costs[stage]:.2f}" for stage in STAGES),
                f"{point.stage_ms.total:.2f}",
                f"{point.slowdown:.2f}",
                point.binding,
            )
    console.print(table)
    for p in plans:
        steps = ", ".join(f"{_short(m)} {ms:.2f}" for m, ms in p.at_request.inference_ms.items())
        console.print(f"  {p.design}: inference by model step (core-ms/frame): {steps}")
        if p.at_max is not None:
            merged = ", ".join(f"{_short(m)} {b:.3g}" for m, b in p.at_max.executions.items())
            console.print(f"    frames per Triton execution at the knee (requests merged): {merged}")


@app.command("validate")
@handle_errors
def validate_command(
    reports: Annotated[
        list[Path], typer.Argument(exists=True, dir_okay=False, help="Load-test report.json files.")
    ],
    hardware: Annotated[
        str,
        typer.Option(help="'auto' (shipped CPU profile) or a calibrated JSON of the load tests' machine."),
    ] = "auto",
    model_config: ModelConfigOption = None,
    scale_speed: Annotated[
        bool,
        typer.Option(
            "--scale-speed",
            help="Predict each sweep from the profile scaled to the machine-speed reference it timed "
            "(an experiment: it made the errors larger on the load tests it was tried on).",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Predict each load test from its recorded model config and print the errors.

    Per design and report: knee and saturated fps, measured against predicted; per report: whether the
    designs rank the same. --model-config is used only for reports that did not record their config.
    With --scale-speed, a design whose sweep timed the machine-speed reference (as the profile did) is
    predicted at the sweep's speed (column "speed": CPU per unit of work against the calibration's).

    Examples:
      camfleet plan validate out-default/report.json out-wide/report.json --hardware my-machine.json
      camfleet plan validate out-*/report.json --hardware my-machine.json --scale-speed
    """
    from pipeline.planner.hardware import load_hardware
    from pipeline.planner.validate import validate_reports

    summary = validate_reports(
        reports, model_config_from(model_config), load_hardware(hardware), scale_speed=scale_speed
    )
    if as_json:
        print(json.dumps(summary.to_dict(), indent=2))
        return
    table = Table(
        title="planner against load tests",
        caption="knee step: the sweep's resolution at the knee; speed (--scale-speed): the sweep's CPU per "
        "unit of work over the calibration's, which the profile was scaled by",
    )
    for column in ("config", "design", "knee meas", "knee pred", "step"):
        table.add_column(column, justify="left" if column in ("config", "design") else "right")
    for column in ("fps meas", "fps pred", "fps err", "speed"):
        table.add_column(column, justify="right")
    for report in summary.reports:
        for d in report.designs:
            fps_error = f"{d.fps_error:+.1%}" + ("" if d.fps_ok else " !")
            knee = "-" if d.measured_knee is None else str(d.measured_knee)
            table.add_row(
                report.config,
                d.design,
                knee,
                str(d.predicted_knee) + ("" if d.knee_ok else " !"),
                str(d.knee_step),
                f"{d.measured_fps:.1f}",
                f"{d.predicted_fps:.1f}",
                fps_error,
                "-" if d.speed_factor is None else f"x{d.speed_factor:.2f}",
            )
    console.print(table)
    for report in summary.reports:
        verdict = "right" if report.ranking_matches else "WRONG"
        swapped = ", ".join(f"{a} > {b}" for a, b in report.misordered_pairs)
        separated = f"measured apart but predicted the other way: {swapped}" if swapped else "none swapped"
        console.print(
            f"{report.config}: ranking {verdict}; measured {' > '.join(report.measured_ranking)}; "
            f"predicted {' > '.join(report.predicted_ranking)}; of the pairs the load test separates, "
            f"{separated}"
        )
    console.print(
        f"saturated fps within 10%: {summary.fps_within:.0%} of {len(summary.checks)} points "
        f"(mean |error| {summary.mean_abs_fps_error:.1%}); knee within one step: {summary.knees_within:.0%}; "
        f"rankings right: {summary.rankings_right} of {len(summary.reports)} strict, "
        f"{summary.separated_rankings_right} of {len(summary.reports)} on the pairs the load tests separate "
        "(a tie: knees within one step and fps within 10%)"
    )


@app.command("calibrate")
@handle_errors
def calibrate_command(
    out: Annotated[Path, typer.Option(help="Where to write the hardware profile JSON.")] = Path(
        "hardware-profile.json"
    ),
    quick: Annotated[bool, typer.Option(help="Fewer probes and a shorter pipeline window.")] = False,
    threads: Annotated[
        int | None, typer.Option(min=1, help="Torch threads of the probes (default: a Triton instance's).")
    ] = None,
    skip_pipeline: Annotated[
        bool, typer.Option(help="Do not run the fleet on null models; keep default pipeline costs.")
    ] = False,
    device: Annotated[str | None, typer.Option(help="cpu or cuda (default: cuda when available).")] = None,
    repeats: Annotated[
        int,
        typer.Option(
            min=1, help="Rounds of the decode and pipeline probes; their figures are medians over the rounds."
        ),
    ] = 1,
    as_json: JsonOption = False,
) -> None:
    """Measure this machine with probes that run no model config (under 2 minutes) and write a profile.

    Sampled operators, the machine's cores, decode, tracking, and the real pipeline serving null models.

    Examples:
      camfleet plan calibrate --out my-machine.json

      camfleet plan calibrate --repeats 3 --out steady.json

      camfleet plan calibrate --quick --skip-pipeline --out rough.json
    """
    from pipeline.planner.calibrate import calibrate

    profile = calibrate(
        quick=quick,
        threads=threads,
        skip_pipeline=skip_pipeline,
        device_name=device,
        show_progress=not as_json,
        repeats=repeats,
    )
    profile.save(out)
    if as_json:
        print(json.dumps(profile.model_dump(), indent=2))
        return
    ops = profile.operators
    console.print(
        f"wrote {out} in {profile.calibration_s:.0f} s: {profile.device}, {profile.usable_cores:.2f} usable "
        f"cores; conv {1e12 * ops.conv.per_flop_s:.1f} ps/FLOP "
        f"(fit error {ops.conv.rms_relative_error:.0%}), "
        f"probe networks within {ops.holdout_rms_error or 0:.0%}; decode 640x360 "
        f"{1e3 * profile.decode_s(640, 360):.2f} ms; worker {1e3 * profile.worker_frame_cpu_s:.2f} ms/frame; "
        f"Triton {1e3 * profile.triton_request_cpu_s:.2f} ms/request"
        + (
            f", {1e3 * profile.triton_feature_cpu_s_per_mb:.2f} ms/MB of features handed between steps"
            if profile.triton_feature_cpu_s_per_mb is not None
            else ""
        )
    )
