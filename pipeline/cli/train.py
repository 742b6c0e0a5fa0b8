"""`camfleet train` and `camfleet eval`: train the designs' models and measure their mAP@0.5."""

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

_DESIGNS = (
    "monolith",
    "specialists-condition",
    "specialists-groups",
    "shared-condition",
    "shared-groups",
    "all",
)

DataOption = Annotated[
    str,
    typer.Option(
        "--data",
        help="'synthetic' (a world data set generated into the cache) or a YOLO data set folder.",
    ),
]
ImagesOption = Annotated[
    int, typer.Option("--images", min=10, help="Frames to generate for --data synthetic (train + val).")
]
CacheOption = Annotated[
    Path | None,
    typer.Option("--cache-dir", help="Cache folder (default $CAMFLEET_CACHE_DIR or ~/.cache/camfleet)."),
]
CameraSizeOption = Annotated[
    str,
    typer.Option(
        "--camera-size",
        help="Synthetic data: render frames at this camera size (WxH) and stretch them to the input, as the "
        "pipeline does; 'square' renders square frames.",
    ),
]


def _camera_size(value: str) -> tuple[int, int] | None:
    if value == "square":
        return None
    try:
        width, height = (int(part) for part in value.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--camera-size {value!r}: use WxH (e.g. 640x360) or 'square'") from None
    return width, height


def _data_root(data: str, cache_dir: Path | None, images: int, size: int, camera_size: str) -> Path:
    """The data set ``--data`` names, generated into the cache first when it is ``synthetic``."""
    from pipeline.train.data import default_cache_dir, resolve_data

    return resolve_data(
        data,
        cache_dir=cache_dir or default_cache_dir(),
        images=images,
        size=size,
        source=_camera_size(camera_size),
    )


InputSizeOption = Annotated[
    int | None, typer.Option("--input-size", help="Override the config's input size.")
]


@handle_errors
def train_command(
    design: Annotated[str, typer.Option("--design", help=f"Design to train: {', '.join(_DESIGNS)}.")] = "all",
    data: DataOption = "synthetic",
    steps: Annotated[int, typer.Option("--steps", min=1, help="Optimizer steps per training plan.")] = 600,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Frames per step.")] = 16,
    lr: Annotated[float, typer.Option("--lr", min=0.0, help="Peak AdamW learning rate.")] = 6e-3,
    seed: Annotated[int, typer.Option("--seed", help="Seed of weights, batches and augmentation.")] = 0,
    threads: Annotated[int, typer.Option("--threads", min=1, help="torch CPU threads.")] = 2,
    crop: Annotated[
        int,
        typer.Option("--crop", min=0, help="Train on random square crops of this side (0: whole frames)."),
    ] = 128,
    min_radius: Annotated[
        int, typer.Option("--min-radius", min=0, help="Smallest heatmap Gaussian radius, in grid cells.")
    ] = 1,
    shared_start: Annotated[
        float,
        typer.Option(
            "--shared-start",
            min=0.0,
            max=0.95,
            help="Condition specialists: share of the steps trained as one model on every frame first.",
        ),
    ] = 0.75,
    camera_size: CameraSizeOption = "640x360",
    images: ImagesOption = 1000,
    input_size: InputSizeOption = None,
    model_config: ModelConfigOption = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for <model>.pt weights and checkpoints.")] = Path(
        "runs/train"
    ),
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the checkpoints in --out.")] = False,
    cache_dir: CacheOption = None,
) -> None:
    """Train a design's models (the two shared designs train one trunk with all six heads).

    Weights land in OUT/<model>.pt, ready for `camfleet models export --weights OUT`.

    Examples:
      camfleet train --design monolith --steps 300

      camfleet train --design all --data synthetic --out runs/train

      camfleet train --design specialists-groups --data ~/data/my_yolo --input-size 320 --resume
    """
    from pipeline.train.data import load_split
    from pipeline.train.plan import plans_for
    from pipeline.train.trainer import TrainSettings, train_design

    plans_for(design)  # an unknown design fails here, before any data is generated
    config = model_config_from(model_config, input_size)
    settings = TrainSettings(
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        threads=threads,
        crop=crop,
        min_radius=min_radius,
        shared_start=shared_start,
    )
    root = _data_root(data, cache_dir, images, config.input_size, camera_size)
    samples = load_split(root, "train", size=config.input_size)
    results = train_design(config, design, samples, out, settings, resume=resume)
    table = Table(title=f"training ({len(samples)} frames from {root}, input {config.input_size}px)")
    for column in ("plan", "steps", "seconds", "steps/s", "first loss", "final loss"):
        table.add_column(column, justify="left" if column == "plan" else "right")
    for r in results:
        table.add_row(
            r.plan,
            f"{r.start_step}->{r.steps}",
            f"{r.seconds:.1f}",
            f"{r.steps_per_s:.2f}",
            f"{r.losses[0]:.3f}" if r.losses else "-",
            f"{r.losses[-1]:.3f}" if r.losses else "-",
        )
    console.print(table)
    console.print(f"weights in {out}; next: camfleet eval --all --weights {out}")


