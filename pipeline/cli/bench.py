"""`camfleet bench` verbs: benchmarks that print figures."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from loadtest.bench import pipeline_command
from pipeline.cli.common import JsonOption, ModelConfigOption, console, handle_errors, model_config_from

app = typer.Typer(
    help=(
        "Benchmarks that print figures (ratios measured side by side in one run).\n\n"
        "Examples:\n\n"
        "  camfleet bench models\n\n"
        "  camfleet bench models --design monolith --batch 32 --json\n\n"
        "  camfleet bench pipeline --cameras 8 --fps 10"
    ),
    no_args_is_help=True,
)


app.command("pipeline")(pipeline_command)


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
