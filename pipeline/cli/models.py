"""`camfleet models` verbs: list, profile and export the model families."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipeline.cli.common import JsonOption, ModelConfigOption, console, handle_errors, model_config_from
from pipeline.models import get_family, list_families

app = typer.Typer(
    help=(
        "Model families: profile and export into the Triton repository.\n\n"
        "Examples:\n\n"
        "  camfleet models profile --batch 8\n\n"
        "  camfleet models profile --model monolith --layers --json\n\n"
        "  camfleet models export --input-size 320 --model-config my_models.yaml"
    ),
    no_args_is_help=True,
)

DEFAULT_REPOSITORY = Path("triton_models")


@app.command("list")
@handle_errors
def list_command() -> None:
    """List the registered model families."""
    for name in list_families():
        family = get_family(name)
        console.print(f"{name:28} {family.input.value:9} {family.description}")


@app.command("profile")
@handle_errors
def profile_command(
    model_config: ModelConfigOption = None,
    input_size: Annotated[int | None, typer.Option(help="Override the config's input size.")] = None,
    batch: Annotated[int, typer.Option(min=1, help="Batch size to profile at.")] = 1,
    model: Annotated[list[str] | None, typer.Option(help="Only these families (repeatable).")] = None,
    layers: Annotated[bool, typer.Option(help="Also print every layer.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Parameters, FLOPs, weight and activation bytes per model (and per layer with --layers)."""
    from pipeline.models.profile import profile_family

    config = model_config_from(model_config, input_size)
    profiles = [profile_family(name, config, batch=batch) for name in (model or list_families())]
    if as_json:
        print(json.dumps([p.to_dict(include_layers=layers) for p in profiles], indent=2))
        return
    table = Table(title=f"model profiles (input {config.input_size}px, batch {batch})")
    table.add_column("model", no_wrap=True)
    for column in ("params", "GFLOPs", "weights MB", "activations MB", "kernels"):
        table.add_column(column, justify="right")
    for p in profiles:
        table.add_row(
            p.name,
            f"{p.params:,}",
            f"{p.flops / 1e9:.3f}",
            f"{p.weight_bytes / 1e6:.2f}",
            f"{p.activation_bytes / 1e6:.2f}",
            str(p.kernels),
        )
    console.print(table)
    if layers:
        for p in profiles:
            layer_table = Table(title=f"{p.name} layers")
            layer_table.add_column("layer", no_wrap=True)
            layer_table.add_column("type")
            for column in ("MFLOPs", "weights KB", "activations KB", "kernels"):
                layer_table.add_column(column, justify="right")
            for layer in p.layers:
                layer_table.add_row(
                    layer.name,
                    layer.kind,
                    f"{layer.flops / 1e6:.2f}",
                    f"{layer.weight_bytes / 1e3:.1f}",
                    f"{layer.activation_bytes / 1e3:.1f}",
                    str(layer.kernels),
                )
            console.print(layer_table)


@app.command("export")
@handle_errors
def export_command(
    model_config: ModelConfigOption = None,
    input_size: Annotated[int | None, typer.Option(help="Override the config's input size.")] = None,
    weights: Annotated[
        Path | None,
        typer.Option(help="Folder of trained state dicts (<model>.pt); random weights when omitted."),
    ] = None,
    repository: Annotated[Path, typer.Option(help="Triton model repository to write.")] = DEFAULT_REPOSITORY,
    model: Annotated[list[str] | None, typer.Option(help="Only these families (repeatable).")] = None,
) -> None:
    """Write TorchScript weights, config.pbtxt and configs/gpu.pbtxt into the Triton repository."""
    from pipeline.models.export import export_repository

    config = model_config_from(model_config, input_size)
    written = export_repository(config, repository, weights=weights, models=model)
    console.print(f"exported {len(written)} models into {repository} (input {config.input_size}px)")
