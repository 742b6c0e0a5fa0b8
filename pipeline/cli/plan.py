"""`camfleet plan`: predict which design serves the most cameras, before building any of them."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipeline.cli.common import JsonOption, ModelConfigOption, console, handle_errors, model_config_from
from pipeline.errors import ConfigError

logger = logging.getLogger(__name__)

app = typer.Typer(
    help=(
        "Predict throughput and max cameras per design from layer costs and a hardware profile "
        "(no trained weights, no running server).\n\n"
        "Examples:\n\n"
        "  camfleet plan --cameras 8 --fps 10\n\n"
        "  camfleet plan --cameras 16 --fps 5 --mix day=0.5,dusk=0.3,night=0.2 --resolution 1280x720\n\n"
        "  camfleet plan --branch-point 0 --designs shared-condition --designs monolith --json\n\n"
        "  camfleet plan --validate loadtest-out/report.json\n\n"
        "  camfleet plan calibrate --out my-machine.json && camfleet plan --hardware my-machine.json"
    ),
    invoke_without_command=True,
)


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
    cameras: Annotated[int, typer.Option(min=1, help="Cameras to plan for.")] = 8,
    fps: Annotated[float, typer.Option(min=0.1, help="Target frames per second per camera.")] = 10.0,
    mix: Annotated[str | None, typer.Option(help="Share of streams per condition (default equal).")] = None,
    resolution: Annotated[str, typer.Option(help="Camera resolution WxH (decode cost).")] = "640x360",
    hardware: Annotated[
        str, typer.Option(help="'auto' (shipped CPU profile) or a calibrated JSON.")
    ] = "auto",
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
    as_json: JsonOption = False,
    validate: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Compare with a load-test report.json.")
    ] = None,
) -> None:
    """Rank the designs for CAMERAS cameras at FPS frames/s (or check a load-test report)."""
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
    if validate is not None:
        _print_validation(validate, config, profile, as_json)
        return
    from pipeline.planner.plan import PlanSettings, plan

    settings = PlanSettings(
        fps=fps,
        resolution=_parse_resolution(resolution),
        mix=_parse_mix(mix),
        specialists=specialists,
        latency_target_ms=latency_target,
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
        caption="fps: predicted capacity; MB: weights loaded; ms/frame: inference time per frame",
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


def _print_validation(path: Path, config: object, profile: object, as_json: bool) -> None:
    from pipeline.models.model_config import ModelConfig
    from pipeline.planner.hardware import HardwareProfile
    from pipeline.planner.validate import load_report, validate_report

    assert isinstance(config, ModelConfig) and isinstance(profile, HardwareProfile)
    result = validate_report(load_report(path), config, profile)
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
        return
    table = Table(title=f"predicted vs measured: {path}")
    for column in ("design", "knee meas", "knee pred", "knee err", "fps meas", "fps pred", "fps err"):
        table.add_column(column, justify="left" if column == "design" else "right")
    for d in result.designs:
        knee_error = "-" if d.knee_error is None else f"{d.knee_error:+.0%}"
        table.add_row(
            d.design,
            str(d.measured_knee),
            str(d.predicted_knee),
            knee_error,
            f"{d.measured_fps:.0f}",
            f"{d.predicted_fps:.0f}",
            f"{d.fps_error:+.0%}",
        )
    console.print(table)
    verdict = "matches" if result.ranking_matches else "differs"
    console.print(
        f"ranking {verdict}: measured {result.measured_ranking}, predicted {result.predicted_ranking}"
    )


@app.command("calibrate")
@handle_errors
def calibrate_command(
    out: Annotated[Path, typer.Option(help="Where to write the hardware profile JSON.")] = Path(
        "hardware-profile.json"
    ),
    quick: Annotated[bool, typer.Option(help="Fewer sizes and repetitions (under 30 s).")] = False,
    threads: Annotated[
        int | None, typer.Option(min=1, help="Torch threads (default: a Triton instance's).")
    ] = None,
    skip_triton: Annotated[
        bool, typer.Option(help="Do not start Triton; keep default request costs.")
    ] = False,
    skip_ray: Annotated[bool, typer.Option(help="Do not start Ray; keep default call costs.")] = False,
    device: Annotated[str | None, typer.Option(help="cpu or cuda (default: cuda when available).")] = None,
    model_config: ModelConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Measure this machine (compute, memory, decode, Triton, Ray) and write a hardware profile."""
    from pipeline.planner.calibrate import calibrate

    profile = calibrate(
        model_config_from(model_config),
        quick=quick,
        threads=threads,
        skip_triton=skip_triton,
        skip_ray=skip_ray,
        device_name=device,
        show_progress=not as_json,
    )
    profile.save(out)
    if as_json:
        print(json.dumps(profile.model_dump(), indent=2))
        return
    console.print(
        f"wrote {out}: {profile.device}, P={profile.peak_flops / 1e9:.1f} GFLOP/s, "
        f"B={profile.bandwidth / 1e9:.1f} GB/s, eta_c={profile.eta_c:.2f}, eta_m={profile.eta_m:.2f}, "
        f"kappa={profile.kappa_s * 1e6:.1f} us, l0={profile.l0_s * 1e3:.2f} ms"
    )