@handle_errors
def eval_command(
    design: Annotated[
        str, typer.Option("--design", help=f"Design to evaluate: {', '.join(_DESIGNS)}.")
    ] = "all",
    all_designs: Annotated[
        bool, typer.Option("--all", help="Evaluate every design (same as --design all).")
    ] = False,
    weights: Annotated[Path, typer.Option("--weights", help="Folder of <model>.pt weights.")] = Path(
        "runs/train"
    ),
    data: DataOption = "synthetic",
    camera_size: CameraSizeOption = "640x360",
    images: ImagesOption = 1000,
    input_size: InputSizeOption = None,
    model_config: ModelConfigOption = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for accuracy.json and accuracy.md.")] = Path(
        "reports/accuracy"
    ),
    cache_dir: CacheOption = None,
    bootstrap: Annotated[
        int, typer.Option(min=0, help="Bootstrap resamples of the frames for 95% intervals (0: none).")
    ] = 200,
    as_json: JsonOption = False,
) -> None:
    """Measure mAP@0.5 (faster-coco-eval) overall, per condition and per class group on the val split.

    Condition designs route each frame to its condition's model; group designs merge the group outputs.
    Every figure gets a bootstrap 95% interval over the frames (resampled within each condition), and
    every pair of designs a paired interval of their difference: significant when it excludes zero.

    Examples:
      camfleet eval --all --weights runs/train

      camfleet eval --design shared-groups --weights runs/train --json

      camfleet eval --all --data ~/data/my_yolo --input-size 320 --out reports/mine
    """
    from pipeline.models.classes import CONDITIONS
    from pipeline.train.data import load_split
    from pipeline.train.evaluate import accuracy_of, bootstrap_orders, compare_designs, design_detections
    from pipeline.train.plan import designs_for
    from pipeline.train.report import accuracy_markdown, write_accuracy_report
    from pipeline.train.samples import resize_sample

    names = designs_for("all" if all_designs else design)  # fails fast on an unknown design
    config = model_config_from(model_config, input_size)
    root = _data_root(data, cache_dir, images, config.input_size, camera_size)
    samples = [resize_sample(s, config.input_size) for s in load_split(root, "val", size=config.input_size)]
    orders = bootstrap_orders(samples, bootstrap)
    detections = {name: design_detections(config, name, samples, weights) for name in names}
    results = [accuracy_of(name, samples, rows, orders=orders) for name, rows in detections.items()]
    differences = compare_designs(samples, detections, orders) if bootstrap else []
    meta = {
        "data": str(root),
        "weights": str(weights),
        "input_size": config.input_size,
        "frames": len(samples),
        "frames_per_condition": {c: sum(s.condition == c for s in samples) for c in CONDITIONS},
        "bootstrap_resamples": bootstrap,
    }
    json_path, md_path = write_accuracy_report(results, out, meta=meta, differences=differences)
    if as_json:
        print(json.dumps(json.loads(json_path.read_text()), indent=2))
        return
    console.print(accuracy_markdown(results, differences=differences))
    console.print(f"wrote {json_path} and {md_path}")
