"""`camfleet answer`: the report that answers "which design is faster, by how much, at what accuracy cost"."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.common import ModelConfigOption, console, handle_errors, model_config_from
from pipeline.cli.plan import (
    CamerasOption,
    DetectionsOption,
    FpsOption,
    HardwareOption,
    LatencyBudgetOption,
    MixOption,
    ResolutionOption,
    _parse_mix,
    _parse_resolution,
)

logger = logging.getLogger(__name__)


@handle_errors
def answer_command(
    out: Annotated[Path, typer.Option("--out", file_okay=False, help="Folder for answer.md/.html.")] = Path(
        "reports/answer"
    ),
    cameras: CamerasOption = 8,
    fps: FpsOption = 10.0,
    mix: MixOption = None,
    resolution: ResolutionOption = "640x360",
    hardware: HardwareOption = "auto",
    model_config: ModelConfigOption = None,
    loadtest: Annotated[
        list[Path] | None,
        typer.Option("--loadtest", exists=True, dir_okay=False, help="Load-test report.json (repeatable)."),
    ] = None,
    accuracy: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="accuracy.json from `camfleet eval --all`."),
    ] = None,
    latency_budget: LatencyBudgetOption = 0.2,
    detections: DetectionsOption = 4.0,
) -> None:
    """Write one report (markdown + self-contained HTML with plots) answering which design to run.

    It names the recommended design and its binding limit, every design's capacity, accuracy with
    bootstrap intervals (with --accuracy), predicted against measured (with --loadtest), and how the
    answer changes with load and with the stream mix.

    Examples:
      camfleet answer --cameras 16 --mix day=0.5,dusk=0.3,night=0.2 --out reports/answer

      camfleet answer --hardware my-machine.json --loadtest out/report.json
      --accuracy reports/accuracy/accuracy.json
    """
    from pipeline.planner.answer import build_answer, write_answer
    from pipeline.planner.hardware import load_hardware
    from pipeline.planner.plan import PlanSettings

    settings = PlanSettings(
        fps=fps,
        resolution=_parse_resolution(resolution),
        mix=_parse_mix(mix),
        latency_budget_s=latency_budget,
    )
    answer = build_answer(
        model_config_from(model_config),
        load_hardware(hardware),
        cameras=cameras,
        settings=settings,
        config_name=model_config.stem if model_config else "default",
        reports=loadtest or [],
        accuracy=accuracy,
    )
    markdown, page = write_answer(answer, out)
    console.print(f"[bold]{answer.best.design}[/]: {answer.best.recommendation}")
    console.print(f"wrote {markdown} and {page}")
